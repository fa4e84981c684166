/**
 * A gate an e2e test holds an event handler at: the handler sets {@link entered} and awaits {@link opened}; the test
 * waits for `entered` (a condition) and calls {@link release} when it has done what it does meanwhile (stop the
 * worker, send more events). One per spec file: Jest gives each file its own module instance.
 */
export class Gate {
  static entered = false;
  static release: () => void = () => undefined;
  static opened: Promise<void> = Promise.resolve();
  /** Closes the gate again for the next test: handlers that reach it wait until {@link release}. */
  static reset(): void {
    Gate.entered = false;
    Gate.opened = new Promise<void>((resolve) => (Gate.release = resolve));
  }
}
