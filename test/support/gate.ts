/**
 * A gate a test opens: a handler that waits on it stays running until then, so "while it runs" is a state the test
 * decides instead of a duration it guesses (a handler that sleeps may finish early on an idle machine, or the rest
 * of the test may take longer than its sleep on a loaded one).
 */
export class Gate {
  private open!: () => void;
  private enter!: () => void;
  /** Resolves once a handler is waiting at the gate. */
  readonly entered = new Promise<void>((resolve) => (this.enter = resolve));
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));

  arrive(): void {
    this.enter();
  }

  release(): void {
    this.open();
  }
}
