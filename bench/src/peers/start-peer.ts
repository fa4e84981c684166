import type { PeerServerConfig } from '../harness/types.js';
import { mainThreadWakeups, processCpuUs } from './proc-cpu.js';

/** A running peer, as the server process (server/server-main.ts) drives it. */
export interface StartedPeer {
  url: string;
  /** Session middleware runs so far, where the peer runs the bench's express-session (0 elsewhere). */
  sessionCalls(): number;
  /**
   * The peer's CPU time so far, µs, when the peer is another process than this one (the Python peer); absent
   * when it runs in this process, whose own `process.cpuUsage()` is then the figure.
   */
  cpuNowUs?: () => number;
  /** The peer's main-thread wake-ups so far (see `mainThreadWakeups`), when it is another process than this one. */
  wakeupsNow?: () => number;
  close(): Promise<void>;
}

/**
 * Starts a peer in (or, for the Python one, under) the calling server process. A Python peer runs as a child
 * of this Node process, which stays idle while it is measured: the server CPU figure is the Python process's
 * alone, and `--profile` records only this idle wrapper.
 */
export async function startPeer(config: PeerServerConfig): Promise<StartedPeer | { unavailable: string }> {
  if (config.peer === 'nest-gateway') {
    const { startNestGatewayServer } = await import('./nest-gateway-app.js');
    return startNestGatewayServer();
  }
  const { startReflexDjangoCore } = await import('./python-peer.js');
  const bare = config.peer === 'python-socketio';
  const peer = await startReflexDjangoCore(bare);
  if ('unavailable' in peer) return peer;
  if (!bare) console.log(`    reflex-django core peer: ${peer.describe}`);
  return { url: peer.url, sessionCalls: () => 0, cpuNowUs: () => processCpuUs(peer.pid), wakeupsNow: () => mainThreadWakeups(peer.pid), close: peer.close };
}
