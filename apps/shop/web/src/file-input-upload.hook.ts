import { type ChangeEvent } from 'react';
import { uploadMessage, useUploadError } from './upload-error.context.js';

/** The image types the shop's upload inputs offer (the server checks the bytes again). */
export const IMAGE_TYPES = 'image/png,image/jpeg,image/gif,image/webp';

/**
 * The `onChange` of a file input that uploads the chosen file with `send`: clears the page's upload error first,
 * reports a refusal there, and empties the input afterwards so that choosing the same file again uploads again.
 */
export function useFileInputUpload(send: (file: File) => Promise<unknown>): (event: ChangeEvent<HTMLInputElement>) => void {
  const uploadError = useUploadError();
  return (event) => {
    const input = event.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    uploadError.report('');
    send(file)
      .catch((error: unknown) => uploadError.report(uploadMessage(error)))
      .finally(() => {
        input.value = '';
      });
  };
}
