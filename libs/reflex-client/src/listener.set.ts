/** Removes the listener it was returned for. Calling it again does nothing. */
export type Unsubscribe = () => void;

/**
 * A set of listeners for one kind of notification.
 *
 * A listener that throws does not stop the others and does not break the client: like DOM `EventTarget`,
 * the exception is reported asynchronously (re-thrown from a microtask), where the host's global error
 * handling sees it.
 */
export class ListenerSet<Args extends unknown[]> {
  private readonly listeners = new Set<(...args: Args) => void>();

  /** Number of listeners. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Adds a listener. Adding the same function twice makes two entries, each removed by its own
   * {@link Unsubscribe}.
   * @returns A function that removes it.
   */
  add(listener: (...args: Args) => void): Unsubscribe {
    if (typeof listener !== 'function') throw new TypeError('A listener must be a function.');
    const entry = (...args: Args): void => listener(...args);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Calls every listener with `args`, in the order they were added. */
  emit(...args: Args): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(...args);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    this.listeners.clear();
  }
}
