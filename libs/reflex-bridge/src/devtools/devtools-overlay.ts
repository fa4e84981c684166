/**
 * The overlay script any page of the app can include (`<script src="/_bridge/devtools/overlay.js"></script>`): a
 * small box in a corner with the latest event's tier, handler, duration and query count, following the event
 * stream; a click opens the devtools page. Builds its box with `textContent` only; `__DEVTOOLS_PATH__` is
 * replaced by the configured path.
 */
export const DEVTOOLS_OVERLAY = `(() => {
  if (window.__reflexBridgeOverlay) return;
  window.__reflexBridgeOverlay = true;
  const script = document.currentScript;
  const origin = script && script.src ? new URL(script.src).origin : location.origin;
  const BASE = origin + '__DEVTOOLS_PATH__';
  const TIER_COLORS = { none: '#3fb950', auth_only: '#d29922', full: '#f85149' };
  const box = document.createElement('a');
  box.href = BASE;
  box.target = '_blank';
  box.rel = 'noopener';
  box.title = 'ReflexBridge devtools: open the page';
  box.style.cssText = 'position:fixed;right:12px;bottom:12px;z-index:2147483647;display:flex;gap:8px;align-items:center;' +
    'padding:6px 10px;border-radius:8px;background:rgba(15,20,25,.92);color:#e6edf3;font:12px/1.3 ui-monospace,Menlo,monospace;' +
    'text-decoration:none;box-shadow:0 2px 10px rgba(0,0,0,.35)';
  const tier = document.createElement('span');
  tier.style.cssText = 'padding:1px 7px;border-radius:9px;color:#0d1117;font-weight:700;background:#6e7681';
  tier.textContent = 'bridge';
  const text = document.createElement('span');
  text.textContent = 'waiting for an event';
  box.append(tier, text);
  const show = (event) => {
    tier.textContent = event.tier;
    tier.style.background = TIER_COLORS[event.tier] || '#6e7681';
    const name = event.handler.replace(/^reflex___state____state\\./, '');
    text.textContent = name + ' · ' + event.durationMs.toFixed(1) + ' ms · ' + event.queryCount + ' q' + (event.error ? ' · ' + (event.error.code || event.error.name) : '');
    box.setAttribute('data-event-id', String(event.id));
  };
  const mount = () => document.body.append(box);
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
  fetch(BASE + '/events?limit=1', { credentials: 'same-origin' }).then((r) => r.json()).then((body) => { if (body.events[0]) show(body.events[0]); }).catch(() => {});
  const stream = new EventSource(BASE + '/stream');
  stream.onmessage = (message) => show(JSON.parse(message.data));
})();
`;
