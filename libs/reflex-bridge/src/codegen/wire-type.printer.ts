import { getMetadataStorage } from 'class-validator';

/** How deep nested objects and DTOs are spelt out before the printer says `unknown`. */
const MAX_DEPTH = 6;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** A property name as a TypeScript object type writes it: bare when it is an identifier, quoted otherwise. */
export function propertyName(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

/**
 * The TypeScript type of a var's JSON value, as the client receives it: `0` → `number`, `['a']` → `string[]`,
 * `{a: 1}` → `{ a: number }`. An empty array or `null` says no more than `unknown[]` / `null`: give such a var
 * an initial value the codegen can read, or accept the loose type.
 */
export function typeOfValue(value: unknown, depth = 0): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'object':
      break;
    default:
      return 'unknown';
  }
  if (depth >= MAX_DEPTH) return 'unknown';
  if (Array.isArray(value)) {
    const members = [...new Set(value.map((item) => typeOfValue(item, depth + 1)))];
    if (members.length === 0) return 'unknown[]';
    return members.length === 1 && !members[0]!.includes('|') ? `${members[0]}[]` : `Array<${members.join(' | ')}>`;
  }
  if (value instanceof Date) return 'string';
  // JSON.stringify writes a Set or Map as `{}`: its entries are not own properties.
  if (value instanceof Set || value instanceof Map || value instanceof WeakSet || value instanceof WeakMap) return 'Record<string, never>';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return 'Record<string, unknown>';
  return `{ ${entries.map(([key, item]) => `${propertyName(key)}: ${typeOfValue(item, depth + 1)}`).join('; ')} }`;
}

/** class-validator constraints that tell a property's JSON type when its design type does not. */
const CONSTRAINT_TYPES: Record<string, string> = {
  isString: 'string',
  isEmail: 'string',
  isUUID: 'string',
  isUrl: 'string',
  isNotEmpty: 'unknown',
  isNumber: 'number',
  isInt: 'number',
  isPositive: 'number',
  isBoolean: 'boolean',
  isArray: 'unknown[]',
};

/**
 * The TypeScript type of a handler parameter from its design type (`design:paramtypes`): `number`, `string`,
 * `boolean`, `unknown[]`, or for a class-validator DTO its validated properties, each typed by its own design type
 * (optional under `@IsOptional()`).
 */
export function typeOfDesignType(type: unknown, depth = 0): string {
  if (type === Number) return 'number';
  if (type === String) return 'string';
  if (type === Boolean) return 'boolean';
  if (type === Array) return 'unknown[]';
  if (type === Date) return 'string';
  if (typeof type !== 'function' || type === Object || type === Function || type === Promise) return 'unknown';
  if (depth >= MAX_DEPTH) return 'unknown';
  return typeOfDto(type as new () => object, depth);
}

function typeOfDto(dto: new () => object, depth: number): string {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  const properties = new Map<string, { optional: boolean; constraint?: string }>();
  for (const entry of metadata) {
    const property = properties.get(entry.propertyName) ?? { optional: false };
    if (entry.type === 'conditionalValidation') property.optional = true;
    const constraint = entry.name ?? (entry.constraintCls as { name?: string } | undefined)?.name;
    if (constraint && CONSTRAINT_TYPES[constraint] && !property.constraint) property.constraint = CONSTRAINT_TYPES[constraint];
    properties.set(entry.propertyName, property);
  }
  if (properties.size === 0) return 'Record<string, unknown>';
  const fields = [...properties].map(([name, property]) => {
    const design: unknown = Reflect.getMetadata('design:type', dto.prototype, name);
    let type = typeOfDesignType(design, depth + 1);
    if (type === 'unknown' && property.constraint) type = property.constraint;
    return `${propertyName(name)}${property.optional ? '?' : ''}: ${type}`;
  });
  return `{ ${fields.join('; ')} }`;
}
