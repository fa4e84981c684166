import { createRoot } from 'react-dom/client';
import { ReflexProvider } from '@reflex-bridge/react';
import type { ReflexClientOptions } from '@reflex-bridge/client';
import { FilterState } from './generated/reflex-states.js';
import { App } from './App.js';
import { navigate, usePath } from './router.js';
import './styles.css';

// The vars the server keeps in the browser (FilterState's @LocalStorage category), in the shape of a Reflex
// frontend's compiled client storage map: the client sends their values when a page loads and writes them back
// when they change, under the keys Reflex's own client uses.
const options: ReflexClientOptions = {
  url: window.location.origin,
  clientStorage: { local_storage: { [`${FilterState.$state}.category_rx_state_`]: { sync: true } } },
};

/** The provider follows the router: a navigation runs the new page's on-load handlers, a server redirect navigates. */
function Root() {
  const page = usePath();
  return (
    <ReflexProvider options={options} page={page} navigate={(path, redirect) => navigate(path, { replace: redirect.replace })}>
      <App />
    </ReflexProvider>
  );
}

// No StrictMode: its double mount would connect, drop and reconnect the socket on every start in development.
createRoot(document.getElementById('root')!).render(<Root />);
