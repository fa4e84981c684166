import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

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

/** CPU time of a process by thread, in microseconds: its main thread's user and system time, and its other threads'. */
export interface ThreadCpu {
  mainUser: number;
  mainSystem: number;
  /** V8's compiler and garbage-collector helpers and libuv's pool (file system calls), which Node 20 leaves unnamed. */
  otherThreads: number;
}

/**
 * CPU time of process `pid` so far, by thread (Linux: `/proc/<pid>/task/<tid>/stat`; one clock tick = 10 ms, so
 * fine over windows of seconds). Tells where a server's time beyond its main thread's JavaScript went. A thread
 * that ends during a window is lost from the later reading; zeros where /proc is unavailable.
 */
export function threadCpuUs(pid: number): ThreadCpu {
  const times: ThreadCpu = { mainUser: 0, mainSystem: 0, otherThreads: 0 };
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return times;
  }
  const tickUs = 1e6 / CLOCK_TICKS_PER_SECOND;
  for (const task of tasks) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
    } catch {
      continue; // a thread that ended while listed
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const user = Number(fields[11]) * tickUs;
    const system = Number(fields[12]) * tickUs;
    if (Number(task) === pid) [times.mainUser, times.mainSystem] = [user, system];
    else times.otherThreads += user + system;
  }
  return times;
}

/**
 * Minor page faults of process `pid` so far, all its threads (Linux: field 10 of /proc/<pid>/stat): memory the
 * process touched for the first time since the kernel gave it (or took it back), each a trip into the kernel
 * that counts as system time. NaN where /proc is unavailable.
 */
export function minorFaults(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  } catch {
    return Number.NaN;
  }
}
