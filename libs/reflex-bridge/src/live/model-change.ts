/**
 * What happened to a row: the three actions of the original's `ModelChange`, plus `refetch`: some rows of the
 * model changed and which ones is not known (a TypeORM `QueryBuilder` update or delete), so a list re-reads the
 * rows it shows. A `refetch` carries {@link REFETCH_PK} as its primary key.
 */
export type ModelChangeAction = 'created' | 'updated' | 'deleted' | 'refetch';

/** The primary key of a `refetch` change: it stands for no row in particular. */
export const REFETCH_PK = '*';

/**
 * Who published a change and its place in that publisher's sequence. Transports stamp every change they send
 * so a receiver can drop duplicates (a retried publish) and keep each publisher's changes in order.
 */
export interface ChangeOrigin {
  /** Random id of one publisher (one transport or broadcaster instance, i.e. one worker); at most 128 characters. */
  readonly publisher: string;
  /** 1, 2, 3, ... per publisher. */
  readonly seq: number;
}

/** The JSON shape of a {@link ModelChange}: what crosses Redis or Postgres. */
export interface ModelChangeJSON {
  modelLabel: string;
  action: ModelChangeAction;
  pk: string | number;
  data?: Record<string, unknown>;
  origin?: ChangeOrigin;
}

const ACTIONS: ReadonlySet<string> = new Set(['created', 'updated', 'deleted', 'refetch']);
/** Longest model label a change carries (and so the longest a live list or a registered model may use). */
export const MAX_LABEL_LENGTH = 255;
/**
 * Longest publisher id: ours are UUIDs (36 characters). Receivers remember up to 10,000 publishers, so ids as long
 * as a NOTIFY allows (~8 KB) sent by another writer on the channel would keep some 80 MB in every worker.
 */
const MAX_PUBLISHER_LENGTH = 128;
/**
 * Deepest nesting of `data` (objects and arrays) a change from the wire may have. JSON.parse takes any depth, but
 * every later JSON.stringify of it (the worker keeps, copies and sends the change) recurses and overflows the stack
 * past a few thousand levels: a 40 kB message from another writer on the channel threw in every worker. Rows are a
 * few levels deep.
 */
const MAX_DATA_DEPTH = 64;

function fail(problem: string): never {
  throw new TypeError(`ModelChange: ${problem}`);
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  // JSON would print NaN and Infinity as null: `Number(req.params.id)` of a bad id must read as what it is.
  if (typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value)?.slice(0, 80) ?? String(value);
  } catch {
    return typeof value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Whether the objects and arrays in `value` nest at most `max` levels (`value` itself is level 1). Iterative, so that
 * the check cannot overflow the stack it protects; only for parsed JSON (a tree: no cycles).
 */
function nestsAtMost(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [item, level] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (level > max) return false;
    for (const child of Object.values(item)) stack.push([child, level + 1]);
  }
  return true;
}

function checkLabel(value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_LABEL_LENGTH) {
    fail(`"modelLabel" must be a non-empty string of at most ${MAX_LABEL_LENGTH} characters, got ${show(value)}`);
  }
}

function checkAction(value: unknown): asserts value is ModelChangeAction {
  if (typeof value !== 'string' || !ACTIONS.has(value)) {
    fail(`"action" must be "created", "updated", "deleted" or "refetch", got ${show(value)}`);
  }
}

function checkPk(value: unknown): asserts value is string | number {
  // Non-finite numbers do not survive JSON (they become null), so they are refused here rather than on the wire.
  if (!(typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)))) {
    fail(`"pk" must be a string or a finite number, got ${show(value)}`);
  }
}

function checkOrigin(value: unknown): asserts value is ChangeOrigin | undefined {
  if (value === undefined) return;
  const origin = value as Partial<ChangeOrigin> | null;
  if (
    origin === null ||
    typeof origin !== 'object' ||
    typeof origin.publisher !== 'string' ||
    origin.publisher === '' ||
    origin.publisher.length > MAX_PUBLISHER_LENGTH ||
    typeof origin.seq !== 'number' ||
    !Number.isSafeInteger(origin.seq) ||
    origin.seq < 1
  ) {
    fail(`"origin" must be { publisher: non-empty string of at most ${MAX_PUBLISHER_LENGTH} characters, seq: positive integer }, got ${show(value)}`);
  }
}

/**
 * One change to a live model row, fanned out to every subscriber of its label on every worker.
 *
 * Immutable by convention (all fields are readonly); `data` is optional and small: subscribers usually
 * re-read the row through their own scoped query, so the primary key is what matters.
 *
 * @example
 * await broadcaster.publish(new ModelChange('shop.product', 'updated', 42));
 * @publicApi
 */
export class ModelChange {
  /**
   * @param modelLabel `"<app>.<model>"`, e.g. `"shop.product"`: what subscribers subscribe to.
   * @param action `created`, `updated`, `deleted`, or `refetch` (rows of the model changed, which ones is unknown).
   * @param pk the row's primary key (a composite key is encoded by the caller, e.g. as a JSON string).
   * @param data optional extra fields (a plain JSON object).
   * @param origin set by transports; leave it out when creating a change.
   */
  constructor(
    readonly modelLabel: string,
    readonly action: ModelChangeAction,
    readonly pk: string | number,
    readonly data?: Record<string, unknown>,
    readonly origin?: ChangeOrigin,
  ) {
    // TypeScript checks these at compile time; plain-JS callers and bad wire data are caught here, before a
    // malformed change reaches any subscriber.
    checkLabel(modelLabel);
    checkAction(action);
    checkPk(pk);
    if (data !== undefined && !isPlainObject(data)) fail(`"data" must be a plain object, got ${show(data)}`);
    checkOrigin(origin);
  }

  /** True for `created`. */
  get isCreate(): boolean {
    return this.action === 'created';
  }

  /** True for `updated`. */
  get isUpdate(): boolean {
    return this.action === 'updated';
  }

  /** True for `deleted`. */
  get isDelete(): boolean {
    return this.action === 'deleted';
  }

  /** True for `refetch`: rows of the model changed and which ones is not known; re-read the rows shown. */
  get isRefetch(): boolean {
    return this.action === 'refetch';
  }

  /**
   * A `refetch` change of `modelLabel`: rows of it changed, which ones is not known.
   * @example
   * await broadcaster.publish(ModelChange.refetch('shop.product')); // after a bulk UPDATE
   */
  static refetch(modelLabel: string): ModelChange {
    return new ModelChange(modelLabel, 'refetch', REFETCH_PK);
  }

  /** A copy carrying `origin` (used by transports and the broadcaster; the original is left as it was). */
  withOrigin(origin: ChangeOrigin): ModelChange {
    return new ModelChange(this.modelLabel, this.action, this.pk, this.data, origin);
  }

  /** The wire shape; `data` and `origin` only when present. */
  toJSON(): ModelChangeJSON {
    const json: ModelChangeJSON = { modelLabel: this.modelLabel, action: this.action, pk: this.pk };
    if (this.data !== undefined) json.data = this.data;
    if (this.origin !== undefined) json.origin = { publisher: this.origin.publisher, seq: this.origin.seq };
    return json;
  }

  /**
   * Rebuilds a change from its JSON shape (an already parsed object). Unknown extra fields are ignored so a
   * newer publisher can add fields without breaking older workers. `data` may nest at most 64 levels.
   * @throws TypeError naming the offending field when the value is not a valid change.
   */
  static fromJSON(value: unknown): ModelChange {
    if (!isPlainObject(value)) fail(`expected an object, got ${show(value)}`);
    const { modelLabel, action, pk, data, origin } = value;
    checkLabel(modelLabel);
    checkAction(action);
    checkPk(pk);
    if (data !== undefined && !isPlainObject(data)) fail(`"data" must be a plain object, got ${show(data)}`);
    if (data !== undefined && !nestsAtMost(data, MAX_DATA_DEPTH)) fail(`"data" is nested deeper than ${MAX_DATA_DEPTH} levels`);
    checkOrigin(origin);
    return new ModelChange(
      modelLabel,
      action,
      pk,
      data,
      origin === undefined ? undefined : { publisher: origin.publisher, seq: origin.seq },
    );
  }
}
