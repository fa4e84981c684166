import { createContext, useContext } from 'react';

/** Where a refused upload (avatar or product picture) is told: one message line for the page. */
export interface UploadErrorSink {
  message: string;
  report(message: string): void;
}

export const UploadErrorContext = createContext<UploadErrorSink>({ message: '', report: () => undefined });

export const useUploadError = (): UploadErrorSink => useContext(UploadErrorContext);

/** The message a failed upload shows: the server's `detail` when it gave one. */
export function uploadMessage(error: unknown): string {
  if (error && typeof error === 'object' && 'detail' in error && typeof error.detail === 'string' && error.detail) return error.detail;
  return error instanceof Error ? error.message : String(error);
}
