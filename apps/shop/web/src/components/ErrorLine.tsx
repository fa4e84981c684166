import { useReflexErrors } from '@reflex-bridge/react';
import { AccountState, CartState } from '../generated/reflex-states.js';
import { useUploadError } from '../upload-error.context.js';

/**
 * The page's error lines: the last refused cart action (cleared by the cart itself once an action goes through),
 * the last refused upload, and other refusals (dismissable). Login refusals show beside the login form.
 */
export function ErrorLine() {
  const { errors, dismiss } = useReflexErrors();
  const upload = useUploadError();
  const cartError = errors.findLast((error) => error.event?.startsWith(CartState.$state));
  const others = errors.filter((error) => !error.event?.startsWith(CartState.$state) && !error.event?.startsWith(AccountState.$state));
  return (
    <div className="errors">
      <p id="cart-error" className="error" data-testid="cart-error">
        {cartError?.message ?? ''}
      </p>
      <p id="upload-error" className="error" data-testid="upload-error">
        {upload.message}
      </p>
      {others.length > 0 && (
        <ul className="toasts" data-testid="errors">
          {others.slice(-3).map((error, index) => (
            <li key={`${index}-${error.message}`}>
              <span>{error.message}</span>
              <button type="button" aria-label="Dismiss" onClick={() => dismiss(error)}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
