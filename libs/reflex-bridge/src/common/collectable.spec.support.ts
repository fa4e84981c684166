import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// Specs only: V8's `gc()` without starting Jest with --expose-gc (a new context picks the flag up).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * True once `ref`'s target is gone after full collections, that is once nothing but weak references held it.
 * The turns of the event loop between collections let V8 clear a WeakRef made in the current job.
 */
export async function isCollected(ref: WeakRef<object>): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}
