// Our side of the upload benchmark: a Nest app with ReflexBridgeModule and two states whose handlers take an
// upload, one per mode of `POST /_upload`:
//   - UploadStreamState.store(@EventUploadChunks() chunks): streaming, writes each chunk to disk as it arrives;
//   - UploadBufferState.store(@EventUploads() files): buffered, moves each temp file into place.
// Both then remove what they stored (so long runs do not fill the disk), as the baseline does.
//
// The upload API (decorators, `uploads` options) is looked up in the library at run time instead of imported
// by name, so that the bench still compiles, and its baseline still runs, against a build of the library that
// does not have it: `startUploadBridgeServer` then answers `{ unavailable }` saying what is missing. The
// shapes used here are the ones of the shared design (`UploadFile`, `UploadChunk`, `ReflexBridgeModuleOptions
// .uploads`); once the endpoint is merged, these local interfaces can become imports.
import 'reflect-metadata';
import { Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as library from '@reflex-bridge/nest';
import { EventHandler, ReflexBridgeModule, State, type ReflexBridgeModuleOptions } from '@reflex-bridge/nest';
import type { BridgeUploadServerConfig, StoredFiles } from './upload-types.js';
import { BENCH_CONNECTIONS_PER_ADDRESS, BENCH_RATE_LIMIT } from '../server/bench-rate-limit.js';

/** `UploadFile` of the library, as far as the bench uses it. */
interface BenchUploadFile {
  readonly size: number;
  moveTo(destination: string): Promise<void>;
}

/** `UploadChunk` of the library. */
interface BenchUploadChunk {
  filename: string;
  offset: number;
  data: Buffer;
}

type ParameterDecoratorFactory = () => ParameterDecorator;

/** The upload API the bench needs from the library. */
interface UploadApi {
  EventUploads: ParameterDecoratorFactory;
  EventUploadChunks: ParameterDecoratorFactory;
}

/** The upload decorators of the loaded library, or why they are not there. */
function uploadApi(): UploadApi | { unavailable: string } {
  const exports = library as unknown as Record<string, unknown>;
  const missing = ['EventUploads', 'EventUploadChunks'].filter((name) => typeof exports[name] !== 'function');
  if (missing.length) {
    return { unavailable: `the library has no ${missing.join(' / ')} export (the /_upload endpoint is not in this build of @reflex-bridge/nest)` };
  }
  return exports as unknown as UploadApi;
}

/** The two bench states, built around the decorators found at run time. */
function uploadStates(api: UploadApi, directory: string, stored: StoredFiles): Type[] {
  @State()
  class UploadStreamState {
    received = 0;

    @EventHandler()
    async store(@api.EventUploadChunks() chunks: AsyncIterable<BenchUploadChunk>): Promise<void> {
      const files = new Map<string, { handle: FileHandle; path: string }>();
      try {
        for await (const chunk of chunks) {
          let file = files.get(chunk.filename);
          if (!file) {
            const path = join(directory, randomUUID());
            file = { handle: await open(path, 'w'), path };
            files.set(chunk.filename, file);
          }
          // Written at the chunk's offset: one positional write per chunk, awaited, so the iterator's bound
          // (and through it the request) waits for the disk like the baseline's pipe does.
          if (chunk.data.length) await file.handle.write(chunk.data, 0, chunk.data.length, chunk.offset);
          stored.bytes += chunk.data.length;
        }
        stored.files += files.size;
      } finally {
        for (const { handle, path } of files.values()) {
          await handle.close();
          await unlink(path);
        }
      }
      this.received += files.size;
    }
  }

  @State()
  class UploadBufferState {
    received = 0;

    @EventHandler()
    async store(@api.EventUploads() files: BenchUploadFile[]): Promise<void> {
      for (const file of files) {
        const path = join(directory, randomUUID());
        await file.moveTo(path);
        stored.files++;
        stored.bytes += file.size;
        await unlink(path);
      }
      this.received += files.length;
    }
  }

  return [UploadStreamState, UploadBufferState];
}

@Module({})
class UploadBenchModule {}

export interface UploadBridgeServer {
  url: string;
  stored(): StoredFiles;
  close(): Promise<void>;
}

/**
 * Starts the app on a free loopback port, then checks that `POST /_upload` exists (a request without the
 * Reflex headers must be refused with 400, not 404). Answers `{ unavailable }`, with the reason, when the
 * library cannot serve uploads.
 */
export async function startUploadBridgeServer(config: BridgeUploadServerConfig): Promise<UploadBridgeServer | { unavailable: string }> {
  const api = uploadApi();
  if ('unavailable' in api) return api;
  const stored: StoredFiles = { files: 0, bytes: 0 };
  const options: ReflexBridgeModuleOptions & { uploads: Record<string, unknown> } = {
    rateLimit: BENCH_RATE_LIMIT,
    maxConnectionsPerAddress: BENCH_CONNECTIONS_PER_ADDRESS,
    bridge: { mode: 'full' },
    uploads: {
      directory: config.directory,
      tempDirectory: config.tempDirectory,
      maxFileBytes: config.maxBytes,
      maxTotalBytes: config.maxBytes,
    },
  };
  let app: Awaited<ReturnType<typeof NestFactory.create>> | undefined;
  try {
    app = await NestFactory.create(
      { module: UploadBenchModule, imports: [ReflexBridgeModule.forRoot(options)], providers: uploadStates(api, config.directory, stored) },
      // abortOnError: false, so that a library that refuses the options (no `uploads` yet) throws here, and
      // the benchmark reports why, instead of Nest ending the process.
      { logger: ['error', 'warn'], abortOnError: false },
    );
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app?.close().catch(() => undefined);
    return { unavailable: `the upload bench app did not start: ${(error as Error).message}` };
  }
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const probe = await fetch(`${url}/_upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--\r\n' }).catch(
    (error: unknown) => ({ status: 0, text: () => Promise.resolve(String(error)) }),
  );
  if (probe.status !== 400) {
    const body = (await probe.text()).slice(0, 200);
    await app.close();
    return { unavailable: `POST /_upload without the Reflex headers answered ${probe.status} (expected 400): ${body}` };
  }
  const running = app;
  return { url, stored: () => ({ ...stored }), close: () => running.close() };
}
