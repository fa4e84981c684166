import { type ChangeEvent } from 'react';
import { useReflexUpload } from '@reflex-bridge/react';
import { StaffState } from '../generated/reflex-states.js';
import { uploadMessage, useUploadError } from '../upload-error.context.js';

/** Staff only: attach a picture to a product (every open catalogue shows it, as a live update). */
export function ProductImageUpload({ productId }: { productId: number }) {
  const { upload, uploading, progress } = useReflexUpload(StaffState.attachImage);
  const uploadError = useUploadError();
  const choose = (event: ChangeEvent<HTMLInputElement>): void => {
    const input = event.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    uploadError.report('');
    upload([file], { productId })
      .catch((error: unknown) => uploadError.report(uploadMessage(error)))
      .finally(() => {
        input.value = '';
      });
  };
  return (
    <>
      <label className="file-button staff">
        Picture <input type="file" accept="image/png,image/jpeg,image/gif,image/webp" onChange={choose} />
      </label>
      {uploading && <progress max={1} value={progress?.progress ?? 0} />}
    </>
  );
}
