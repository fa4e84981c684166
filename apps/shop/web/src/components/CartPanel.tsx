import { useEffect, useRef } from 'react';
import { useReflexErrors, useReflexEvent, useReflexState, useReflexVar } from '@reflex-bridge/react';
import { AccountState, CartState, FilterState } from '../generated/reflex-states.js';
import { money } from '../money.js';
import { useCartSync } from '../cart-sync.hook.js';
import { Link } from '../router.js';

/** The cart: its lines, total and clear button; beside the catalogue, or the whole `/cart` page (`full`). */
export function CartPanel({ full = false }: { full?: boolean }) {
  const cart = useReflexState(CartState);
  const remove = useReflexEvent(CartState.remove);
  const clear = useReflexEvent(CartState.clear);
  const refreshPrices = useReflexEvent(CartState.refreshPrices);
  const checkout = useReflexEvent(CartState.checkout);
  // The cart reads its prices again when it opens, and when the live catalogue shows one of its products at another
  // price (staff changed it): not on every change of the list, which a filter makes at each keystroke.
  const catalogue = useReflexVar(FilterState, 'products');
  const filled = (cart?.count ?? 0) > 0;
  const priced = new Map((cart?.lines ?? []).map((line) => [line.productId, line.price]));
  const stale = (catalogue ?? []).some((product) => priced.has(product.id) && priced.get(product.id) !== product.price);
  useEffect(() => {
    if (filled) refreshPrices();
  }, [filled]);
  // A signed-in user's cart is kept with the account: a new tab reads it when the user is known, and a tab read it
  // again when it comes back to the front (another tab or device may have changed it meanwhile).
  // The account's snapshot, which the page refreshes when it loads (the cart's own is synced at its first event).
  const account = useReflexState(AccountState);
  const signedInAs = account?.isAuthenticated ? account.username : '';
  useEffect(() => {
    if (!signedInAs) return;
    refreshPrices();
    const onVisible = () => {
      if (document.visibilityState === 'visible') refreshPrices();
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, [signedInAs]);
  // The user's other tabs in this browser follow this one's cart as it changes, not only when brought to the front.
  useCartSync(signedInAs, cart?.lines, refreshPrices);
  useEffect(() => {
    if (stale) refreshPrices();
  }, [stale, catalogue]);
  const { errors, dismiss } = useReflexErrors();
  // A cart update means the last cart action went through: any earlier refusal no longer applies.
  const lines = cart?.lines;
  const firstRender = useRef(true);
  useEffect(() => {
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    for (const error of errors) if (error.event?.startsWith(CartState.$state)) dismiss(error);
    // Only a change of the cart clears its errors, not a new error (so `errors` is left out of the dependencies).
  }, [lines]);
  return (
    <div className={full ? 'cart full' : 'cart'} data-testid={full ? 'cart-page' : 'cart'}>
      <h2>
        {full ? 'Your cart' : 'Cart'} (<span id="cart-count">{cart?.count ?? 0}</span>)
      </h2>
      <ul id="cart-lines" className="cart-lines">
        {(lines ?? []).map((line) => (
          <li key={line.productId}>
            <span>
              {line.quantity} × <Link to={`/product/${line.productId}`}>{line.name}</Link>
            </span>
            {line.addedPrice !== line.price && (
              <span className="price-changed" data-testid="price-changed">
                now {money(line.price)} (was {money(line.addedPrice)})
              </span>
            )}
            {full && <span className="line-total">{money(line.price * line.quantity)}</span>}
            <button type="button" className="remove" aria-label={`Remove ${line.name}`} onClick={() => remove({ productId: line.productId })}>
              ✕
            </button>
          </li>
        ))}
      </ul>
      {cart && cart.count === 0 && <p className="muted">The cart is empty.</p>}
      <p className="total">
        Total: <strong id="cart-total">{money(cart?.total ?? 0)}</strong>
      </p>
      <div className="actions">
        <button id="cart-clear" type="button" onClick={() => clear()}>
          Clear
        </button>
        {full && (
          <button id="cart-checkout" type="button" disabled={!filled} onClick={() => checkout()}>
            Check out
          </button>
        )}
        {!full && <Link to="/cart">View cart →</Link>}
      </div>
      {cart?.order && (
        <p id="cart-order" className="muted">
          Order #{cart.order.id} placed: {money(cart.order.total)}.
        </p>
      )}
    </div>
  );
}
