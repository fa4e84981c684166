import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The Nest server `vite dev` forwards the shop's server routes to (SHOP_SERVER, default the shop's port 3000). */
const server = process.env.SHOP_SERVER ?? 'http://localhost:3000';

// The shop's web app. `vite build` writes apps/shop/web/dist (hashed files under assets/), which the shop serves;
// `vite` (dev, with HMR on :5173) proxies the event socket, uploads and the HTTP routes to the Nest server. Start
// the shop with FRONTEND_ORIGINS=http://localhost:5173 so it accepts the dev page's origin.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, assetsDir: 'assets' },
  server: {
    port: 5173,
    proxy: {
      '/_event': { target: server, ws: true, changeOrigin: false },
      '/_upload': { target: server },
      '/_bridge': { target: server },
      '/auth': { target: server },
      '/staff': { target: server },
      '/likes': { target: server },
      '/ping': { target: server },
    },
  },
});
