import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LiveBroadcaster, ModelChange, PostgresTransport, RedisTransport } from '@reflex-bridge/nest';
import pg from 'pg';
import { createClient } from 'redis';
import { eventually } from './support/eventually.js';
import { describeWithPostgres, PostgresTestServer } from './support/postgres-server.js';
import { describeWithRedis, RedisTestServer, type TestRedisClient } from './support/redis-server.js';

/**
 * The commands docs/live-updates.md ("Who else can write to the channel") gives to lock the live channel, run against
 * real servers: before them, anyone who can reach the server can make every list drop a row with one forged
 * `deleted`; after them, only the app's own user can.
 */

const LABEL = 'lock.row';
/** A change as a forger writes it on the channel: no publisher stamp is needed for it to be delivered. */
const FORGED = JSON.stringify({ modelLabel: LABEL, action: 'deleted', pk: 'forged' });

/** How many forged changes `received` holds. */
let forged = (): number => 0;

/** A broadcaster on `transport`, and every change of {@link LABEL} it hands its subscribers. */
async function listening(transport: RedisTransport | PostgresTransport): Promise<{ live: LiveBroadcaster; received: ModelChange[] }> {
  const live = new LiveBroadcaster(transport);
  const received: ModelChange[] = [];
  live.observe(LABEL).subscribe((change) => received.push(change));
  await live.start();
  forged = () => received.filter((change) => change.pk === 'forged').length;
  return { live, received };
}

/** Publishes a change through `live` and waits for it: anything a forger managed to send before it came first. */
async function marker(live: LiveBroadcaster, received: ModelChange[], pk: string): Promise<void> {
  await live.publish(new ModelChange(LABEL, 'updated', pk));
  await eventually(`the change ${pk}`, () => received.map((change) => change.pk), (pks) => pks.includes(pk));
}

describe('locking the live channel', () => {
  describeWithRedis('Redis: an ACL on the channel', () => {
    let server: RedisTestServer;
    let live: LiveBroadcaster;
    let received: ModelChange[];
    const channel = `lock:live:${process.pid}`;

    beforeAll(async () => {
      server = await RedisTestServer.launch();
      const admin = createClient({ url: server.url });
      await admin.connect();
      // The app's own user (docs: "the app's user"), and the user another app on the same Redis has.
      await admin.sendCommand(['ACL', 'SETUSER', 'reflex', 'on', '>reflex-secret', '~*', '&*', '+@all']);
      await admin.sendCommand(['ACL', 'SETUSER', 'reports', 'on', '>reports-secret', '~reports:*', '&*', '+@all']);
      await admin.close();
      ({ live, received } = await listening(new RedisTransport({ url: `redis://reflex:reflex-secret@127.0.0.1:${server.port}`, channel })));
    }, 60_000);

    afterAll(async () => {
      await live?.close();
      await server?.destroy();
    });

    it('refuses a forged change from every other user once their channels are reset, and the app still gets its own', async () => {
      const as = async (user: string, password: string | undefined, run: (client: TestRedisClient) => Promise<unknown>) => {
        const client = createClient({ url: server.url, username: password === undefined ? undefined : user, password });
        await client.connect();
        try {
          return await run(client);
        } finally {
          await client.close();
        }
      };
      // Unlocked: any client (the default user; another app's user, whatever database number it selected) deletes a row.
      await as('reports', 'reports-secret', (client) => client.select(3).then(() => client.publish(channel, FORGED)));
      await as('default', undefined, (client) => client.publish(channel, FORGED));
      await eventually('2 forged change(s)', forged, (count) => count === 2);
      // The commands of the docs: no channel for anyone but the app's user.
      await as('default', undefined, async (client) => {
        await client.sendCommand(['ACL', 'SETUSER', 'reports', 'resetchannels']);
        await client.sendCommand(['ACL', 'SETUSER', 'default', 'resetchannels']);
      });
      for (const [user, password] of [['reports', 'reports-secret'], ['default', undefined]] as const) {
        await expect(as(user, password, (client) => client.publish(channel, FORGED))).rejects.toThrow(/NOPERM/);
      }
      await marker(live, received, 'after-lock');
      expect(forged()).toBe(2);
    });
  });

  describeWithPostgres('Postgres: who may connect to the database', () => {
    let server: PostgresTestServer;
    let live: LiveBroadcaster;
    let received: ModelChange[];
    const channel = `lock_live_${process.pid}`;
    const database = 'lock_app';
    const url = (user: string, db: string) => `postgresql://${user}@127.0.0.1:${server.port}/${db}`;

    beforeAll(async () => {
      server = await PostgresTestServer.launch();
      const admin = new pg.Client({ connectionString: server.connectionString });
      await admin.connect();
      await admin.query('CREATE ROLE lock_app LOGIN');
      await admin.query('CREATE ROLE intruder LOGIN');
      await admin.query(`CREATE DATABASE ${database} OWNER lock_app`);
      await admin.end();
      ({ live, received } = await listening(new PostgresTransport({ connectionString: url('lock_app', database), channel })));
    }, 120_000);

    afterAll(async () => {
      await live?.close();
      await server?.destroy();
    });

    it('hears a NOTIFY only from its own database, and from no role once CONNECT is granted to the app alone', async () => {
      const notify = async (client: pg.Client) => client.query('SELECT pg_notify($1, $2)', [channel, FORGED]);
      // Another database of the same server: its NOTIFYs never reach this one's listeners.
      const elsewhere = new pg.Client({ connectionString: url('intruder', 'postgres') });
      await elsewhere.connect();
      await notify(elsewhere);
      await elsewhere.end();
      await marker(live, received, 'after-other-database');
      expect(forged()).toBe(0);
      // Unlocked: any role that can log in connects to the app's database (CONNECT is granted to PUBLIC) and deletes a row.
      const intruder = new pg.Client({ connectionString: url('intruder', database) });
      // Its session is ended below: the error that says so is expected.
      intruder.on('error', () => undefined);
      await intruder.connect();
      await notify(intruder);
      await eventually('1 forged change(s)', forged, (count) => count === 1);
      // The commands of the docs.
      const admin = new pg.Client({ connectionString: server.connectionString });
      await admin.connect();
      try {
        await admin.query(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
        await admin.query(`GRANT CONNECT ON DATABASE ${database} TO lock_app`);
        // A session opened before the REVOKE keeps its connection, and may still NOTIFY until it is ended.
        await notify(intruder);
        await eventually('2 forged change(s)', forged, (count) => count === 2);
        const ended = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename <> 'lock_app'`, [database]);
        expect(ended.rowCount).toBe(1);
      } finally {
        await admin.end();
      }
      await intruder.end().catch(() => undefined);
      const refused = new pg.Client({ connectionString: url('intruder', database) });
      await expect(refused.connect()).rejects.toThrow(/permission denied for database/);
      await marker(live, received, 'after-lock');
      expect(forged()).toBe(2);
    }, 60_000);
  });
});
