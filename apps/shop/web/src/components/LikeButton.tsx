import { useReflexEvent, useReflexVar } from '@reflex-bridge/react';
import { LikesState } from '../generated/reflex-states.js';

/** A per-visitor like counter. */
export function LikeButton() {
  const count = useReflexVar(LikesState, 'count');
  const like = useReflexEvent(LikesState.like);
  return (
    <p className="likes">
      <button id="like" data-testid="like" type="button" onClick={() => like()}>
        ♥ Like
      </button>{' '}
      <span id="likes">{count ?? 0}</span>
    </p>
  );
}
