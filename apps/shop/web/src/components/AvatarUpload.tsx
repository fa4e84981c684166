import { type ChangeEvent } from 'react';
import { useReflexUpload } from '@reflex-bridge/react';
import { AccountState } from '../generated/reflex-states.js';
import { uploadMessage, useUploadError } from '../upload-error.context.js';

const IMAGE_TYPES = 'image/png,image/jpeg,image/gif,image/webp';

/** The signed-in shopper's avatar and its file input, with the upload's progress. */
export function AvatarUpload({ url }: { url: string }) {
  const { upload, uploading, progress } = useReflexUpload(AccountState.uploadAvatar);
  const uploadError = useUploadError();
  const choose = (event: ChangeEvent<HTMLInputElement>): void => {
    const input = event.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    uploadError.report('');
    upload([file])
      .catch((error: unknown) => uploadError.report(uploadMessage(error)))
      .finally(() => {
        input.value = '';
      });
  };
  return (
    <span id="avatar-box" className="avatar-box">
      {url ? <img id="avatar" data-testid="avatar" src={url} alt="" width={32} height={32} /> : <span className="avatar-placeholder" aria-hidden="true" />}
      <label className="file-button">
        Avatar
        <input id="avatar-file" data-testid="avatar-file" type="file" accept={IMAGE_TYPES} onChange={choose} />
      </label>
      {uploading && <progress id="avatar-progress" max={1} value={progress?.progress ?? 0} />}
    </span>
  );
}
