import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Injectable } from '@nestjs/common';
import { DataSource, type Repository } from 'typeorm';
import { User, type SessionUser } from './user.entity.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: string, length: number) => Promise<Buffer>;

/** The seeded demo accounts (README): a shopper and a staff member. */
export const DEMO_USERS = [
  { username: 'demo', password: 'demo123', staff: false },
  { username: 'staff', password: 'staff123', staff: true },
];

@Injectable()
export class UserService {
  private readonly repository: Repository<User>;

  constructor(dataSource: DataSource) {
    this.repository = dataSource.getRepository(User);
  }

  async seed(): Promise<void> {
    for (const demo of DEMO_USERS) {
      if (await this.repository.findOneBy({ username: demo.username })) continue;
      await this.repository.save(this.repository.create({ username: demo.username, staff: demo.staff, passwordHash: await hash(demo.password) }));
    }
  }

  /**
   * The user for a username and password, or `undefined`. An unknown username costs the same hash as a known one:
   * answering it at once would tell a client which usernames exist. Anything but two strings is no credential at all:
   * passport-local passes on whatever JSON a login body holds (a number reached scrypt, which threw: a 500).
   * A username with a NUL character names nobody, and is not looked up: Postgres refuses U+0000 in any text parameter
   * (the query threw: a 500 over HTTP, a `handler_error` over events). A password with a NUL character is nobody's
   * either: scrypt keys HMAC-SHA256 with it, HMAC pads a short key with zero bytes, so `demo123\0` hashed like
   * `demo123` and logged in. It is still hashed, so refusing it takes as long as any wrong password.
   */
  async verify(username: unknown, password: unknown): Promise<SessionUser | undefined> {
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    const user = username.includes('\0') ? null : await this.repository.findOneBy({ username });
    const matched = await matches(password, user?.passwordHash ?? (await this.unknownUserHash));
    return user && matched && !password.includes('\0') ? toSessionUser(user) : undefined;
  }

  /** A hash no password is known for, checked against when the username is unknown. */
  private readonly unknownUserHash = hash(randomBytes(32).toString('hex'));

  async findById(id: number): Promise<SessionUser | undefined> {
    const user = await this.repository.findOneBy({ id });
    return user ? toSessionUser(user) : undefined;
  }
}

function toSessionUser(user: User): SessionUser {
  return { id: user.id, username: user.username, staff: user.staff };
}

async function hash(password: string): Promise<string> {
  const salt = randomBytes(16).toString('hex');
  return `${salt}:${(await scrypt(password, salt, 32)).toString('hex')}`;
}

async function matches(password: string, stored: string): Promise<boolean> {
  const [salt, expected] = stored.split(':');
  const actual = await scrypt(password, salt, 32);
  const wanted = Buffer.from(expected, 'hex');
  return wanted.length === actual.length && timingSafeEqual(wanted, actual);
}
