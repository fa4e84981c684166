import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Session } from 'node:inspector/promises';
import type { AllocationProfile } from '../harness/types.js';

/** Average bytes between two samples: fine enough for figures per event over a window of thousands of events. */
const SAMPLING_INTERVAL_BYTES = 1024;

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

/**
 * V8's sampling heap profiler over one measured window (`--allocations`), counting objects the garbage collector
 * freed as well as those still alive: the bytes a server allocates per event, which set how often it collects
 * garbage. Without the freed objects, a sampling profile shows only what survived, close to nothing per event.
 */
export class AllocationSampler {
  private session: Session | undefined;

  /** Starts sampling this process's allocations. */
  async start(): Promise<void> {
    const session = new Session();
    session.connect();
    this.session = session;
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: SAMPLING_INTERVAL_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  /** Stops sampling, writes the profile (a `.heapprofile` JSON, for Chrome DevTools) to `path` and returns the bytes it counts. */
  async stop(path: string): Promise<AllocationProfile> {
    const session = this.session;
    if (!session) throw new Error('allocationStop before allocationStart');
    const { profile } = await session.post('HeapProfiler.stopSampling');
    await session.post('HeapProfiler.disable');
    session.disconnect();
    this.session = undefined;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(profile));
    return { path, bytes: totalSize(profile.head as SamplingNode) };
  }
}

function totalSize(node: SamplingNode): number {
  let bytes = node.selfSize;
  for (const child of node.children) bytes += totalSize(child);
  return bytes;
}
