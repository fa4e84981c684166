import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

/** A message the server sent on the namespace: `event` (a StateUpdate) or `bridge_error`, in arrival order. */
export interface Received {
  kind: 'event' | 'bridge_error' | 'other';
  body: Record<string, unknown>;
}

/**
 * A client that speaks Engine.IO v4 / Socket.IO v5 by hand over one WebSocket, as an attacker's script would,
 * so it can write thousands of `event` frames in a single socket write (a Socket.IO client sends them as
 * its event loop allows). Records every namespace message it receives.
 */
export class RawFlooder {
  readonly received: Received[] = [];
  /**
   * The `event` messages that only present an error to a Reflex page (every event carries `bridge_error`), kept
   * apart: each accompanies a `bridge_error` in `received`, so `received` holds one answer per event.
   */
  readonly presentations: Array<Record<string, unknown>> = [];
  private readonly ws: WebSocket;
  private readonly namespace: string;
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(baseUrl: string, readonly token: string = randomUUID(), path = '/_event') {
    this.namespace = path;
    this.ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}/?EIO=4&transport=websocket&token=${token}`, { perMessageDeflate: false });
    this.ws.on('message', (data: Buffer) => this.onMessage(data.toString()));
    this.ws.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** True once the server closed the connection. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Engine.IO open, then the namespace connect; resolves once the server accepted it. */
  async connected(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.send(`40${this.namespace},`);
    await this.until(() => this.namespaceOpen, 5000, 'namespace connect');
  }

  /** One `event` packet as a Socket.IO client encodes it. */
  eventPacket(name: string, payload: Record<string, unknown> = {}): string {
    return `42${this.namespace},${JSON.stringify(['event', { name, payload, router_data: { pathname: '/', asPath: '/' } }])}`;
  }

  /** Sends one packet as an ordinary frame. */
  send(packet: string): void {
    this.ws.send(packet);
  }

  /** Writes every packet as a masked WebSocket text frame, all of them in one socket write. */
  writeAtOnce(packets: string[]): void {
    const frames = Buffer.concat(packets.map((packet) => maskedTextFrame(Buffer.from(packet))));
    (this.ws as unknown as { _socket: { write(data: Buffer): boolean } })._socket.write(frames);
  }

  /** Sends the Reflex hydrate sequence and waits for `is_hydrated`. */
  async hydrate(): Promise<void> {
    const root = 'reflex___state____state';
    this.send(this.eventPacket(`${root}.hydrate`));
    this.send(this.eventPacket(`${root}.reflex___state____on_load_internal_state.on_load_internal`));
    await this.until(() => this.updates().some((update) => update.delta?.[root]?.['is_hydrated_rx_state_'] === true), 10_000, 'hydration');
  }

  /** Every `event` message (StateUpdate) received so far. */
  updates(): Array<{ delta?: Record<string, Record<string, unknown>> }> {
    return this.received.filter((message) => message.kind === 'event').map((message) => message.body);
  }

  /** Every `bridge_error` received so far. */
  errors(): Array<{ code?: string; event?: string; message?: string }> {
    return this.received.filter((message) => message.kind === 'bridge_error').map((message) => message.body);
  }

  /** Waits until `predicate` holds, or fails after `timeoutMs` (a generous deadline, not a measurement). */
  async until(predicate: () => boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; received ${this.received.length} messages`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.close();
  }

  private namespaceOpen = false;

  private onMessage(message: string): void {
    if (message === '2') {
      this.ws.send('3'); // Engine.IO heartbeat
      return;
    }
    if (message.startsWith(`40${this.namespace},`)) {
      this.namespaceOpen = true;
    } else if (message.startsWith(`42${this.namespace},`)) {
      const [name, body] = JSON.parse(message.slice(`42${this.namespace},`.length)) as [string, Record<string, unknown>];
      const events = name === 'event' ? (body['events'] as Array<{ payload?: Record<string, unknown> }> | undefined) : undefined;
      if (events?.length && events.every((event) => event.payload?.['bridge_error'] !== undefined)) this.presentations.push(body);
      else this.received.push({ kind: name === 'event' || name === 'bridge_error' ? name : 'other', body });
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A client's WebSocket text frame (masked; a zero key leaves the payload as it is). */
function maskedTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? Buffer.alloc(6) : length < 65536 ? Buffer.alloc(8) : Buffer.alloc(14);
  header[0] = 0x81;
  if (length < 126) {
    header[1] = 0x80 | length;
  } else if (length < 65536) {
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}
