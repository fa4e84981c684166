/**
 * The overlay script any page of the app can include (`<script src="/_bridge/devtools/overlay.js"></script>`): a
 * small box in a corner with the latest event's tier, handler, duration and query count, following the event
 * stream (one tab of the app follows it for all of them, elected by a Web Lock, or by a lease in `localStorage` where
 * the page is not a secure context); a click opens the devtools page. Builds its box with
 * `textContent` only; `__DEVTOOLS_PATH__` is replaced by the configured path.
 */
export const DEVTOOLS_OVERLAY = `(() => {
  if (window.__reflexBridgeOverlay) return;
  window.__reflexBridgeOverlay = true;
  const script = document.currentScript;
  const origin = script && script.src ? new URL(script.src).origin : location.origin;
  const BASE = origin + '__DEVTOOLS_PATH__';
  const RETRY_REFUSED_MS = 30000;
  const TIER_COLORS = { none: '#3fb950', auth_only: '#d29922', full: '#f85149' };
  const box = document.createElement('a');
  box.href = BASE;
  box.target = '_blank';
  box.rel = 'noopener';
  const TITLE = 'ReflexBridge devtools: open the page';
  box.title = TITLE;
  box.style.cssText = 'position:fixed;right:12px;bottom:12px;z-index:2147483647;display:flex;gap:8px;align-items:center;' +
    'padding:6px 10px;border-radius:8px;background:rgba(15,20,25,.92);color:#e6edf3;font:12px/1.3 ui-monospace,Menlo,monospace;' +
    'text-decoration:none;box-shadow:0 2px 10px rgba(0,0,0,.35)';
  const tier = document.createElement('span');
  tier.style.cssText = 'padding:1px 7px;border-radius:9px;color:#0d1117;font-weight:700;background:#6e7681';
  tier.textContent = 'bridge';
  const text = document.createElement('span');
  text.textContent = 'waiting for an event';
  box.append(tier, text);
  let shownAt = '';
  // Set while the stream is refused: the latest event fetched at load may answer after the refusal, and must not
  // cover it.
  let refused = false;
  const show = (event) => {
    if (refused) return;
    // The latest event answered by a fetch may arrive after a newer one from the stream.
    if (event.at < shownAt) return;
    shownAt = event.at;
    tier.textContent = event.tier;
    tier.style.background = TIER_COLORS[event.tier] || '#6e7681';
    const name = event.handler.replace(/^reflex___state____state\\./, '');
    text.textContent = name + ' · ' + event.durationMs.toFixed(1) + ' ms · ' + event.queryCount + ' q' + (event.error ? ' · ' + (event.error.code || event.error.name) : '');
    box.setAttribute('data-event-id', String(event.id));
    box.title = TITLE;
  };
  // Said instead of the latest event, which would otherwise stay on screen as if nothing happened since.
  const showRefused = () => {
    refused = true;
    tier.textContent = 'bridge';
    tier.style.background = '#6e7681';
    text.textContent = 'event stream refused: too many open';
    box.title = 'ReflexBridge devtools: the server refused the event stream, too many are open (devtools.maxStreamsPerAddress, ' +
      'devtools.maxStreams); close other devtools pages. Trying again every ' + (RETRY_REFUSED_MS / 1000) + ' s. Click to open the page';
  };
  // The stream is (again) followed, by this tab or the one holding it for all.
  const followed = () => {
    if (!refused) return;
    refused = false;
    text.textContent = 'waiting for an event';
    box.title = TITLE;
  };
  const mount = () => document.body.append(box);
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
  const showLatest = (channel) => fetch(BASE + '/events?limit=1', { credentials: 'same-origin' }).then((r) => r.json()).then((body) => {
    if (!body.events[0]) return;
    show(body.events[0]);
    if (channel) channel.postMessage(body.events[0]);
  }).catch(() => {});
  showLatest();
  // One stream for all the app's tabs: over HTTP/1.1 a browser opens at most 6 connections per host, for all its
  // tabs, and a stream holds one for as long as its tab lives, so 6 tabs with the overlay left a 7th unable to load
  // anything from the app. The tab holding a Web Lock follows the stream and passes each event to the others on a
  // BroadcastChannel; when it closes, the lock (and the stream) goes to another tab. A page that is not a secure
  // context (the app opened by a LAN address over http) has no navigator.locks: there a lease in localStorage
  // elects the tab instead. Without either, each tab follows the stream itself.
  const follow = (channel) => {
    let stream;
    let stopped = false;
    const open = () => {
      if (stopped) return;
      stream = new EventSource(BASE + '/stream');
      // What happened while no tab followed the stream (this tab just took it over, or it reconnected).
      stream.onopen = () => {
        followed();
        if (channel) channel.postMessage({ refused: false });
        showLatest(channel);
      };
      stream.onmessage = (message) => {
        const event = JSON.parse(message.data);
        show(event);
        if (channel) channel.postMessage(event);
      };
      // A refused stream (429/503: devtools.maxStreamsPerAddress or maxStreams open) is CLOSED: EventSource never
      // connects again by itself, and the overlay went on showing an old event. A lost connection is CONNECTING.
      stream.onerror = () => {
        if (stream.readyState !== EventSource.CLOSED) return;
        showRefused();
        if (channel) channel.postMessage({ refused: true });
        setTimeout(open, RETRY_REFUSED_MS);
      };
    };
    open();
    return () => {
      stopped = true;
      stream.close();
    };
  };
  const listen = (channel) => {
    channel.onmessage = (message) => {
      if (message.data.refused === true) return showRefused();
      followed();
      if (message.data.refused === undefined) show(message.data);
    };
  };
  /**
   * The lease: the tab named in it follows the stream and renews it every RENEW_MS; another tab takes it once it has
   * not been renewed for LEASE_MS (its tab closed, or was frozen in the background), and the old holder, if it comes
   * back, sees the new name and stops its stream. Two tabs taking it at the same moment: the last write wins, and
   * each checks it is still named before it follows.
   */
  const elect = (channel) => {
    const KEY = 'reflex-bridge-devtools:' + BASE;
    const LEASE_MS = 5000;
    const RENEW_MS = 1500;
    const me = Math.random().toString(36).slice(2) + Date.now().toString(36);
    let stop;
    const read = () => {
      try {
        return JSON.parse(localStorage.getItem(KEY) || 'null');
      } catch {
        return null;
      }
    };
    const tick = () => {
      const lease = read();
      if (lease && lease.id !== me && lease.until > Date.now()) {
        if (stop) stop();
        stop = undefined;
        return;
      }
      try {
        localStorage.setItem(KEY, JSON.stringify({ id: me, until: Date.now() + LEASE_MS }));
      } catch {
        // Storage full or refused: this tab cannot take part in the election, so it follows the stream itself.
        if (!stop) stop = follow(channel);
        return;
      }
      if (stop) return;
      setTimeout(() => {
        const now = read();
        if (!stop && now && now.id === me) stop = follow(channel);
      }, 250);
    };
    tick();
    setInterval(tick, RENEW_MS);
    // Handed over at once when this tab goes, rather than after LEASE_MS.
    addEventListener('pagehide', () => {
      const lease = read();
      if (lease && lease.id === me) localStorage.removeItem(KEY);
    });
  };
  let storage;
  try {
    storage = window.localStorage;
  } catch {
    storage = undefined; // storage blocked for this page
  }
  if (typeof BroadcastChannel === 'function' && navigator.locks) {
    const channel = new BroadcastChannel('reflex-bridge-devtools:' + BASE);
    listen(channel);
    // Never settles: the lock is held until this tab goes away.
    navigator.locks.request('reflex-bridge-devtools:' + BASE, () => {
      follow(channel);
      return new Promise(() => {});
    });
  } else if (typeof BroadcastChannel === 'function' && storage) {
    const channel = new BroadcastChannel('reflex-bridge-devtools:' + BASE);
    listen(channel);
    elect(channel);
  } else follow();
})();
`;
