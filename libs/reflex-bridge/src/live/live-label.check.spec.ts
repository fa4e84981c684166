import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Injectable, Module, type INestApplication, type LoggerService, type OnApplicationBootstrap } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ReflexBridgeModule } from '../reflex-bridge.module.js';
import { State } from '../state/state.decorator.js';
import { LiveList } from './live-list.decorator.js';
import { registerLiveModel, unregisterLiveModel } from './live-model.registry.js';

/** Records every warning the app logs. */
class Warnings implements LoggerService {
  readonly lines: string[] = [];
  log(): void {}
  error(): void {}
  warn(message: unknown): void {
    this.lines.push(String(message));
  }
}

class Note {}
class Order {}

@State()
class NotesState {
  @LiveList('test.note') notes: object[] = [];
}

@State()
class MisspeltState {
  @LiveList('test.notte') notes: object[] = [];
  @LiveList('test.notte') pinned: object[] = [];
}

@State()
class OtherMisspeltState {
  @LiveList('test.notte') notes: object[] = [];
}

/** A label the app publishes itself (`LiveBroadcaster.publish`): nobody registers it, and that is right. */
@State()
class FeedState {
  @LiveList('test.weather_feed') readings: object[] = [];
}

/** Registers the models where the docs say to: in the app's own onApplicationBootstrap, after the module's. */
@Injectable()
class RegistersModels implements OnApplicationBootstrap {
  onApplicationBootstrap(): void {
    registerLiveModel(Note, 'test.note');
    registerLiveModel(Order, 'test.order');
  }
}

describe('LiveLabelCheck (a real Nest app)', () => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    unregisterLiveModel(Note);
    unregisterLiveModel(Order);
  });

  async function listen(states: Array<new () => object>, registers = true): Promise<string[]> {
    @Module({ providers: [...states, ...(registers ? [RegistersModels] : [])] })
    class AppModule {}
    const warnings = new Warnings();
    const moduleRef = await Test.createTestingModule({ imports: [ReflexBridgeModule.forRoot({ bridge: { mode: 'none' } }), AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: warnings });
    await app.listen(0, '127.0.0.1');
    return warnings.lines.filter((line) => line.includes('@LiveList'));
  }

  it('warns once per label that looks like a misspelt registered one, naming the states using it and the registered labels', async () => {
    const warnings = await listen([NotesState, MisspeltState, OtherMisspeltState, FeedState]);
    expect(warnings).toEqual([
      "@LiveList('test.notte') on MisspeltState.notes, MisspeltState.pinned, OtherMisspeltState.notes: no registerLiveModel registered this label, " +
        "so the TypeORM subscriber publishes no change under it and the list never updates. Did you mean 'test.note'? " +
        "Registered labels: 'test.note', 'test.order'. (If the app publishes 'test.notte' itself with LiveBroadcaster.publish, rename it or ignore this.)",
    ]);
  });

  it("says nothing of labels registered in the app's onApplicationBootstrap, nor of labels the app publishes itself", async () => {
    expect(await listen([NotesState, FeedState])).toEqual([]);
  });

  it('says nothing when the app registers no model at all (every change is published by hand)', async () => {
    expect(await listen([MisspeltState, FeedState], false)).toEqual([]);
  });
});
