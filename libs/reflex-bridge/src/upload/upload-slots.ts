/** Why {@link UploadSlots.acquire} refused: the worker is full, or the client's address has its share already. */
export type UploadSlotRefusal = 'worker' | 'address';

/** One upload's place in {@link UploadSlots}; {@link release} gives it back (once: later calls do nothing). */
export interface UploadSlot {
  /** The address key it was counted under. */
  readonly address: string;
  release(): void;
}

/**
 * The uploads in progress on one worker, counted twice from one place so that the two counts cannot drift apart: all
 * together (`uploads.maxConcurrent`) and per client address (`uploads.maxConcurrentPerAddress`). Without the second,
 * one client (one address, as many connections as a proxy lets it open) could hold every slot of the worker with
 * uploads that send a byte just often enough to stay alive, and every other user's upload was refused.
 *
 * An address is counted only while it has uploads in progress: its entry goes with its last one, so the map holds at
 * most `maxConcurrent` entries whatever the number of addresses seen.
 */
export class UploadSlots {
  private total = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(
    /** Uploads in progress on the worker at most, all addresses together. */
    readonly maxConcurrent: number,
    /** Uploads in progress from one address at most. */
    readonly maxPerAddress: number,
  ) {}

  /** Uploads in progress on the worker. */
  get inProgress(): number {
    return this.total;
  }

  /** Uploads in progress from the address `address` (a key of `addressKey`). */
  inProgressFrom(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Addresses with uploads in progress. */
  get addresses(): number {
    return this.perAddress.size;
  }

  /**
   * Counts a new upload from `address`, or refuses it: `'address'` when that address has `maxPerAddress` uploads in
   * progress (checked first: a client past its own share is told so, whether or not the worker also is full), else
   * `'worker'` when the worker has `maxConcurrent`. Nothing is counted for a refusal.
   */
  acquire(address: string): UploadSlot | UploadSlotRefusal {
    const held = this.perAddress.get(address) ?? 0;
    if (held >= this.maxPerAddress) return 'address';
    if (this.total >= this.maxConcurrent) return 'worker';
    this.perAddress.set(address, held + 1);
    this.total += 1;
    let released = false;
    return {
      address,
      release: () => {
        if (released) return;
        released = true;
        this.total -= 1;
        const left = this.perAddress.get(address)! - 1;
        if (left === 0) this.perAddress.delete(address);
        else this.perAddress.set(address, left);
      },
    };
  }
}
