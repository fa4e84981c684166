import { ListenerSet } from './listener.set.js';
import type { UploadProgress } from './upload.types.js';

/** Turns "bytes written" notices into `onProgress` calls, and makes sure the last one says 100%. */
export class UploadProgressReporter {
  private readonly listeners = new ListenerSet<[UploadProgress]>();
  private loaded = 0;
  private done = false;

  constructor(onProgress: ((progress: UploadProgress) => void) | undefined) {
    if (onProgress) this.listeners.add(onProgress);
  }

  /** Reports `loaded` of `total` bytes sent (ignored after {@link complete} and when nothing moved). */
  report(loaded: number, total: number | undefined): void {
    if (this.done || loaded < this.loaded || (loaded === this.loaded && loaded > 0)) return;
    this.loaded = loaded;
    if (total !== undefined && loaded >= total) {
      this.complete(total);
      return;
    }
    this.listeners.emit({ loaded, total, progress: total ? loaded / total : undefined });
  }

  /** The whole body (`total` bytes) was sent: the final report, `progress: 1`, once. */
  complete(total: number): void {
    if (this.done) return;
    this.done = true;
    this.loaded = total;
    this.listeners.emit({ loaded: total, total, progress: 1 });
  }
}
