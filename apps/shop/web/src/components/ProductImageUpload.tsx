import { useReflexUpload } from '@reflex-bridge/react';
import { StaffState } from '../generated/reflex-states.js';
import { IMAGE_TYPES, useFileInputUpload } from '../file-input-upload.hook.js';

/** Staff only: attach a picture to a product (every open catalogue shows it, as a live update). */
export function ProductImageUpload({ productId }: { productId: number }) {
  const { upload, uploading, progress } = useReflexUpload(StaffState.attachImage);
  const choose = useFileInputUpload((file) => upload([file], { productId }));
  return (
    <>
      <label className="file-button staff">
        Picture <input type="file" accept={IMAGE_TYPES} onChange={choose} />
      </label>
      {uploading && <progress max={1} value={progress?.progress ?? 0} />}
    </>
  );
}
