/**
 * @jest-environment jsdom
 * @jest-environment-options {"customExportConditions": ["node", "node-addons"]}
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { createElement as h } from 'react';
import { ReflexClient, UploadRequestError, type UploadRequestOptions } from '@reflex-bridge/client';
import { ReflexProvider } from './reflex.provider.js';
import { handlerRef } from './state.ref.js';
import { useReflexUpload } from './use-reflex-upload.js';

/** One `client.upload()` call the test settles by hand. */
interface PendingUpload {
  options: UploadRequestOptions;
  resolve(): void;
  reject(error: Error): void;
}

/** A client whose uploads wait for the test; an aborted one rejects as the real client does. */
function fakeUploadClient(): { client: ReflexClient; calls: PendingUpload[] } {
  // Nothing listens on port 9: the provider's connect() fails at once, and uploads never touch the network.
  const client = new ReflexClient({ url: 'http://127.0.0.1:9', storage: null, reconnect: false });
  const calls: PendingUpload[] = [];
  client.upload = ((_state: string, _handler: string, _files: unknown, options: UploadRequestOptions = {}) =>
    new Promise((resolve, reject) => {
      options.signal?.addEventListener('abort', () => reject(new UploadRequestError(0, 'aborted', 'The upload was aborted.')), { once: true });
      calls.push({ options, resolve: () => resolve({ status: 200, mode: 'buffered', updates: [], droppedUpdates: 0 }), reject });
    })) as ReflexClient['upload'];
  return { client, calls };
}

const attach = handlerRef<{ productId: number }>('reflex___state____state.catalog_state', 'attachImage');
const file = { name: 'a.png', data: new Uint8Array(3) };

/** Shows the hook's state; each upload's outcome is recorded, never left unhandled. */
function Uploader({ outcomes }: { outcomes: string[] }) {
  const { upload, abort, uploading, progress, error } = useReflexUpload(attach);
  const start = (): void => {
    upload([file], { productId: 3 }).then(
      () => outcomes.push('resolved'),
      (failure: unknown) => outcomes.push(`rejected ${(failure as UploadRequestError).code}`),
    );
  };
  const code = error instanceof UploadRequestError ? `${error.status} ${error.code} ${error.limit ?? '-'}` : String(error);
  return h(
    'div',
    null,
    h('button', { 'data-testid': 'start', onClick: start }, 'start'),
    h('button', { 'data-testid': 'abort', onClick: abort }, 'abort'),
    h('p', { 'data-testid': 'state' }, `${uploading ? 'uploading' : 'idle'} ${progress?.progress ?? '-'} ${code}`),
  );
}

const flush = () => act(async () => undefined);

afterEach(() => cleanup());

describe('useReflexUpload', () => {
  it('shows progress, then a refusal as a typed error, and rejects upload() with it', async () => {
    const { client, calls } = fakeUploadClient();
    const outcomes: string[] = [];
    render(h(ReflexProvider, { client }, h(Uploader, { outcomes })));
    fireEvent.click(screen.getByTestId('start'));
    expect(calls[0]!.options.extraArgs).toEqual({ productId: 3 });
    act(() => calls[0]!.options.onProgress!({ loaded: 1, total: 2, progress: 0.5 }));
    expect(screen.getByTestId('state').textContent).toBe('uploading 0.5 undefined');
    await act(async () => calls[0]!.reject(new UploadRequestError(413, 'upload_too_large', 'Each file may be at most 2 bytes.', { limit: 2 })));
    expect(screen.getByTestId('state').textContent).toBe('idle 0.5 413 upload_too_large 2');
    expect(outcomes).toEqual(['rejected upload_too_large']);
    // The next upload starts clean.
    fireEvent.click(screen.getByTestId('start'));
    expect(screen.getByTestId('state').textContent).toBe('uploading - undefined');
    await act(async () => calls[1]!.resolve());
    expect(screen.getByTestId('state').textContent).toBe('idle - undefined');
    expect(outcomes).toEqual(['rejected upload_too_large', 'resolved']);
  });

  it('abort() rejects the running upload as aborted without showing it as an error; a newer upload aborts the older one', async () => {
    const { client, calls } = fakeUploadClient();
    const outcomes: string[] = [];
    render(h(ReflexProvider, { client }, h(Uploader, { outcomes })));
    fireEvent.click(screen.getByTestId('start'));
    fireEvent.click(screen.getByTestId('abort'));
    await flush();
    expect(outcomes).toEqual(['rejected aborted']);
    // The user asked for it: `error` stays empty, so the app shows no failure.
    expect(screen.getByTestId('state').textContent).toBe('idle - undefined');

    fireEvent.click(screen.getByTestId('start'));
    fireEvent.click(screen.getByTestId('start'));
    await flush();
    expect(calls[1]!.options.signal!.aborted).toBe(true);
    expect(outcomes).toEqual(['rejected aborted', 'rejected aborted']);
    expect(screen.getByTestId('state').textContent).toBe('uploading - undefined');
    await act(async () => calls[2]!.resolve());
    expect(screen.getByTestId('state').textContent).toBe('idle - undefined');
  });

  it('aborts the running upload when the component unmounts', async () => {
    const { client, calls } = fakeUploadClient();
    const outcomes: string[] = [];
    const view = render(h(ReflexProvider, { client }, h(Uploader, { outcomes })));
    fireEvent.click(screen.getByTestId('start'));
    act(() => view.unmount());
    await flush();
    expect(calls[0]!.options.signal!.aborted).toBe(true);
    expect(outcomes).toEqual(['rejected aborted']);
  });

  it('still shows an abort the hook did not ask for (e.g. the client cancelled the upload) as an error', async () => {
    const { client, calls } = fakeUploadClient();
    const outcomes: string[] = [];
    render(h(ReflexProvider, { client }, h(Uploader, { outcomes })));
    fireEvent.click(screen.getByTestId('start'));
    await act(async () => calls[0]!.reject(new UploadRequestError(0, 'aborted', 'The upload was aborted.')));
    expect(outcomes).toEqual(['rejected aborted']);
    expect(screen.getByTestId('state').textContent).toBe('idle - 0 aborted -');
  });

  it('shows every failure as an UploadRequestError, so error.code is always there (the client refusing the files too)', async () => {
    const { client } = fakeUploadClient();
    // What the real client rejects with for files it cannot send (a stream in a browser): a TypeError.
    const refusal = new TypeError('upload(): "a.png" is a stream; in a browser pass a Blob/File or bytes.');
    client.upload = (() => Promise.reject(refusal)) as ReflexClient['upload'];
    const outcomes: string[] = [];
    let shown: ReturnType<typeof useReflexUpload>['error'];
    function Probe() {
      const { upload, error } = useReflexUpload(attach);
      shown = error;
      return h('button', { 'data-testid': 'go', onClick: () => upload([file]).catch((failure: unknown) => outcomes.push(String(failure))) }, 'go');
    }
    render(h(ReflexProvider, { client }, h(Probe)));
    fireEvent.click(screen.getByTestId('go'));
    await flush();
    // Before, `error` was typed (and here was) a plain Error: `error.code` did not compile, and was undefined.
    const code: string | undefined = shown?.code;
    expect(shown).toBeInstanceOf(UploadRequestError);
    expect([shown?.status, code, shown?.detail, shown?.cause]).toEqual([0, 'invalid_request', refusal.message, refusal]);
    // upload() still rejects with what the client threw.
    expect(outcomes).toEqual([String(refusal)]);
  });
});
