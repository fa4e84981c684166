/**
 * A fixed-size ring buffer: once full, each push overwrites the oldest entry, so memory stays at `capacity`
 * entries however many events a worker handles.
 */
export class InspectionRing<T> {
  private readonly slots: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<T | undefined>(capacity);
  }

  /** How many entries are held (at most `capacity`). */
  get length(): number {
    return this.count;
  }

  /** Adds `entry`, dropping the oldest when full. */
  push(entry: T): void {
    this.slots[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The entries, newest first. */
  newestFirst(): T[] {
    const out: T[] = [];
    for (let index = 1; index <= this.count; index++) out.push(this.slots[(this.next - index + this.capacity) % this.capacity] as T);
    return out;
  }

  /** The newest entry, if any. */
  newest(): T | undefined {
    return this.count === 0 ? undefined : this.slots[(this.next - 1 + this.capacity) % this.capacity];
  }

  /** Drops every entry. */
  clear(): void {
    this.slots.fill(undefined);
    this.next = 0;
    this.count = 0;
  }
}
