import { readFile } from 'node:fs/promises';

/** The resident set size of process `pid` now, bytes (Linux: `VmRSS` of /proc/<pid>/status). */
export async function readRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Samples {@link readRss} every `intervalMs` until `stop()`; `stop` resolves the samples taken. */
export class RssSampler {
  private readonly samples: number[] = [];
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    const tick = () => {
      this.reading = readRss(this.pid).then(
        (rss) => {
          this.samples.push(rss);
        },
        () => undefined,
      );
    };
    tick();
    this.timer = setInterval(tick, this.intervalMs);
  }

  async stop(): Promise<number[]> {
    clearInterval(this.timer);
    await this.reading;
    return this.samples;
  }
}
