// A throwaway redis-server child process on a free loopback port (no persistence), for the benchmarks that
// need Redis (sessions, event cache, state store, live transport). Started and stopped by the orchestrator.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';

export class RedisProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** Starts redis-server, or answers why it cannot (no binary). */
  static async start(): Promise<RedisProcess | { unavailable: string }> {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve) => {
      let output = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve({ unavailable: `redis-server did not start within 10 s: ${output.slice(-300)}` });
      }, 10_000);
      child.once('error', (error) => {
        clearTimeout(timer);
        resolve({ unavailable: `not available: cannot run redis-server (${error.message})` });
      });
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve(new RedisProcess(child, `redis://127.0.0.1:${port}`));
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    });
  }

  /** The redis-server's process id, to measure its CPU time. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGTERM');
    });
  }
}
