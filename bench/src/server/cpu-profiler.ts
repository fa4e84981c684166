import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Session } from 'node:inspector/promises';

/**
 * The V8 CPU profile of one measured window (`--profile`), sampled every 100 µs, that both bench server processes
 * (the harness's own and the extension benches') record the same way, so their profiles compare.
 */
export class CpuProfiler {
  private session: Session | undefined;

  /** Starts sampling this process. */
  async start(): Promise<void> {
    const session = new Session();
    session.connect();
    this.session = session;
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
  }

  /** Stops sampling and writes the profile (a `.cpuprofile` JSON) to `path`; resolves with `path`. */
  async stop(path: string): Promise<string> {
    const session = this.session;
    if (!session) throw new Error('profileStop before profileStart');
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    this.session = undefined;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(profile));
    return path;
  }
}
