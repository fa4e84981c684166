import { useCallback, useEffect, useRef, useState } from 'react';
import { UploadRequestError, type ReflexClient } from '@reflex-bridge/client';
import { useReflexBinding } from './reflex.context.js';
import type { HandlerRef, PayloadOf } from './state.ref.js';

/** Upload progress: bytes sent so far, of `total` when known. */
export interface ReflexUploadProgress {
  loaded: number;
  total: number | undefined;
  /** `loaded / total` between 0 and 1, when `total` is known. */
  progress: number | undefined;
}

/** A file to upload: a browser `File`/`Blob`, or a named descriptor (see `ReflexClient.upload`). */
export type ReflexUploadFile = Blob | { name: string; data: unknown; size?: number; contentType?: string };

/** The part of `ReflexClient` uploads use (the client's `upload()` method). */
interface UploadingClient {
  upload(
    stateName: string,
    handler: string,
    files: readonly ReflexUploadFile[],
    options: { extraArgs?: Record<string, unknown>; onProgress?: (progress: ReflexUploadProgress) => void; signal?: AbortSignal },
  ): Promise<unknown>;
}

/** What {@link useReflexUpload} returns. */
export interface ReflexUpload<Args extends object> {
  /**
   * Uploads the files to the handler, with the handler's other arguments. Resolves when the server answered
   * (buffered handlers: their state changes were applied); rejects with the client's upload error or an abort
   * (`code: 'aborted'`).
   * An upload started while another runs aborts the first.
   */
  upload(files: readonly ReflexUploadFile[], args?: Args): Promise<void>;
  /** Stops the running upload. */
  abort(): void;
  /** True while an upload runs. */
  uploading: boolean;
  /** The running (or last) upload's progress. */
  progress: ReflexUploadProgress | undefined;
  /**
   * Why the last upload failed, until the next one starts: always an `UploadRequestError`, so `error.code` can be
   * branched on (a failure that is not one, such as the client refusing the files, is `invalid_request`, with what
   * was thrown as its `cause`). Not set when `abort()` (or unmounting) stopped it: an abort the app asked for is no
   * failure, though `upload()` still rejects with it.
   */
  error: UploadRequestError | undefined;
}

/** A failure as `error` shows it: the client's upload errors as they are, anything else wrapped with its message. */
function asUploadError(failure: unknown): UploadRequestError {
  if (failure instanceof UploadRequestError) return failure;
  const detail = failure instanceof Error ? failure.message : String(failure);
  return new UploadRequestError(0, 'invalid_request', detail, { cause: failure });
}

function hasUpload(client: ReflexClient): client is ReflexClient & UploadingClient {
  return typeof (client as Partial<UploadingClient>).upload === 'function';
}

/**
 * Uploads files to a handler that takes them (`@EventUploads()` or `@EventUploadChunks()` on the server), with
 * progress and abort. An unmounted component's upload is aborted.
 * @example
 * ```tsx
 * import { StaffState } from './reflex-states.js'; // written by `reflex-bridge codegen`
 *
 * function ImagePicker() {
 *   const { upload, progress, abort, error } = useReflexUpload(StaffState.attachImage);
 *   // upload() rejects when the upload fails or is aborted; `error` shows it, so the rejection is only caught here.
 *   return <input type="file" onChange={(e) => upload([...e.target.files!], { productId: 3 }).catch(() => undefined)} />;
 * }
 * ```
 */
export function useReflexUpload<H extends HandlerRef<object>>(handler: H): ReflexUpload<Partial<PayloadOf<H>>> {
  const client = useReflexBinding().client;
  const { $state, $handler } = handler;
  const [uploading, setUploading] = useState(false);
  const [progress, setProgress] = useState<ReflexUploadProgress | undefined>(undefined);
  const [error, setError] = useState<UploadRequestError | undefined>(undefined);
  const running = useRef<AbortController | undefined>(undefined);

  useEffect(() => () => running.current?.abort(), []);

  const abort = useCallback(() => running.current?.abort(), []);
  const upload = useCallback(
    async (files: readonly ReflexUploadFile[], args?: Partial<PayloadOf<H>>): Promise<void> => {
      if (!hasUpload(client)) throw new Error('useReflexUpload(): this @reflex-bridge/client has no upload(); update it.');
      running.current?.abort();
      const controller = new AbortController();
      running.current = controller;
      setUploading(true);
      setProgress(undefined);
      setError(undefined);
      try {
        await client.upload($state, $handler, files, {
          extraArgs: args as Record<string, unknown> | undefined,
          signal: controller.signal,
          onProgress: (next) => {
            if (running.current === controller) setProgress({ loaded: next.loaded, total: next.total, progress: next.progress });
          },
        });
      } catch (failure) {
        // An abort this hook asked for (abort(), unmount, a newer upload) is what the user wanted, not a failure.
        if (running.current === controller && !controller.signal.aborted) setError(asUploadError(failure));
        throw failure;
      } finally {
        if (running.current === controller) {
          running.current = undefined;
          setUploading(false);
        }
      }
    },
    [client, $state, $handler],
  );
  return { upload, abort, uploading, progress, error };
}
