import { type CanActivate, type ExecutionContext, Injectable, type Type, UseGuards } from '@nestjs/common';
import { AppState, BridgeTier, EventHandler, EventUser, Payload, State } from '@reflex-bridge/nest';
import type { StateSuite } from '../harness/types.js';
import type { BenchUser } from './auth-stack.js';

// Every handler a benchmark measures changes exactly one small var, so each event answers with one small delta
// and the figures compare the bridge's overhead, not the handlers' work. Full names: see `harness/wire.ts`.

/** The app's ordinary HTTP guard: requires a logged-in user. */
@Injectable()
export class LoggedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return Boolean(context.switchToHttp().getRequest<{ user?: unknown }>().user);
  }
}

// --- tiers: one state per tier --------------------------------------------------------------------------

/** UI-only state: the `none` tier (no request, no middleware). */
@State()
@BridgeTier('none')
export class NoneTierState {
  count = 0;

  @EventHandler()
  bump(): void {
    this.count++;
  }
}

/** `auth_only`: session + passport run, the handler reads the user (and fails loudly when there is none). */
@State()
@BridgeTier('auth_only')
export class AuthTierState {
  count = 0;

  @EventHandler()
  bump(@EventUser() user?: BenchUser): void {
    if (!user) throw new Error('auth_only bench event without a user: the login did not reach the socket');
    this.count++;
  }
}

/** `full` (the mode of the tiers app): session + passport, then one Nest guard. */
@State()
export class FullTierState {
  count = 0;

  @EventHandler()
  @UseGuards(LoggedInGuard)
  bump(): void {
    this.count++;
  }
}

/**
 * `none`, with an async handler whose await is answered from memory (a cache hit): the event finishes in
 * microtasks, never waiting for I/O. The flood benchmark uses it: a queue of such events, chained as
 * promises, would never give the event loop back to other sockets on its own.
 */
@State()
@BridgeTier('none')
export class LookupState {
  count = 0;

  @EventHandler()
  async bump(): Promise<void> {
    await Promise.resolve();
    this.count++;
  }
}

// --- modes: the mixed workload ----------------------------------------------------------------------------

/** Plain UI state, no request needed: `smart` runs it on `none`, `full` bridges it anyway. */
@State()
export class PanelState {
  open = 0;

  @EventHandler()
  toggle(): void {
    this.open++;
  }
}

/** Bridge-aware (extends AppState, guarded): `full` in both modes. */
@State()
export class ProfileState extends AppState {
  visits = 0;

  @EventHandler()
  @UseGuards(LoggedInGuard)
  visit(): void {
    this.visits++;
  }
}

// --- growth: a big list the event does not touch ----------------------------------------------------------

/** One row of the list: a small object, as a table or a product list holds. */
export interface Row {
  id: number;
  name: string;
  price: number;
  tags: string[];
}

@State()
export class CatalogState {
  rows: Row[] = [];
  count = 0;

  /** Setup: fills the list with `rows` rows (sent once, before measuring). */
  @EventHandler()
  fill(@Payload('rows') rows: number): void {
    this.rows = Array.from({ length: rows }, (_, id) => ({ id, name: `Product ${id}`, price: (id % 997) / 10, tags: ['bench', `group-${id % 10}`] }));
  }

  /** The measured event: changes the counter only. */
  @EventHandler()
  bump(): void {
    this.count++;
  }
}

// --- memory: small states ---------------------------------------------------------------------------------

@State()
export class PrefsState {
  theme = 'light';
  pageSize = 20;
  columns = ['name', 'price', 'stock'];
  compact = false;

  @EventHandler()
  setTheme(@Payload('theme') theme: string): void {
    this.theme = theme;
  }
}

@State()
export class GreetingState {
  name = '';
  visits = 0;

  get greeting(): string {
    return this.name ? `Hello, ${this.name}` : 'Hello';
  }

  @EventHandler()
  setName(@Payload('name') name: string): void {
    this.name = name;
  }
}

/** The state classes each suite registers. */
export const SUITES: Record<StateSuite, Type[]> = {
  tiers: [NoneTierState, AuthTierState, FullTierState, LookupState],
  modes: [PanelState, ProfileState],
  growth: [CatalogState],
  memory: [PrefsState, GreetingState],
};
