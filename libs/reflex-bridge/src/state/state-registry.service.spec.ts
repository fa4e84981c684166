import { afterEach, describe, expect, it } from '@jest/globals';
import { Inject, Injectable, Scope, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { EventHandler } from './event-handler.decorator.js';
import { EventUploadChunks, EventUploadSignal, EventUploads, Payload } from './event-param.decorator.js';
import { StateRegistry } from './state-registry.service.js';
import { State } from './state.decorator.js';
import { toWireVars } from './state-view.js';
import { ROOT_STATE_NAME } from '../protocol/state-naming.js';

@Injectable()
class PriceService {
  readonly currency = 'EUR';
}

/** Not a state: a plain provider that happens to have a getter and a field. */
@Injectable()
class AuditLog {
  entries: string[] = [];
  get size(): number {
    return this.entries.length;
  }
}

@State()
class ShopState {
  title = 'Shop';

  @EventHandler()
  rename(payload: { title: string }): void {
    this.title = payload.title;
  }
}

@State({ parent: () => ShopState })
class CartState {
  items: { id: number; qty: number }[] = [];
  discount = 0;
  coupon: string | null = null;
  options = { giftWrap: false };
  _reservationId = 'r-1';
  createdAt = new Date(0);
  format = (n: number) => `${n}`;

  /** Plain data, but injected by property: configuration, not client state. */
  @Inject('FLAGS') readonly flags!: { beta: boolean };

  constructor(
    readonly prices: PriceService,
    @Inject('SHOP_CONFIG') readonly config: { freeShippingFrom: number },
  ) {}

  get count(): number {
    return this.items.reduce((sum, item) => sum + item.qty, 0);
  }

  get _internalTotal(): number {
    return 0;
  }

  @EventHandler()
  add(@Payload('id') id: number): void {
    this.items.push({ id, qty: 1 });
  }

  @EventHandler({ upload: true })
  attach(): void {}

  @EventHandler()
  *checkout(): Generator<void> {
    yield;
  }

  @EventHandler()
  _secret(): void {}

  helper(): void {}
}

/** A state that inherits handlers and getters from a plain base class. */
abstract class Paged {
  page = 1;

  get isFirst(): boolean {
    return this.page === 1;
  }

  @EventHandler()
  next(): void {
    this.page += 1;
  }
}

@State({ name: 'product_list' })
class ProductListState extends Paged {
  query = '';

  @EventHandler()
  search(payload: { query: string }): void {
    this.query = payload.query;
  }
}

/** A base whose handler is guarded; the subclass overrides it without decorators (so without the guard). */
abstract class Guarded {
  items = ['a'];

  @EventHandler()
  wipe(): void {
    this.items = [];
  }
}

@State({ name: 'override_list' })
class OverrideListState extends Guarded {
  override wipe(): void {
    this.items.length = 0;
  }
}

describe('StateRegistry', () => {
  let moduleRef: TestingModule | undefined;

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
  });

  /** What CartState injects besides PriceService: plain-data values, as configuration often is. */
  const cartDeps: Provider[] = [
    PriceService,
    { provide: 'SHOP_CONFIG', useValue: { freeShippingFrom: 50 } },
    { provide: 'FLAGS', useValue: { beta: true } },
  ];

  /** Boots a Nest module with these providers, the way ReflexBridgeModule does (DiscoveryModule + registry). */
  async function registryWith(...providers: Provider[]): Promise<StateRegistry> {
    await moduleRef?.close();
    moduleRef = await Test.createTestingModule({ imports: [DiscoveryModule], providers: [StateRegistry, ...providers] })
      .setLogger({ log() {}, error() {}, warn() {} })
      .compile();
    await moduleRef.init();
    return moduleRef.get(StateRegistry);
  }

  /** Boots a Nest module that is expected to fail at init, and returns the error. */
  async function bootError(...providers: Provider[]): Promise<Error> {
    try {
      await registryWith(...providers);
    } catch (error) {
      return error as Error;
    }
    throw new Error('the module booted, but it should not have');
  }

  describe('upload handlers', () => {
    @State()
    class MediaState {
      @EventHandler()
      attach(@EventUploads() _files: unknown[], @Payload('id') _id: number): void {}

      @EventHandler()
      importRows(@EventUploadChunks() _chunks: unknown): void {}

      @EventHandler()
      rename(@Payload('name') _name: string): void {}
    }

    it('knows each handler\'s upload mode from its upload parameter, and none for the others', async () => {
      const registry = await registryWith(MediaState);
      const handlers = registry.definitionOf(MediaState).handlers;
      expect(handlers.get('attach')?.upload).toBe('buffered');
      expect(handlers.get('importRows')?.upload).toBe('streaming');
      expect(handlers.get('rename')?.upload).toBeUndefined();
    });

    it('refuses at startup a handler with two upload parameters, naming it', async () => {
      @State()
      class GreedyState {
        @EventHandler()
        both(@EventUploads() _files: unknown[], @EventUploadChunks() _chunks: unknown): void {}
      }
      expect((await bootError(GreedyState)).message).toContain('GreedyState.both declares more than one upload parameter');
    });

    it('refuses at startup an @EventUploadSignal() on a handler that takes no upload, naming it', async () => {
      @State()
      class SignalOnlyState {
        @EventHandler()
        wait(@EventUploadSignal() _signal: AbortSignal): void {}
      }
      expect((await bootError(SignalOnlyState)).message).toContain('SignalOnlyState.wait has an @EventUploadSignal() parameter but no upload parameter');
    });
  });

  describe('discovery and full names', () => {
    it('finds every @State() provider and nothing else, parents before children', async () => {
      const registry = await registryWith(...cartDeps, AuditLog, CartState, ShopState, ProductListState);
      const names = registry.states().map((state) => state.fullName);
      expect(names).toHaveLength(3);
      expect(names).toEqual(
        expect.arrayContaining([
          `${ROOT_STATE_NAME}.shop_state`,
          `${ROOT_STATE_NAME}.shop_state.cart_state`,
          `${ROOT_STATE_NAME}.product_list`,
        ]),
      );
      // CartState is listed before ShopState among the providers, yet its parent comes first.
      expect(names.indexOf(`${ROOT_STATE_NAME}.shop_state`)).toBeLessThan(names.indexOf(`${ROOT_STATE_NAME}.shop_state.cart_state`));
    });

    it('names a state after its class in snake case, or after its `name` option, under its parent', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState, ProductListState);
      const cart = registry.definitionOf(CartState);
      expect(cart).toMatchObject({ name: 'cart_state', fullName: `${ROOT_STATE_NAME}.shop_state.cart_state`, cls: CartState });
      expect(registry.definitionOf(ProductListState).fullName).toBe(`${ROOT_STATE_NAME}.product_list`);
      expect(registry.stateByFullName(`${ROOT_STATE_NAME}.shop_state.cart_state`)).toBe(cart);
      expect(registry.stateByFullName('cart_state')).toBeUndefined();
    });

    it('keeps the Nest singleton, with its injected services, as the state instance', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      const instance = registry.definitionOf(CartState).instance as CartState;
      expect(instance).toBe(moduleRef!.get(CartState));
      expect(instance.prices).toBe(moduleRef!.get(PriceService));
    });

    it('refuses a class that is not a registered state', async () => {
      const registry = await registryWith(ShopState);
      expect(() => registry.definitionOf(AuditLog)).toThrow('AuditLog is not a registered @State() provider');
    });

    it('fails the boot when a parent state is not a provider', async () => {
      expect((await bootError(...cartDeps, CartState)).message).toBe(
        'ShopState is used as a parent state but is not registered as a provider',
      );
    });

    it('fails the boot on an invalid name, on parents forming a cycle, and on two states with one full name', async () => {
      @State({ name: 'Not-Valid' })
      class BadName {}
      expect((await bootError(BadName)).message).toBe('State BadName: "Not-Valid" is not a valid state name');

      @State({ parent: () => Second })
      class First {}
      @State({ parent: () => First })
      class Second {}
      expect((await bootError(First, Second)).message).toMatch(/^State parents form a cycle: (First → Second → First|Second → First → Second)$/);

      @State({ name: 'shop_state' })
      class AnotherShop {}
      expect((await bootError(ShopState, AnotherShop)).message).toBe(`Two state classes are named ${ROOT_STATE_NAME}.shop_state`);
    });
  });

  describe('scopes', () => {
    it('fails the boot on a state Nest cannot make once, naming the request-scoped provider it depends on', async () => {
      @Injectable({ scope: Scope.REQUEST })
      class RequestContext {}
      @Injectable()
      class Auditor {
        constructor(readonly context: RequestContext) {}
      }
      @State()
      class AuditedState {
        constructor(private readonly auditor: Auditor) {}
      }
      expect((await bootError(RequestContext, Auditor, AuditedState)).message).toMatch(
        /^State AuditedState cannot be used: it depends on (Auditor|RequestContext), which is request-scoped or depends on a request-scoped provider\. /,
      );

      @Injectable({ scope: Scope.REQUEST })
      @State()
      class PerRequestState {}
      expect((await bootError(PerRequestState)).message).toMatch(/^State PerRequestState cannot be used: it is request-scoped itself\. .*@EventRequest\(\)/);
    });
  });

  describe('handler lookup', () => {
    it('finds a marked handler by `<full state name>.<method>`', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      const handler = registry.findHandler(`${ROOT_STATE_NAME}.shop_state.cart_state.add`);
      expect(handler).toMatchObject({ method: 'add', fullName: `${ROOT_STATE_NAME}.shop_state.cart_state.add`, streaming: false });
      expect(handler!.state).toBe(registry.definitionOf(CartState));
      expect(handler!.params).toEqual([{ index: 0, kind: 'payload', key: 'id' }]);
      expect(handler!.paramTypes).toEqual([Number]);
      expect(registry.findHandler(`${ROOT_STATE_NAME}.shop_state.rename`)?.state).toBe(registry.definitionOf(ShopState));
    });

    it('keeps the handler options and marks generator handlers as streaming', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      expect(registry.findHandler(`${ROOT_STATE_NAME}.shop_state.cart_state.attach`)?.options).toEqual({ upload: true });
      expect(registry.findHandler(`${ROOT_STATE_NAME}.shop_state.cart_state.checkout`)?.streaming).toBe(true);
    });

    it('refuses private, unmarked, inherited-from-Object and unknown names', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      const cart = `${ROOT_STATE_NAME}.shop_state.cart_state`;
      for (const name of [
        `${cart}._secret`, // marked, but `_` names are never callable
        `${cart}.helper`, // a method without @EventHandler()
        `${cart}.constructor`,
        `${cart}.toString`,
        `${cart}.hasOwnProperty`,
        `${cart}.__proto__`,
        `${cart}.count`, // a getter
        `${cart}.items`, // a var
        `${cart}.missing`,
        `${ROOT_STATE_NAME}.nope.add`,
        'add',
      ]) {
        expect(registry.findHandler(name)).toBeUndefined();
      }
      expect(registry.definitionOf(CartState).handlers.has('_secret')).toBe(false);
      expect([...registry.handlerDefinitions()].map((handler) => handler.method).sort()).toEqual(
        ['add', 'attach', 'checkout', 'rename'],
      );
    });

    it('answers each name with its own handler, whatever was asked before (names arrive as new strings)', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      const cart = `${ROOT_STATE_NAME}.shop_state.cart_state`;
      const asked = ['add', 'add', 'checkout', 'missing', 'add', 'attach', 'attach', '_secret', 'checkout'];
      // Built anew each time, as each event's JSON gives a new string.
      const found = asked.map((method) => registry.findHandler([cart, method].join('.'))?.method);
      expect(found).toEqual(['add', 'add', 'checkout', undefined, 'add', 'attach', 'attach', undefined, 'checkout']);
      expect(registry.findHandler(`${ROOT_STATE_NAME}.shop_state.rename`)?.state).toBe(registry.definitionOf(ShopState));
      expect(registry.findHandler(`${cart}.ad`)).toBeUndefined();
    });

    it('finds handlers a state inherits from a base class', async () => {
      const registry = await registryWith(ProductListState);
      expect(registry.findHandler(`${ROOT_STATE_NAME}.product_list.next`)?.method).toBe('next');
      expect(registry.findHandler(`${ROOT_STATE_NAME}.product_list.search`)?.method).toBe('search');
    });

    it('does not take an override without @EventHandler() for a handler (what runs carries no guards)', async () => {
      // The method that runs is the override, and guards, pipes and tiers are read from it: registered, it would be
      // callable with none of what the base's decorators said. As a Nest controller, the override must be marked.
      const registry = await registryWith(OverrideListState);
      expect(registry.findHandler(`${ROOT_STATE_NAME}.override_list.wipe`)).toBeUndefined();
    });
  });

  describe('vars and computed vars', () => {
    it('takes the plain-data fields as vars with their initial values, backend (`_`) vars included', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState);
      const vars = registry.definitionOf(CartState).vars;
      expect(Object.fromEntries(vars)).toEqual({
        items: [],
        discount: 0,
        coupon: null,
        options: { giftWrap: false },
        _reservationId: 'r-1',
      });
      // Injected values (even plain data), a class instance and a function are never vars, so they are never
      // serialised to the client.
      expect(vars.has('prices')).toBe(false);
      expect(vars.has('config')).toBe(false);
      expect(vars.has('flags')).toBe(false);
      expect(vars.has('createdAt')).toBe(false);
      expect(vars.has('format')).toBe(false);
      // Backend vars live in the state but never reach the wire.
      expect(toWireVars(Object.fromEntries(vars))).not.toHaveProperty('_reservationId_rx_state_');
      expect(toWireVars(Object.fromEntries(vars))).toHaveProperty('discount_rx_state_', 0);
    });

    it('takes getters as computed vars, inherited ones included and `_` ones excluded', async () => {
      const registry = await registryWith(...cartDeps, ShopState, CartState, ProductListState);
      expect([...registry.definitionOf(CartState).computed.keys()]).toEqual(['count']);
      expect([...registry.definitionOf(ProductListState).computed.keys()]).toEqual(['isFirst']);
      expect(Object.fromEntries(registry.definitionOf(ProductListState).vars)).toEqual({ page: 1, query: '' });
      expect(registry.definitionOf(ShopState).computed.size).toBe(0);
    });
  });
});
