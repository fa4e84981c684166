import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on every Linux we know of). */
const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

/**
 * User + system CPU time process `pid` has used so far, all its threads included, in microseconds (Linux:
 * fields 14 and 15 of /proc/<pid>/stat). For a server that is not a Node process (a Python peer): read from
 * outside, it costs the measured process nothing. Resolution: one clock tick (10 ms), so it suits windows of
 * seconds.
 */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // `fields` starts at field 3 (state): utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`unexpected /proc/${pid}/stat: ${stat.slice(0, 120)}`);
  return (ticks / CLOCK_TICKS_PER_SECOND) * 1e6;
}

/**
 * How many times process `pid`'s main thread went to sleep waiting (Linux: `voluntary_ctxt_switches` of
 * /proc/<pid>/status, the thread-group leader's own count). A server that answers one client's events one after
 * another sleeps and is woken up at least once per event; each wake-up costs kernel and event-loop time that
 * server CPU per event includes, so wake-ups per event tell that cost apart from the JavaScript work.
 * NaN where /proc is unavailable.
 */
export function mainThreadWakeups(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^voluntary_ctxt_switches:\s*(\d+)/m.exec(status);
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
