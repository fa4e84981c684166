import { Injectable, Logger, Optional } from '@nestjs/common';
import type {
  AfterQueryEvent,
  DataSource,
  EntityMetadata,
  EntitySubscriberInterface,
  InsertEvent,
  ObjectLiteral,
  QueryRunner,
  RecoverEvent,
  RemoveEvent,
  SoftRemoveEvent,
  TransactionCommitEvent,
  TransactionRollbackEvent,
  UpdateEvent,
} from 'typeorm';
import { LiveBroadcaster } from './live-broadcaster.service.js';
import { LiveModelRegistry, liveModelRegistry } from './live-model.registry.js';
import { ModelChange } from './model-change.js';
import { knownOptions } from '../common/connection-options.js';
import type { ModelChangeAction } from './model-change.js';

/** Options of {@link TypeormLiveSubscriber}. */
export interface TypeormLiveSubscriberOptions {
  /**
   * A transaction that changed more rows of one model than this publishes one `refetch` of that model instead of
   * a change per row: one message instead of thousands, and one re-read per list (`liveReload`, shared with a
   * `reloadKey`) instead of one per row. A list learns of the created rows only through its `liveReload`: without
   * one it re-reads the rows it shows (created rows are not among them), and without `liveRow` either it stays as it
   * is (deletions included). Set it only when every live list of your registered models has a `liveReload`, and
   * when your own `LiveBroadcaster.subscribe` / `observe` consumers handle `refetch`. Past `live.bufferSize` row
   * changes a list falls behind and is refetched anyway.
   * @default undefined (a change per row, however many)
   */
  refetchAbove?: number;
}

/** The keys of {@link TypeormLiveSubscriberOptions}: any other is refused. */
const TYPEORM_LIVE_SUBSCRIBER_OPTIONS: readonly (keyof TypeormLiveSubscriberOptions)[] = ['refetchAbove'];

interface Pending {
  /** Transaction depth when the change was recorded: a rolled-back savepoint drops what was recorded inside it. */
  depth: number;
  change: ModelChange;
}

/**
 * The table a statement empties whole: `repository.clear()` sends `TRUNCATE TABLE "t"` (Postgres, optionally
 * `CASCADE`) or `DELETE FROM "t"` (SQLite), with no subscriber event. Nothing else is read from SQL.
 */
const CLEAR_TABLE = /^\s*(?:TRUNCATE\s+TABLE|DELETE\s+FROM)\s+((?:"[^"]+"\.)?"[^"]+")(?:\s+CASCADE)?\s*;?\s*$/i;

/**
 * How long a commit (or a write outside a transaction) waits for its changes to reach this worker's subscribers
 * before it returns to the app and lets them go on in the background: long enough for a transport that answers
 * (a loopback round trip takes a millisecond), so a test or a handler that saves then reads its own live list sees
 * the change, and short next to the transport's own timeouts (`publishTimeoutMs`, `live.echoTimeoutMs`: 5 s each),
 * which every save waited out, one change after the other, while Redis or Postgres was frozen or slow.
 */
const PUBLISH_WAIT_MS = 250;

/** One primary column's value as published; undefined when it has no lossless text (then the change names no row). */
function keyPart(value: unknown): string | number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  // A binary key (Postgres bytea, MySQL binary, SQLite blob) arrives as a Buffer. String() would decode it as UTF-8,
  // turning every invalid sequence into U+FFFD, so distinct keys collided; hex is lossless and ASCII (NOTIFY-safe).
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  // A value object (a transformer's { code }) or an array has no text of its own: String() made every key
  // "[object Object]", one pk for all rows. Its JSON tells them apart; a class with its own toString (an ObjectId,
  // a Decimal) keeps that.
  if (Array.isArray(value) || (typeof value === 'object' && value !== null && value.toString === Object.prototype.toString)) {
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch {
      // A BigInt or a cycle inside: no lossless text, so the change names no row.
    }
    return undefined;
  }
  return String(value);
}

/**
 * The primary key of a row: the value of its single primary column (a bigint or other non-JSON value as a
 * string, a binary value as lowercase hex, a value object as its JSON), or a JSON array of the values in primary-column order for a composite
 * key. Looked up in each source in turn (the entity, the generated id map, the loaded database row); undefined when
 * a part is missing.
 */
function primaryKey(metadata: EntityMetadata, ...sources: Array<ObjectLiteral | undefined>): string | number | undefined {
  const columns = metadata.primaryColumns;
  if (columns.length === 0) return undefined;
  const parts: Array<string | number> = [];
  for (const column of columns) {
    let value: unknown;
    for (const source of sources) {
      if (!source) continue;
      value = column.getEntityValue(source);
      if (value !== undefined && value !== null) break;
    }
    if (value === undefined || value === null) return undefined;
    const part = keyPart(value);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  return parts.length === 1 ? parts[0] : JSON.stringify(parts);
}

// TypeORM keeps the nesting level protected; reading it is the only way to tell which savepoint a change was
// made in. Query runners without one (custom drivers) count as a single level.
function depthOf(runner: QueryRunner): number {
  return (runner as unknown as { transactionDepth?: number }).transactionDepth ?? 1;
}

/**
 * A TypeORM entity subscriber that publishes a {@link ModelChange} after every insert (`created`), update
 * (`updated`), remove and soft remove (`deleted`) and recover (`created`) of a live entity (see
 * `registerLiveModel`), with the primary key from the entity metadata's primary column(s) (a binary one as lowercase hex).
 *
 * Changes made inside a transaction (TypeORM's `save()` and `remove()` open one) are published after it commits,
 * and dropped if it, or the savepoint they were made in, rolls back: other workers re-reading the row then see
 * what the change announced. Publishing failures are logged, never thrown into the caller's `save()` (the data
 * is committed by then), and a `save()` waits for its changes at most 250 ms (not at all while an earlier publish
 * is still going on): past that they are published in the background, so a slow or frozen transport does not hold
 * the app's requests. Writes TypeORM makes without an entity (`QueryBuilder` update and delete,
 * `repository.update(criteria, ...)`, `delete(criteria)`, `increment()`, `softDelete()`, `clear()`) name the model but not the
 * rows: they publish one `refetch` change of the model per transaction (see `ModelChange.refetch`), on which live
 * lists re-read the rows they show. Raw SQL (`query()`) is not seen by TypeORM subscribers and publishes nothing.
 *
 * @example
 * // in a provider that has the DataSource and the broadcaster
 * new TypeormLiveSubscriber(broadcaster).attach(dataSource);
 * @publicApi
 */
@Injectable()
export class TypeormLiveSubscriber implements EntitySubscriberInterface {
  private readonly registry: LiveModelRegistry;
  private readonly pending = new WeakMap<QueryRunner, Pending[]>();
  private readonly logger = new Logger('ReflexBridge');
  /** Publishes that failed since the last one that succeeded. */
  private failedInARow = 0;
  /**
   * Publishes still going on after their commit stopped waiting for them: while any is, the transport is slow or
   * frozen, and later commits do not wait at all (one wait per outage, not one per save).
   */
  private overdue = 0;

  private readonly refetchAbove: number;
  /**
   * The models whose changes could not be published (the transport was down): committed rows that no list on any
   * worker heard of. Each gets one `refetch` once publishing works again (see {@link resend}).
   */
  private readonly unsent = new Set<string>();

  /**
   * @param broadcaster where changes are published.
   * @param registry which entities are live; the process-wide registry of `registerLiveModel` by default.
   * @param options see {@link TypeormLiveSubscriberOptions}.
   */
  constructor(
    private readonly broadcaster: LiveBroadcaster,
    @Optional() registry?: LiveModelRegistry,
    @Optional() options: TypeormLiveSubscriberOptions = {},
  ) {
    this.registry = registry ?? liveModelRegistry();
    knownOptions('TypeormLiveSubscriber', options ?? {}, TYPEORM_LIVE_SUBSCRIBER_OPTIONS);
    const above = options?.refetchAbove;
    if (above !== undefined && (!Number.isSafeInteger(above) || above < 0)) {
      throw new TypeError(`TypeormLiveSubscriber: refetchAbove must be a non-negative integer, got ${JSON.stringify(above)}`);
    }
    this.refetchAbove = above ?? Number.POSITIVE_INFINITY;
    // The transport back: the changes it refused meanwhile are re-read by every list, without waiting for a next save.
    // (Completes when the broadcaster closes.)
    broadcaster.transportStatus$?.subscribe((status) => {
      if (status === 'up') this.resend();
    });
  }

  /** Adds this subscriber to `dataSource` (once, however often it is called). */
  attach(dataSource: DataSource): this {
    if (!dataSource.subscribers.includes(this)) dataSource.subscribers.push(this);
    return this;
  }

  /** Removes this subscriber from `dataSource`. */
  detach(dataSource: DataSource): void {
    const index = dataSource.subscribers.indexOf(this);
    if (index >= 0) dataSource.subscribers.splice(index, 1);
  }

  /** Publishes `created`; the generated id comes from the insert result when the entity lacks it. */
  afterInsert(event: InsertEvent<ObjectLiteral>): Promise<void> {
    return this.record(event.queryRunner, event.metadata, 'created', event.entity, event.entityId);
  }

  /** Publishes `updated`; a model-wide `refetch` for a QueryBuilder update (no row loaded: which rows is unknown). */
  afterUpdate(event: UpdateEvent<ObjectLiteral>): Promise<void> {
    // save() loads the row it updates; a QueryBuilder update (repository.update, increment, ...) passes only the
    // values it set as the entity, so a primary key in them is a new key, not the row that was updated.
    if (event.databaseEntity === undefined) return this.record(event.queryRunner, event.metadata, 'updated');
    return this.record(event.queryRunner, event.metadata, 'updated', event.entity, event.databaseEntity);
  }

  /** Publishes `deleted`; TypeORM has cleared the entity's id by now, so the removed id comes first. */
  afterRemove(event: RemoveEvent<ObjectLiteral>): Promise<void> {
    return this.record(event.queryRunner, event.metadata, 'deleted', event.entityId, event.databaseEntity, event.entity);
  }

  /** Publishes `deleted`: a soft-removed row leaves every list that filters deleted rows out. */
  afterSoftRemove(event: SoftRemoveEvent<ObjectLiteral>): Promise<void> {
    return this.record(event.queryRunner, event.metadata, 'deleted', event.entityId, event.entity, event.databaseEntity);
  }

  /** Publishes `created`: a recovered row comes back into lists. */
  afterRecover(event: RecoverEvent<ObjectLiteral>): Promise<void> {
    return this.record(event.queryRunner, event.metadata, 'created', event.entityId, event.entity, event.databaseEntity);
  }

  /** Publishes a `refetch` after `repository.clear()` of a live entity (a statement no other event reports). */
  afterQuery(event: AfterQueryEvent): Promise<void> | void {
    if (!event.success) return;
    const table = CLEAR_TABLE.exec(event.query)?.[1];
    if (table === undefined) return;
    const name = table.split('"').filter((part) => part !== '' && part !== '.');
    const metadata = event.connection.entityMetadatas.find(
      (candidate) => candidate.tableName === name[name.length - 1] && (name.length === 1 || candidate.schema === name[0]),
    );
    if (metadata) return this.record(event.queryRunner, metadata, 'deleted');
  }

  /** Publishes what the committed transaction recorded, in order; a released savepoint waits for its parent. */
  async afterTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    const runner = event.queryRunner;
    const pending = this.pending.get(runner);
    if (!pending) return;
    if (runner.isTransactionActive) {
      // A released savepoint: what it recorded now belongs to its parent (the depth is already decremented), so a
      // later savepoint at the same level that rolls back must not drop it.
      const depth = depthOf(runner);
      for (const entry of pending) if (entry.depth > depth) entry.depth = depth;
      return;
    }
    this.pending.delete(runner);
    await this.sendAll(this.bulk(pending.map(({ change }) => change)));
  }

  /**
   * `changes` with the row changes of each model that has more than `refetchAbove` of them replaced by one `refetch`
   * of it, where the first of them was (its other changes, a refetch included, dropped): it re-reads what the lists
   * show after the whole transaction, which every one of its row changes would have led to.
   */
  private bulk(changes: readonly ModelChange[]): readonly ModelChange[] {
    if (changes.length <= this.refetchAbove) return changes;
    const rows = new Map<string, number>();
    for (const change of changes) if (!change.isRefetch) rows.set(change.modelLabel, (rows.get(change.modelLabel) ?? 0) + 1);
    const bulky = new Set([...rows].filter(([, count]) => count > this.refetchAbove).map(([label]) => label));
    if (bulky.size === 0) return changes;
    const refetched = new Set<string>();
    const sent: ModelChange[] = [];
    for (const change of changes) {
      if (!bulky.has(change.modelLabel)) sent.push(change);
      else if (!refetched.has(change.modelLabel)) {
        refetched.add(change.modelLabel);
        sent.push(ModelChange.refetch(change.modelLabel));
      }
    }
    return sent;
  }

  /** Drops what the rolled-back transaction (or savepoint) recorded. */
  afterTransactionRollback(event: TransactionRollbackEvent): void {
    const runner = event.queryRunner;
    const pending = this.pending.get(runner);
    if (!pending) return;
    if (!runner.isTransactionActive) {
      this.pending.delete(runner);
      return;
    }
    // The depth has already been decremented: what was recorded deeper belonged to the rolled-back savepoint.
    const depth = depthOf(runner);
    this.pending.set(runner, pending.filter((entry) => entry.depth <= depth));
  }

  private async record(
    runner: QueryRunner | undefined,
    metadata: EntityMetadata,
    action: ModelChangeAction,
    ...sources: Array<ObjectLiteral | undefined>
  ): Promise<void> {
    const label = this.registry.labelOf(metadata.target);
    if (label === undefined) return;
    const pk = primaryKey(metadata, ...sources);
    let change: ModelChange;
    if (pk !== undefined) {
      change = new ModelChange(label, action, pk);
    } else if (action === 'created') {
      this.logger.debug(`No primary key for the created change of live model "${label}"; nothing published`);
      return;
    } else {
      // A QueryBuilder update or delete (repository.update(criteria, ...), delete(id), increment(), ...): TypeORM
      // tells which model changed, not which rows, so lists re-read the rows they show.
      change = ModelChange.refetch(label);
    }
    if (runner?.isTransactionActive) {
      let pending = this.pending.get(runner);
      if (!pending) this.pending.set(runner, (pending = []));
      // One refetch per model and savepoint level is enough: it re-reads every row shown when it is applied.
      if (change.isRefetch && pending.some((entry) => entry.change.isRefetch && entry.change.modelLabel === label && entry.depth === depthOf(runner))) return;
      pending.push({ depth: depthOf(runner), change });
      return;
    }
    await this.sendAll([change]);
  }

  /**
   * Publishes `changes`, all started now and in order (the broadcaster numbers them in call order, so they arrive in
   * it), and waits for them at most {@link PUBLISH_WAIT_MS}, not at all while an earlier publish is overdue: TypeORM
   * awaits its subscribers inside `save()` and `commitTransaction()`, so the app's request (or a bridge event,
   * holding its client's state) would otherwise wait on a slow or frozen transport. Those not done by then go on
   * in the background, their failures logged as ever.
   */
  private async sendAll(changes: readonly ModelChange[]): Promise<void> {
    const sending = Promise.all(changes.map((change) => this.send(change)));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => {
      if (this.overdue > 0) resolve(false);
      else timer = setTimeout(() => resolve(false), PUBLISH_WAIT_MS);
    });
    const done = await Promise.race([sending.then(() => true), waited]);
    clearTimeout(timer);
    if (done) return;
    this.overdue += 1;
    void sending.finally(() => (this.overdue -= 1));
  }

  private async send(change: ModelChange): Promise<void> {
    try {
      await this.broadcaster.publish(change);
    } catch (error) {
      // While the transport is down every save fails to publish: one error per outage, not one per save.
      const line =
        `Could not publish the live change ${change.action} "${change.modelLabel}" #${change.pk}: ` +
        ((error as Error)?.message ?? String(error));
      if (this.failedInARow === 0) this.logger.error(`${line} (further failures are logged at debug level until a publish succeeds)`);
      else this.logger.debug(line);
      this.failedInARow += 1;
      this.unsent.add(change.modelLabel);
      return;
    }
    if (this.failedInARow > 0) {
      this.logger.log(`Publishing live changes works again, after ${this.failedInARow} failed`);
      this.failedInARow = 0;
    }
    this.resend();
  }

  /**
   * Publishes one `refetch` of each model whose changes could not be published: their rows are committed, and
   * without it every live list showing them stayed wrong until its page loaded again (a price changed during a
   * Redis restart was never shown). Runs when the transport reports it is back, and after any publish that works.
   */
  private resend(): void {
    if (this.unsent.size === 0) return;
    const labels = [...this.unsent];
    this.unsent.clear();
    // A refetch that fails too puts its model back for the next time.
    for (const label of labels) void this.send(ModelChange.refetch(label));
  }
}
