import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, ModuleRef } from '@nestjs/core';
import { HealthIndicatorService, type HealthCheckAttempt } from '@nestjs/terminus';
import { InFlightProbe } from './in-flight-probe.js';

/** What the check needs of a TypeORM `DataSource`. */
interface PingableDataSource {
  readonly isInitialized: boolean;
  query(sql: string): Promise<unknown>;
}

/**
 * A `@nestjs/terminus` health indicator for the app's TypeORM `DataSource`, found in the app's container (the
 * `DataSource` class as token, which `@nestjs/typeorm` also uses for the default data source). Up when it is
 * initialised and answers `SELECT 1` within the timeout. One query at a time: while the last one is unanswered (a
 * frozen or overloaded database), later checks wait on it rather than take another pooled connection. Without TypeORM installed, or without a `DataSource`
 * provider, {@link hasDatabase} is false and the module's `/_health` reports no `db`, as Reflex does without a
 * database. TypeORM is imported only when the container has a provider under a class named `DataSource`: an app
 * that has TypeORM installed without using it (a monorepo's other app, say) does not load it for this check.
 * (Terminus's own `TypeOrmHealthIndicator` needs `@nestjs/typeorm`; this one does not.)
 * @publicApi
 */
@Injectable()
export class DatabaseHealthIndicator implements OnModuleInit {
  private dataSource?: PingableDataSource;
  private readonly probe = new InFlightProbe(() => this.dataSource!.query('SELECT 1'));

  constructor(
    private readonly health: HealthIndicatorService,
    private readonly moduleRef: ModuleRef,
    private readonly discovery: DiscoveryService,
  ) {}

  async onModuleInit(): Promise<void> {
    // TypeORM is large (about 5 MB of heap and 100 ms to load on its own): an app whose providers include no
    // `DataSource` has none to check, whatever is installed. `@nestjs/typeorm` and hand-written providers alike
    // register the default data source under the class itself.
    if (!this.discovery.getProviders().some(({ token }) => typeof token === 'function' && token.name === 'DataSource')) return;
    let token: unknown;
    try {
      // Optional peer dependency: loaded only to find the app's data source.
      token = (await import('typeorm')).DataSource;
    } catch {
      return;
    }
    try {
      this.dataSource = this.moduleRef.get(token as never, { strict: false }) as PingableDataSource;
    } catch {
      this.dataSource = undefined;
    }
  }

  /** Whether the app has a TypeORM `DataSource` to check. */
  hasDatabase(): boolean {
    return this.dataSource !== undefined;
  }

  /** Checks the data source under `key`; down when it is not initialised, fails, or takes over `timeoutMs`. */
  isHealthy<const Key extends string>(key: Key, timeoutMs = 2000): HealthCheckAttempt<Key> {
    const dataSource = this.dataSource;
    return this.health
      .check(key)
      .attempt(async () => {
        if (!dataSource) throw new Error('no TypeORM DataSource in the application');
        if (!dataSource.isInitialized) throw new Error('the DataSource is not initialised');
        await this.probe.run();
      })
      .withTimeout(timeoutMs);
  }
}
