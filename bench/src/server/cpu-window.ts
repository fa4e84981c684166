import { PerformanceObserver } from 'node:perf_hooks';
import { mainThreadWakeups } from '../peers/proc-cpu.js';
import type { ServerCpu } from '../harness/types.js';

/** This process's user + system CPU time so far, µs. */
function ownCpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * The measured window of a server process: `mark()` opens it, `read()` gives the CPU time, main-thread wake-ups
 * and session middleware runs since. The sources are this process's unless `measure` points them at another
 * process (a Python peer run by this one).
 */
export class CpuWindow {
  private cpuNowUs: () => number = ownCpuUs;
  private wakeupsNow: () => number = () => mainThreadWakeups(process.pid);
  private start?: { cpuUs: number; wakeups: number; at: number; sessionCalls: number; gcPauseMs: number };
  /** This process's garbage-collection pauses so far, ms. */
  private gcPauseMs = 0;

  constructor(private sessionCalls: () => number = () => 0) {
    // Entries arrive in batches a little after each collection: a window may miss its last one or two.
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.gcPauseMs += entry.duration;
    }).observe({ entryTypes: ['gc'] });
  }

  /** Measures another process's CPU time and wake-ups, and/or counts session runs with `sessionCalls`. */
  measure(sources: { cpuNowUs?: () => number; wakeupsNow?: () => number; sessionCalls?: () => number }): void {
    this.cpuNowUs = sources.cpuNowUs ?? this.cpuNowUs;
    this.wakeupsNow = sources.wakeupsNow ?? this.wakeupsNow;
    this.sessionCalls = sources.sessionCalls ?? this.sessionCalls;
  }

  mark(): void {
    this.start = { cpuUs: this.cpuNowUs(), wakeups: this.wakeupsNow(), at: performance.now(), sessionCalls: this.sessionCalls(), gcPauseMs: this.gcPauseMs };
  }

  read(): ServerCpu {
    const start = this.start;
    if (!start) throw new Error('cpuRead before cpuMark');
    return {
      cpuUs: this.cpuNowUs() - start.cpuUs,
      wakeups: this.wakeupsNow() - start.wakeups,
      wallMs: performance.now() - start.at,
      sessionCalls: this.sessionCalls() - start.sessionCalls,
      gcPauseMs: this.gcPauseMs - start.gcPauseMs,
    };
  }
}
