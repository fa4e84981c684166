import { useReflexUpload } from '@reflex-bridge/react';
import { AccountState } from '../generated/reflex-states.js';
import { IMAGE_TYPES, useFileInputUpload } from '../file-input-upload.hook.js';

/** The signed-in shopper's avatar and its file input, with the upload's progress. */
export function AvatarUpload({ url }: { url: string }) {
  const { upload, uploading, progress } = useReflexUpload(AccountState.uploadAvatar);
  const choose = useFileInputUpload((file) => upload([file]));
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
