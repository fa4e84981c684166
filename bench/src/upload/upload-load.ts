// Load generator of the upload benchmark (forked by upload-processes.ts; never imported): `clients` uploaders,
// each sending one `multipart/form-data` upload after another over its own keep-alive connection, the next
// one as soon as the answer to the previous one has arrived. Bodies are generated on the fly (multipart-body.ts)
// and written with back-pressure: a server that reads slowly slows the writer down, so the bytes written in
// a window are (to within the socket buffers) the bytes the server consumed. Driven over IPC like the
// harness's load generator: setup → start (warm-up) → mark → stop → close; `single` times one upload alone.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { serveRpc } from '../harness/rpc.js';
import { summarize } from '../harness/stats.js';
import { HYDRATE, ON_LOAD_INTERNAL, ROOT } from '../harness/wire.js';
import { FILE_BLOCK, multipartFrame, WRITE_BYTES } from './multipart-body.js';
import type { SingleUpload, UploadLoadConfig, UploadStats } from './upload-types.js';

const ROUTER_DATA = { pathname: '/', asPath: '/', query: {} };

/** What every uploader of this process reports into. */
class Window {
  measuring = false;
  running = false;
  completed = 0;
  errors = 0;
  firstError?: string;
  bytes = 0;
  latencies: number[] = [];
  inFlight = 0;
  onIdle?: () => void;
}

let uploadCount = 0;

/**
 * Sends one upload of `fileBytes` and resolves once the whole answer has arrived; rejects on a status other
 * than 200/202 (with the body), or when the server answers before it has read the whole body.
 */
function upload(config: UploadLoadConfig, token: string, agent: Agent, fileBytes: number, onWrite: (bytes: number) => void): Promise<SingleUpload> {
  const frame = multipartFrame(`bench-${++uploadCount}.bin`, fileBytes);
  const started = performance.now();
  return new Promise<SingleUpload>((resolve, reject) => {
    let settled = false;
    let answered = false;
    let sentAll = false;
    let wake: (() => void) | undefined;
    const req = request(new URL(config.path ?? '/_upload', config.url), {
      method: 'POST',
      agent,
      headers: {
        'content-type': frame.contentType,
        'content-length': frame.contentLength,
        'reflex-client-token': token,
        'reflex-event-handler': config.handler,
      },
    });
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      wake?.();
      req.destroy();
      reject(error);
    };
    const wakeWriter = () => {
      const waiting = wake;
      wake = undefined;
      waiting?.();
    };
    req.on('drain', wakeWriter);
    req.on('close', wakeWriter);
    req.on('error', fail);
    req.on('response', (res) => {
      answered = true;
      wakeWriter();
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        if (status !== 200 && status !== 202) return fail(new Error(`POST ${config.path ?? '/_upload'} (${config.handler}): HTTP ${status} ${body.slice(0, 300)}`));
        if (!sentAll) return fail(new Error(`HTTP ${status} before the whole body was sent`));
        settled = true;
        resolve({ status, ms: performance.now() - started, bytes: fileBytes });
      });
    });
    const blocked = () => new Promise<void>((resume) => (wake = resume));
    const write = async () => {
      if (!req.write(frame.head)) await blocked();
      let left = fileBytes;
      while (left > 0) {
        if (settled || answered) return; // answered early (an error): the response handler reports it
        const bytes = Math.min(left, WRITE_BYTES);
        left -= bytes;
        onWrite(bytes);
        if (!req.write(bytes === WRITE_BYTES ? FILE_BLOCK : FILE_BLOCK.subarray(0, bytes))) await blocked();
      }
      if (settled || answered) return;
      sentAll = true;
      req.end(frame.tail);
    };
    write().catch(fail);
  });
}

class Uploader {
  readonly token = randomUUID();
  private socket?: Socket;

  constructor(
    private readonly config: UploadLoadConfig,
    private readonly agent: Agent,
  ) {}

  /** Opens the token's socket and hydrates it, so that the endpoint knows the token. */
  async connect(): Promise<void> {
    if (!this.config.socket) return;
    const socket = io(`${this.config.url}/_event`, {
      path: '/_event',
      transports: ['websocket'],
      query: { token: this.token },
      reconnection: false,
      forceNew: true,
    });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (error) => reject(error));
    });
    const hydrated = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no hydrate reply within 30 s')), 30_000);
      socket.on('event', (update: { delta?: Record<string, Record<string, unknown>> }) => {
        if (update.delta?.[ROOT]?.['is_hydrated_rx_state_'] === true) {
          clearTimeout(timer);
          resolve();
        }
      });
      socket.once('bridge_error', (error: unknown) => {
        clearTimeout(timer);
        reject(new Error(`hydrate: ${JSON.stringify(error)}`));
      });
    });
    socket.emit('event', { name: HYDRATE, payload: {}, router_data: ROUTER_DATA });
    socket.emit('event', { name: ON_LOAD_INTERNAL, payload: {}, router_data: ROUTER_DATA });
    await hydrated;
  }

  upload(fileBytes: number, onWrite: (bytes: number) => void): Promise<SingleUpload> {
    return upload(this.config, this.token, this.agent, fileBytes, onWrite);
  }

  /** Uploads one file after another while the window runs. */
  async loop(window: Window): Promise<void> {
    const config = this.config;
    const count = (bytes: number) => {
      if (window.measuring) window.bytes += bytes;
    };
    window.inFlight++;
    try {
      while (window.running) {
        try {
          const done = await this.upload(config.fileBytes, count);
          if (window.measuring) {
            window.completed++;
            window.latencies.push(done.ms);
          }
        } catch (error) {
          // Counted in the warm-up too: a server that refuses every upload must fail the run, not time it out.
          window.errors++;
          window.firstError ??= (error as Error).message;
          return;
        }
      }
    } finally {
      window.inFlight--;
      if (window.inFlight === 0) window.onIdle?.();
    }
  }

  close(): void {
    this.socket?.disconnect();
  }
}

let config: UploadLoadConfig | undefined;
let agent = new Agent({ keepAlive: true });
let uploaders: Uploader[] = [];
let window = new Window();
let markedAt = 0;
let markedCpu: NodeJS.CpuUsage | undefined;

serveRpc(
  {
    setup: async (params: UploadLoadConfig) => {
      config = params;
      agent = new Agent({ keepAlive: true, maxSockets: params.clients });
      window = new Window();
      uploaders = Array.from({ length: params.clients }, () => new Uploader(params, agent));
      await Promise.all(uploaders.map((uploader) => uploader.connect()));
      return { clients: uploaders.length };
    },
    start: () => {
      if (!config) throw new Error('start before setup');
      window.running = true;
      for (const uploader of uploaders) void uploader.loop(window);
    },
    mark: () => {
      window.completed = 0;
      window.bytes = 0;
      window.latencies = [];
      window.measuring = true;
      markedAt = performance.now();
      markedCpu = process.cpuUsage();
    },
    /** Closes the window, lets the uploads in flight finish (not counted), and reports. */
    stop: async (): Promise<UploadStats> => {
      const windowMs = performance.now() - markedAt;
      window.measuring = false;
      window.running = false;
      const cpu = process.cpuUsage(markedCpu);
      if (window.inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 300_000);
          window.onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return {
        completed: window.completed,
        errors: window.errors,
        firstError: window.firstError,
        windowMs,
        bytes: window.bytes,
        throughput: window.bytes / 2 ** 20 / (windowMs / 1000),
        latency: summarize(Float64Array.from(window.latencies)),
        loadCpuUs: cpu.user + cpu.system,
      };
    },
    /** One upload of `fileBytes` by the first uploader, timed alone (nothing else in flight). */
    single: (fileBytes: number): Promise<SingleUpload> => {
      if (!uploaders.length) throw new Error('single before setup');
      return uploaders[0].upload(fileBytes, () => undefined);
    },
    close: async () => {
      for (const uploader of uploaders) uploader.close();
      uploaders = [];
      agent.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
  },
  async () => {
    for (const uploader of uploaders) uploader.close();
    agent.destroy();
  },
);
