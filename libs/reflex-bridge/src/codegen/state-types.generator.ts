import { runInNewContext } from 'node:vm';
import type { HandlerDefinition, StateDefinition } from '../state/state-definition.js';
import { isBackendVar } from '../state/state-definition.js';
import type { DeclaredStateTypes } from './declared-type.reader.js';
import { propertyName, typeOfDesignType, typeOfValue } from './wire-type.printer.js';

/** Options of {@link generateStateTypes}. */
export interface StateTypesOptions {
  /** Where the generated module imports the ref types from. @default '@reflex-bridge/react' */
  importFrom?: string;
  /** Said in the header comment: what the module was generated from. */
  source?: string;
  /**
   * The vars' declared types, read from the app's declaration files ({@link readDeclaredTypes}): preferred over the
   * initial values' types, which say no more than `unknown[]` for `lines: CartLine[] = []`. Keyed by class name, so
   * not used for a class name two states share.
   */
  declared?: DeclaredStateTypes;
  /**
   * How long a computed var's getter may run on the initial vars before the generation fails naming it: the
   * getter is called to type its value, and one that never returns would hang the command (and the build).
   * @default 10000
   */
  getterTimeoutMs?: number;
}

/** Default of {@link StateTypesOptions.getterTimeoutMs}. */
const DEFAULT_GETTER_TIMEOUT_MS = 10_000;

/** The TypeScript type of a handler's payload: its `@Payload('key')` keys, merged with a whole-payload DTO. */
export function payloadType(handler: HandlerDefinition): string {
  // Without decorated parameters the payload is the method's first argument (see resolveHandlerArguments).
  const params = handler.params.length ? handler.params : handler.paramTypes.length ? [{ index: 0, kind: 'payload' as const }] : [];
  const keyed: string[] = [];
  const whole: string[] = [];
  for (const param of [...params].sort((a, b) => a.index - b.index)) {
    if (param.kind !== 'payload') continue;
    const type = typeOfDesignType(handler.paramTypes[param.index]);
    if (param.key === undefined) whole.push(type === 'unknown' ? 'Record<string, unknown>' : type);
    else keyed.push(`${propertyName(param.key)}: ${type}`);
  }
  const parts = [...(keyed.length ? [`{ ${keyed.join('; ')} }`] : []), ...whole];
  return parts.length ? parts.join(' & ') : 'EmptyPayload';
}

/**
 * The computed var's value on the state's singleton (its initial vars), or `undefined` when the getter throws.
 * Called under a vm timeout: a getter that loops for ever never yields to the event loop, so no timer of the
 * caller's (the command's `--timeout`) could fire; V8 stops it here instead, and the generation fails naming it.
 */
function initialComputed(state: StateDefinition, key: string, getter: (this: object) => unknown, timeoutMs: number): unknown {
  try {
    return runInNewContext('getter.call(instance)', { getter, instance: state.instance }, { timeout: timeoutMs });
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new Error(`${state.cls.name}.${key}: the getter did not return within ${timeoutMs} ms on the initial vars (does it loop for ever?).`, { cause: error });
    }
    return undefined;
  }
}

/**
 * Words a `const` cannot be named in an ES module (reserved, strict-mode and TypeScript's own), and the names the
 * generated module imports or declares itself: a class whose name is one of them (`{ default: class {} }.default`
 * is a class named `default`) gets a name made from its wire name.
 */
const UNUSABLE_NAMES = new Set([
  ...'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with'.split(' '),
  ...'implements interface let package private protected public static yield await arguments eval undefined NaN Infinity'.split(' '),
  'EmptyPayload',
  'HandlerRef',
  'StateRef',
  'States',
]);

/** True for a name the generated module can declare an exported `const` with. */
function isUsableName(name: string): boolean {
  return /^[A-Za-z_$][\w$]*$/.test(name) && !UNUSABLE_NAMES.has(name);
}

/** `a_state.item_state` → `AStateItemState`: a state's wire name made an identifier. */
function nameFromWire(state: StateDefinition): string {
  const name = state.fullName
    .split('.')
    .slice(1)
    .map((part) => part.replace(/(^|_)([a-z0-9])/g, (_m, _u, c: string) => c.toUpperCase()))
    .join('');
  // `_1st` makes `1st`, which no identifier starts with.
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * Each state's export name, all different: `CartState` (its class name) where that name is one state's alone and
 * usable, else a name made from the wire name, numbered when even that is taken (`PABc` can come from both
 * `p.a_bc` and `p_a.bc`, and a class may be named `PABc` too).
 */
function exportNames(states: StateDefinition[]): Map<StateDefinition, string> {
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state.cls.name, (counts.get(state.cls.name) ?? 0) + 1);
  const names = new Map<StateDefinition, string>();
  const taken = new Set<string>();
  // Class names first: a usable one is kept as written, whatever names the other states' wire names make.
  for (const state of states) {
    if (counts.get(state.cls.name) === 1 && isUsableName(state.cls.name)) {
      names.set(state, state.cls.name);
      taken.add(state.cls.name);
    }
  }
  for (const state of states) {
    if (names.has(state)) continue;
    const base = nameFromWire(state);
    let name = base;
    for (let n = 2; taken.has(name) || !isUsableName(name); n++) name = `${base}${n}`;
    names.set(state, name);
    taken.add(name);
  }
  return names;
}

/** Text safe inside the generated comments: a class name or path holding `*\/` or a line break would end them. */
function commentText(text: string): string {
  return text.replace(/\*\//g, '*\\/').replace(/[\r\n\u2028\u2029]+/g, ' ');
}

/**
 * The TypeScript module `reflex-bridge codegen` writes: per state, an interface of its public vars (types from the
 * initial values; computed vars read-only) and a const of its wire names typed with those vars and each handler's
 * payload (from the `@Payload` parameters' design types and DTO classes), for `@reflex-bridge/react`'s hooks.
 */
export function generateStateTypes(states: StateDefinition[], options: StateTypesOptions = {}): string {
  const importFrom = options.importFrom ?? '@reflex-bridge/react';
  const getterTimeoutMs = options.getterTimeoutMs ?? DEFAULT_GETTER_TIMEOUT_MS;
  const names = exportNames(states);
  // Declared types are found by class name: for a name two states share, the one declaration found may be either's.
  const classCounts = new Map<string, number>();
  for (const state of states) classCounts.set(state.cls.name, (classCounts.get(state.cls.name) ?? 0) + 1);
  const out: string[] = [
    '// Generated by `reflex-bridge codegen`' + (options.source ? ` from ${commentText(options.source)}` : '') + '. Do not edit:',
    '// run the command again after changing a @State() class.',
    `import type { EmptyPayload, HandlerRef, StateRef } from ${JSON.stringify(importFrom)};`,
    '',
  ];
  for (const state of states) {
    const name = names.get(state)!;
    const wire = JSON.stringify(state.fullName);
    const declared = classCounts.get(state.cls.name) === 1 ? options.declared?.get(state.cls.name) : undefined;
    // The declared type when the declarations tell more than `unknown`; else the type of the initial value.
    const typeOf = (key: string, value: () => unknown): string => {
      const type = declared?.get(key);
      return type !== undefined && type !== 'unknown' ? type : typeOfValue(value());
    };
    const vars: string[] = [];
    for (const [key, value] of state.vars) {
      if (!isBackendVar(key)) vars.push(`  ${propertyName(key)}: ${typeOf(key, () => value)};`);
    }
    for (const [key, getter] of state.computed) {
      if (!state.vars.has(key)) vars.push(`  readonly ${propertyName(key)}: ${typeOf(key, () => initialComputed(state, key, getter, getterTimeoutMs))};`);
    }
    const handlers = [...state.handlers.values()];
    const clash = handlers.find((handler) => handler.method === '$state');
    if (clash) throw new Error(`${state.cls.name}: a handler named "$state" clashes with the generated state name key.`);
    out.push(`/** The vars of ${commentText(state.cls.name)} (\`${state.fullName}\`), as the client receives them. */`);
    out.push(`export interface ${name}Vars {`, ...vars, '}', '');
    out.push(`/** ${commentText(state.cls.name)}: its wire name and handlers, for \`useReflexState(${name})\` and \`useReflexEvent(${name}.handler)\`. */`);
    out.push(`export const ${name}: StateRef<${name}Vars, ${wire}> & {`);
    for (const handler of handlers) out.push(`  readonly ${propertyName(handler.method)}: HandlerRef<${payloadType(handler)}>;`);
    out.push('} = {', `  $state: ${wire},`);
    for (const handler of handlers) out.push(`  ${propertyName(handler.method)}: { $state: ${wire}, $handler: ${JSON.stringify(handler.method)} },`);
    out.push('} as const;', '');
  }
  out.push('/** Every state above, by export name. */');
  out.push(`export const States = { ${states.map((state) => names.get(state)).join(', ')} } as const;`, '');
  return out.join('\n');
}
