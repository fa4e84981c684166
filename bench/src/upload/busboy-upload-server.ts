// The upload benchmark's baseline: what an app without ReflexBridge would write by hand, a `node:http` server
// that parses `multipart/form-data` with busboy and pipes each file part to a file on disk. The answer mirrors
// the streaming mode's (`202 {}` once every file is on disk), so both sides do the same work per request.
import busboy from 'busboy';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { StoredFiles } from './upload-types.js';

export interface BusboyUploadServer {
  url: string;
  stored(): StoredFiles;
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/x-ndjson', connection: status >= 400 ? 'close' : 'keep-alive' });
  res.end(`${JSON.stringify(body)}\n`);
}

export async function startBusboyUploadServer(directory: string): Promise<BusboyUploadServer> {
  const stored: StoredFiles = { files: 0, bytes: 0 };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST' || !req.url?.startsWith('/_upload')) return answer(res, 404, { detail: 'Not Found' });
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers });
    } catch (error) {
      return answer(res, 415, { detail: (error as Error).message });
    }
    const writes: Promise<void>[] = [];
    let failure: unknown;
    parser.on('file', (_field, file) => {
      // A name of our own: the client's file name is not a path to trust (the bridge side cleans it too).
      const path = join(directory, randomUUID());
      const out = createWriteStream(path);
      writes.push(
        pipeline(file, out)
          .then(async () => {
            stored.files++;
            stored.bytes += out.bytesWritten;
            await unlink(path);
          })
          // Caught here, at once: the form may still be arriving, and a rejection nobody awaits yet ends the process.
          .catch((error: unknown) => {
            failure ??= error;
            file.resume();
          }),
      );
    });
    parser.on('close', () => {
      void Promise.all(writes).then(() => (failure === undefined ? answer(res, 202, {}) : answer(res, 500, { detail: String(failure) })));
    });
    parser.on('error', (error: Error) => {
      req.unpipe(parser);
      answer(res, 400, { detail: error.message });
    });
    req.pipe(parser);
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stored: () => ({ ...stored }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
