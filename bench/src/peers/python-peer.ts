import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * Debian's interpreter: the peer's packages (python3-socketio, python3-uvicorn, python3-django) install into its
 * dist-packages, which a pyenv or venv `python3` earlier on the PATH would not see.
 */
export const PEER_PYTHON = '/usr/bin/python3';
const REFLEX_DJANGO_CORE = fileURLToPath(new URL('../../peers/reflex_django_core.py', import.meta.url));
const REQUIRED_MODULES = ['socketio', 'engineio', 'uvicorn', 'django', 'asgiref'];
export const PEER_PACKAGES = 'python3-socketio python3-uvicorn python3-django';

/** A running Python peer server. */
export interface PythonPeer {
  url: string;
  /** Its process id: its CPU time is read from /proc/<pid>/stat. */
  pid: number;
  /** The interpreter and the server's event loop, HTTP and WebSocket implementations, for the log. */
  describe: string;
  close(): Promise<void>;
}

/**
 * Starts the reflex-django core peer (`bench/peers/reflex_django_core.py`) on a free loopback port (`bare`: its
 * events skip Django, python-socketio on uvicorn alone). When its
 * Python packages are missing it resolves `{unavailable}` with the command that installs them, except under
 * `CI=true`, where a benchmark that silently drops a peer would hide a broken set-up: there it throws.
 */
export async function startReflexDjangoCore(bare = false): Promise<PythonPeer | { unavailable: string }> {
  try {
    await promisify(execFile)(PEER_PYTHON, ['-c', `import ${REQUIRED_MODULES.join(', ')}`], { timeout: 60_000 });
  } catch (error) {
    const why =
      `the reflex-django peer needs ${PEER_PYTHON} with Debian's ${PEER_PACKAGES} ` +
      `(run bench/setup.sh, or: sudo apt-get install ${PEER_PACKAGES}): ${(error as Error).message.split('\n').slice(-2).join(' ').trim()}`;
    if (process.env.CI === 'true') throw new Error(why, { cause: error });
    return { unavailable: `skipped: ${why}` };
  }
  // stdin stays open for the peer's lifetime: when this process ends, however it ends, the peer sees EOF and exits.
  const child = spawn(PEER_PYTHON, [REFLEX_DJANGO_CORE, ...(bare ? ['--bare'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const started = await new Promise<{ listening: number; loop: string; http: string; ws: string; python: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the reflex-django peer did not start within 60 s')), 60_000);
    child.once('error', reject);
    void exited.then(() => reject(new Error(`the reflex-django peer exited during start-up (code ${child.exitCode})`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { listening: number; loop: string; http: string; ws: string; python: string });
      } catch {
        reject(new Error(`the reflex-django peer said ${line.slice(0, 200)}`));
      }
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });
  return {
    url: `http://127.0.0.1:${started.listening}`,
    pid: child.pid!,
    describe: `Python ${started.python}, loop ${started.loop}, HTTP ${started.http}, WebSocket ${started.ws}`,
    close: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
