import { afterEach, describe, expect, it } from '@jest/globals';
import {
  isLiveModel,
  liveModelLabel,
  LiveModelRegistry,
  liveModelRegistry,
  registerLiveModel,
  unregisterLiveModel,
} from './live-model.registry.js';

class Product {}
class DigitalProduct extends Product {}
class Order {}

describe('LiveModelRegistry', () => {
  it('registers, answers for classes, instances and subclasses, and unregisters', () => {
    const registry = new LiveModelRegistry();
    registry.register(Product, 'shop.product');
    expect(registry.isLive(Product)).toBe(true);
    expect(registry.labelOf(new Product())).toBe('shop.product');
    expect(registry.labelOf(DigitalProduct)).toBe('shop.product');
    expect(registry.isLive(Order)).toBe(false);
    registry.register(DigitalProduct, 'shop.digital');
    expect(registry.labelOf(new DigitalProduct())).toBe('shop.digital');
    expect(registry.unregister(Product)).toBe(true);
    expect(registry.unregister(Product)).toBe(false);
    expect(registry.isLive(Product)).toBe(false);
  });

  it('accepts entity schema names', () => {
    const registry = new LiveModelRegistry();
    registry.register('category', 'shop.category');
    expect(registry.labelOf('category')).toBe('shop.category');
  });

  it('refuses bad labels and targets with a clear message', () => {
    const registry = new LiveModelRegistry();
    expect(() => registry.register(Product, '')).toThrow(/label must be a non-empty string of at most 255 characters, such as "shop.product"/);
    expect(() => registry.register(Product, 'x'.repeat(256))).toThrow(/at most 255 characters/);
    expect(() => registry.register(42 as never, 'a.b')).toThrow(/entity class or an entity schema name/);
  });
});

describe('process-wide registry functions', () => {
  afterEach(() => liveModelRegistry().clear());

  it('register, query and unregister through the shared registry', () => {
    registerLiveModel(Order, 'shop.order');
    expect(isLiveModel(Order)).toBe(true);
    expect(liveModelLabel(new Order())).toBe('shop.order');
    expect(liveModelRegistry().isLive(Order)).toBe(true);
    expect(unregisterLiveModel(Order)).toBe(true);
    expect(isLiveModel(Order)).toBe(false);
  });
});
