import { MAX_LABEL_LENGTH } from './model-change.js';

/**
 * What identifies a model: an entity class, or the `name`/`target` string of a TypeORM `EntitySchema`.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- any entity class, whatever its constructor
export type LiveModelTarget = Function | string;


/**
 * Which entity classes are live, and under which label their changes are published (`"<app>.<model>"`, e.g.
 * `"shop.product"`). The counterpart of reflex-django's `register_live_model` registry. A subclass of a
 * registered class is live under its parent's label unless registered itself (single-table inheritance).
 *
 * Most apps use the process-wide registry through {@link registerLiveModel}; construct one only to keep tests
 * or several data sources apart.
 */
export class LiveModelRegistry {
  private readonly labels = new Map<LiveModelTarget, string>();

  /** Marks `target` live under `label`; registering again replaces the label. */
  register(target: LiveModelTarget, label: string): void {
    if (typeof target !== 'function' && (typeof target !== 'string' || target === '')) {
      throw new TypeError('registerLiveModel: the target must be an entity class or an entity schema name');
    }
    if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_LABEL_LENGTH) {
      throw new TypeError(
        `registerLiveModel: the label must be a non-empty string of at most ${MAX_LABEL_LENGTH} characters, such as "shop.product", got ${JSON.stringify(label)}`,
      );
    }
    this.labels.set(target, label);
  }

  /** Stops publishing changes of `target`. Returns whether it was registered. */
  unregister(target: LiveModelTarget): boolean {
    return this.labels.delete(target);
  }

  /** The label `target` (a class, an instance of one, or a schema name) is published under, if it is live. */
  labelOf(target: LiveModelTarget | object): string | undefined {
    if (typeof target === 'string') return this.labels.get(target);
    // An instance stands for its class.
    let current: unknown = typeof target === 'function' ? target : (target as object)?.constructor;
    // Walk up the class chain so single-table-inheritance children publish under their parent's label.
    while (typeof current === 'function' && current !== Function.prototype) {
      const label = this.labels.get(current);
      if (label !== undefined) return label;
      current = Object.getPrototypeOf(current);
    }
    return undefined;
  }

  /** Whether changes of `target` (a class, an instance of one, or a schema name) are published. */
  isLive(target: LiveModelTarget | object): boolean {
    return this.labelOf(target) !== undefined;
  }

  /** Every label some target is registered under, sorted, each once. */
  registeredLabels(): string[] {
    return [...new Set(this.labels.values())].sort();
  }

  /** Forgets every registration (tests). */
  clear(): void {
    this.labels.clear();
  }
}

const processRegistry = new LiveModelRegistry();

/** The process-wide registry behind {@link registerLiveModel} and used by default by the TypeORM subscriber. */
export function liveModelRegistry(): LiveModelRegistry {
  return processRegistry;
}

/**
 * Publishes a `ModelChange` for every insert, update and remove of `target` through
 * `TypeormLiveSubscriber`.
 * @example
 * registerLiveModel(Product, 'shop.product');
 * @publicApi
 */
export function registerLiveModel(target: LiveModelTarget, label: string): void {
  processRegistry.register(target, label);
}

/** Stops publishing changes of `target`. Returns whether it was registered. @publicApi */
export function unregisterLiveModel(target: LiveModelTarget): boolean {
  return processRegistry.unregister(target);
}

/** Whether changes of `target` (a class, an instance of one, or a schema name) are published. @publicApi */
export function isLiveModel(target: LiveModelTarget | object): boolean {
  return processRegistry.isLive(target);
}

/** The label `target` is published under, or undefined when it is not live. @publicApi */
export function liveModelLabel(target: LiveModelTarget | object): string | undefined {
  return processRegistry.labelOf(target);
}
