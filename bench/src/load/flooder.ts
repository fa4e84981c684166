// A flooding client process (forked by the flood benchmark; never imported): one WebSocket speaking Engine.IO /
// Socket.IO by hand, as an attacker would, that writes bursts of thousands of `event` frames in single socket
// writes and counts the answers. Driven over IPC: setup → start (bursts back to back) → mark → stop → close.
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { serveRpc } from '../harness/rpc.js';
import type { WireEvent } from '../harness/types.js';
import { HYDRATE, ON_LOAD_INTERNAL } from '../harness/wire.js';

/** What the flood benchmark asks of this process. */
export interface FloodConfig {
  url: string;
  path?: string;
  login?: { username: string; password: string };
  /** The event sent, `burst` times per burst. */
  event: WireEvent;
  /** Frames per burst, written to the socket in one write. */
  burst: number;
}

/** What the flooder saw between `mark` and `stop`. */
export interface FloodStats {
  /** Bursts whose every frame was answered inside the window. */
  bursts: number;
  /** Frames written inside the window. */
  sent: number;
  /** Answers received inside the window: deltas and `bridge_error`s. */
  answered: number;
  /** Of those, `bridge_error`s by code. */
  errors: Record<string, number>;
  windowMs: number;
}

const ROUTER_DATA = { pathname: '/', asPath: '/', query: {} };

/**
 * One unfragmented, masked WebSocket text frame (a client must mask; a zero key leaves the payload as is, and
 * the server cannot tell the difference).
 */
function textFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(6) : length < 65536 ? Buffer.alloc(8) : Buffer.alloc(14);
  header[0] = 0x81;
  if (length < 126) header[1] = 0x80 | length;
  else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

class Flooder {
  private readonly ws: WebSocket;
  private readonly namespace: string;
  private waiter?: (message: string) => void;
  private burstBytes?: Buffer;
  private outstanding = 0;
  private onBurstDone?: () => void;
  running = false;
  measuring = false;
  stats: FloodStats = { bursts: 0, sent: 0, answered: 0, errors: {}, windowMs: 0 };

  constructor(private readonly config: FloodConfig, cookie: string | undefined) {
    const path = config.path ?? '/_event';
    this.namespace = path;
    const url = `${config.url.replace(/^http/, 'ws')}${path}/?EIO=4&transport=websocket&token=${randomUUID()}`;
    this.ws = new WebSocket(url, { headers: cookie ? { cookie } : {}, perMessageDeflate: false });
    this.ws.on('message', (data: Buffer) => this.onMessage(data.toString()));
  }

  /** Engine.IO open, then the Socket.IO namespace connect. */
  async open(): Promise<void> {
    await this.next((message) => message.startsWith('0{'));
    this.send(`40${this.namespace},`);
    await this.next((message) => message.startsWith(`40${this.namespace},`));
  }

  async hydrate(): Promise<void> {
    this.send(this.eventPacket({ name: HYDRATE }));
    this.send(this.eventPacket({ name: ON_LOAD_INTERNAL }));
    await this.next((message) => message.includes('"is_hydrated_rx_state_":true'));
  }

  /** Sends bursts back to back (the next as soon as every frame of the previous one was answered). */
  start(): void {
    const frame = textFrame(Buffer.from(this.eventPacket(this.config.event)));
    this.burstBytes = Buffer.concat(Array.from({ length: this.config.burst }, () => frame));
    this.running = true;
    this.sendBurst();
  }

  /** Stops after the burst in flight has been answered (or after `timeoutMs`). */
  async stop(timeoutMs = 120_000): Promise<void> {
    this.running = false;
    if (this.outstanding === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.onBurstDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    this.ws.close();
  }

  private sendBurst(): void {
    this.outstanding = this.config.burst;
    if (this.measuring) this.stats.sent += this.config.burst;
    // The whole burst in one write: the server reads it in a few large chunks of back-to-back frames.
    (this.ws as unknown as { _socket: { write(data: Buffer): boolean } })._socket.write(this.burstBytes!);
  }

  private eventPacket(event: WireEvent): string {
    return `42${this.namespace},${JSON.stringify(['event', { name: event.name, payload: event.payload ?? {}, router_data: ROUTER_DATA }])}`;
  }

  private send(packet: string): void {
    this.ws.send(packet);
  }

  private next(accept: (message: string) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('flooder: no answer within 30 s')), 30_000);
      this.waiter = (message) => {
        if (!accept(message)) return;
        clearTimeout(timer);
        this.waiter = undefined;
        resolve();
      };
    });
  }

  private onMessage(message: string): void {
    if (message === '2') {
      this.send('3');
      return;
    }
    if (this.waiter) {
      this.waiter(message);
      return;
    }
    if (this.outstanding === 0) return;
    const prefix = `42${this.namespace},["`;
    if (!message.startsWith(prefix)) return;
    if (message.startsWith('bridge_error', prefix.length)) {
      if (this.measuring) {
        const code = /"code":"([^"]*)"/.exec(message)?.[1] ?? 'unknown';
        this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
      }
    } else if (!message.startsWith('event', prefix.length) || !message.includes('"delta"')) {
      return;
    }
    if (this.measuring) this.stats.answered++;
    if (--this.outstanding > 0) return;
    if (this.measuring) this.stats.bursts++;
    if (this.running) this.sendBurst();
    else this.onBurstDone?.();
  }
}

async function login(config: FloodConfig): Promise<string | undefined> {
  if (!config.login) return undefined;
  const response = await fetch(`${config.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config.login),
  });
  const setCookie = response.headers.get('set-cookie');
  if (response.status !== 200 || !setCookie) throw new Error(`login failed: HTTP ${response.status}`);
  return setCookie.split(';')[0];
}

let flooder: Flooder | undefined;
let markedAt = 0;

serveRpc(
  {
    setup: async (config: FloodConfig) => {
      flooder = new Flooder(config, await login(config));
      await flooder.open();
      await flooder.hydrate();
    },
    start: () => flooder!.start(),
    mark: () => {
      flooder!.stats = { bursts: 0, sent: 0, answered: 0, errors: {}, windowMs: 0 };
      flooder!.measuring = true;
      markedAt = performance.now();
    },
    stop: async (): Promise<FloodStats> => {
      const windowMs = performance.now() - markedAt;
      flooder!.measuring = false;
      await flooder!.stop();
      return { ...flooder!.stats, windowMs };
    },
    close: () => {
      flooder?.close();
    },
  },
  async () => {
    flooder?.close();
  },
);
