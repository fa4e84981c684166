import { describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { EventHandler, ReflexBridgeModule, State } from '@reflex-bridge/nest';

@State()
class NoteState {
  text = '';

  @EventHandler()
  write(): void {
    this.text = 'x';
  }
}

/** Builds and initialises an app from `module` (no listening: what fails here fails at startup). */
async function boot(module: ReturnType<typeof ReflexBridgeModule.forRootAsync>): Promise<void> {
  const moduleRef = await Test.createTestingModule({ imports: [module], providers: [NoteState] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

describe('forRootAsync options from a factory', () => {
  it.each([
    // `(config) => { redisUrl: config.get('REDIS_URL') }`: braces make a block, and the factory returns nothing.
    ['undefined', undefined],
    ['null', null],
    ['an array', []],
    ['a string', 'redis://localhost'],
  ])('refuses a factory that returned %s, naming the factory (before: undefined started on in-memory defaults, null failed with "Cannot convert undefined or null to object")', async (_label, returned) => {
    const refused = boot(ReflexBridgeModule.forRootAsync({ useFactory: () => returned as never }));
    await expect(refused).rejects.toThrow('ReflexBridgeModule: invalid option "forRootAsync": the options factory returned');
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'redis://localhost'],
  ])('refuses forRoot(%s) naming forRoot, not forRootAsync', async (_label, given) => {
    await expect(async () => boot(ReflexBridgeModule.forRoot(given as never))).rejects.toThrow('ReflexBridgeModule: invalid option "forRoot": ');
  });

  it('names the field of an invalid option as forRoot does, and lets a factory\'s own error through', async () => {
    await expect(boot(ReflexBridgeModule.forRootAsync({ useFactory: () => ({ bridge: { mode: 'fastest' as never } }) }))).rejects.toThrow(
      'ReflexBridgeModule: invalid option "bridge.mode": expected "full", "smart" or "none", got "fastest"',
    );
    await expect(boot(ReflexBridgeModule.forRootAsync({ useFactory: async () => Promise.reject(new Error('the vault is sealed')) }))).rejects.toThrow('the vault is sealed');
    await expect(boot(ReflexBridgeModule.forRootAsync({ useFactory: () => ({}) }))).resolves.toBeUndefined();
  });
});
