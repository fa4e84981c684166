import { useEffect, useMemo, useState } from 'react';
import { handlerRef, useConnectionStatus, useReflexEvent } from '@reflex-bridge/react';
import { AccountState, FilterState } from './generated/reflex-states.js';
import { Header } from './components/Header.js';
import { Catalogue } from './components/Catalogue.js';
import { CartPanel } from './components/CartPanel.js';
import { ProductPage } from './components/ProductPage.js';
import { LikeButton } from './components/LikeButton.js';
import { ErrorLine } from './components/ErrorLine.js';
import { Link, matchRoute, usePath } from './router.js';
import { UploadErrorContext } from './upload-error.context.js';

/** LiveList's built-in handler: keeps the product list live (price changes, new products) for this connection. */
const liveSubscribe = handlerRef(FilterState, 'live_subscribe');

/** The shop: a header (account), and the page the path names: catalogue with the cart beside it, the cart, a product. */
export function App() {
  const route = matchRoute(usePath());
  const status = useConnectionStatus();
  const subscribe = useReflexEvent(liveSubscribe);
  const refresh = useReflexEvent(AccountState.refresh);
  const [uploadError, setUploadError] = useState('');
  const uploadErrors = useMemo(() => ({ message: uploadError, report: setUploadError }), [uploadError]);

  // Each time the socket is (re)connected and hydrated: the live subscription ends with a connection, and the auth
  // snapshot is refreshed by any bridged event, so the header is right after a reload.
  useEffect(() => {
    if (status !== 'ready') return;
    subscribe();
    refresh();
  }, [status, subscribe, refresh]);

  useEffect(() => {
    document.title = route.page === 'cart' ? 'Cart · ReflexBridge shop' : 'ReflexBridge shop';
  }, [route.page]);

  return (
    <UploadErrorContext.Provider value={uploadErrors}>
      <Header />
      {route.page === 'cart' ? (
        <main className="single">
          <section className="panel">
            <nav className="crumbs">
              <Link to="/">← Catalogue</Link>
            </nav>
            <CartPanel full />
            <Aside />
          </section>
        </main>
      ) : (
        <main>
          {route.page === 'catalogue' && <Catalogue />}
          {route.page === 'product' && <ProductPage id={route.id} />}
          {route.page === 'not-found' && (
            <section className="panel" data-testid="not-found">
              <h2>Page not found</h2>
              <p>
                <Link to="/">Back to the catalogue</Link>
              </p>
            </section>
          )}
          <aside className="panel" id="cart">
            <CartPanel />
            <Aside />
          </aside>
        </main>
      )}
    </UploadErrorContext.Provider>
  );
}

/** Likes and the page's error lines, under the cart. */
function Aside() {
  return (
    <>
      <LikeButton />
      <ErrorLine />
    </>
  );
}
