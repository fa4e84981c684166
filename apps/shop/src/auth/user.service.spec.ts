import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { User } from './user.entity.js';
import { UserService } from './user.service.js';

/** Logging in against the shop's embedded default: the seeded users in a real SQLite database in memory. */
describe('UserService.verify', () => {
  let dataSource: DataSource;
  let users: UserService;
  beforeAll(async () => {
    dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:', entities: [User], synchronize: true }).initialize();
    users = new UserService(dataSource);
    await users.seed();
  });
  afterAll(async () => {
    await dataSource.destroy();
  });

  it('logs the demo user in with its password, and nobody in with a wrong one or an unknown name', async () => {
    expect(await users.verify('demo', 'demo123')).toEqual(expect.objectContaining({ username: 'demo', staff: false }));
    expect(await users.verify('demo', 'demo124')).toBeUndefined();
    expect(await users.verify('nobody', 'demo123')).toBeUndefined();
    expect(await users.verify('demo', 123)).toBeUndefined();
  });

  it('does not take the password with NUL characters appended (scrypt pads short keys with zeros)', async () => {
    // scrypt keys HMAC-SHA256 with the password, and HMAC pads a key shorter than its 64-byte block with zero bytes:
    // "demo123", "demo123\0" and "demo123\0\0" hash alike. A password holding U+0000 is nobody's password.
    expect(await users.verify('demo', 'demo123\u0000')).toBeUndefined();
    expect(await users.verify('demo', 'demo123\u0000\u0000\u0000')).toBeUndefined();
  });

  it('takes no other password for the demo user (property)', async () => {
    await fc.assert(
      // Any suffix, NUL-only ones included (the padding collision above), is another password.
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: fc.constantFrom('\u0000', 'a'), maxLength: 12 })), async (suffix) => {
        fc.pre(suffix !== '');
        expect(await users.verify('demo', `demo123${suffix}`)).toBeUndefined();
      }),
      { numRuns: 12 },
    );
  });
});
