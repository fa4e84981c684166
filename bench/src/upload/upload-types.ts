// Types shared by the upload benchmark's orchestrator (benchmarks/upload.bench.ts), its server process
// (upload-server-main.ts) and its load generator (upload-load.ts).
import type { LatencySummary } from '../harness/types.js';

/** The baseline: a bare `busboy` endpoint on `node:http` that writes every file to disk. */
export interface BusboyUploadServerConfig {
  kind: 'busboy';
  /** Where the files are written (each one is removed once written, so the disk does not fill up). */
  directory: string;
}

/** A Nest app with ReflexBridgeModule and the upload bench states (streaming and buffered). */
export interface BridgeUploadServerConfig {
  kind: 'bridge';
  /** Where the handlers write (streaming) or move (buffered) the files; removed once stored, as above. */
  directory: string;
  /** `uploads.tempDirectory` of the module (the buffered mode's temp files). */
  tempDirectory: string;
  /** `uploads.maxFileBytes` and `uploads.maxTotalBytes`: raised so that the 1 GiB RSS upload is accepted. */
  maxBytes: number;
}

export type UploadServerConfig = BusboyUploadServerConfig | BridgeUploadServerConfig;

/** What the upload server process answers to `start`. */
export type UploadServerStarted = { url: string; pid: number } | { unavailable: string };

/** What the server wrote to disk so far (the load generator's bytes must all arrive: a sanity check). */
export interface StoredFiles {
  files: number;
  bytes: number;
}

/** One load generator process: `clients` uploaders, each sending one multipart upload after another. */
export interface UploadLoadConfig {
  /** The server's base URL (`http://127.0.0.1:port`). */
  url: string;
  /** The POST path. @default '/_upload' */
  path?: string;
  /** `Reflex-Event-Handler` (full handler name); the baseline ignores it. */
  handler: string;
  /** Concurrent uploads (one client token and one keep-alive connection each). */
  clients: number;
  /** Size of the one file each upload carries, bytes. */
  fileBytes: number;
  /**
   * Open a Socket.IO connection per client at `<url>/_event` with its token, and hydrate it, before uploading
   * (the endpoint refuses tokens it does not know; the streaming handler's deltas go to that socket).
   */
  socket: boolean;
}

/** What a load generator measured between `mark` and `stop`. */
export interface UploadStats {
  /** Uploads that completed inside the window. */
  completed: number;
  errors: number;
  firstError?: string;
  windowMs: number;
  /** Request body bytes written inside the window (the server reads them as fast as it consumes them). */
  bytes: number;
  /** `bytes` per second, MiB/s. */
  throughput: number;
  /** Time of each completed upload, first byte sent to last byte of the answer, ms. */
  latency: LatencySummary;
  /** The load generator's own CPU time over the window, microseconds. */
  loadCpuUs: number;
}

/** One upload timed on its own (the RSS run). */
export interface SingleUpload {
  status: number;
  ms: number;
  bytes: number;
}
