import type { AfterQueryEvent, BeforeQueryEvent, DataSource, EntitySubscriberInterface } from 'typeorm';
import { EventTrace } from '../metrics/event-trace.js';

/**
 * Counts and times the SQL queries each event's handler runs, for devtools: a TypeORM subscriber
 * (`beforeQuery` / `afterQuery`) that adds each query to the trace of the event whose handler issued it.
 * TypeORM stays optional: only its types are imported. Queries outside an event, or with devtools off, are
 * ignored at the cost of one lookup.
 * @example
 * ```ts
 * new DevtoolsQuerySubscriber().attach(dataSource);
 * ```
 * @publicApi
 */
export class DevtoolsQuerySubscriber implements EntitySubscriberInterface {
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

  beforeQuery(event: BeforeQueryEvent): void {
    EventTrace.current()?.queryStarted(event.query);
  }

  afterQuery(event: AfterQueryEvent): void {
    EventTrace.current()?.queryEnded(event.query, !event.success);
  }
}
