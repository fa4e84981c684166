/**
 * The devtools page: one self-contained HTML document (inline CSS and JS, nothing fetched from elsewhere). It
 * loads the recent events, then follows the event stream; a row opens the event's waterfall, queries and delta.
 * Every value from the server is written with `textContent`, never as HTML. `__DEVTOOLS_PATH__` is replaced by
 * the configured path (validated at startup to letters, digits, `_`, `-` and `/`).
 */
export const DEVTOOLS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ReflexBridge devtools</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#26303b; --text:#e6edf3; --dim:#8b98a5; --accent:#58a6ff;
    --none:#3fb950; --auth:#d29922; --full:#f85149; --mw:#a371f7; --guard:#f0883e; --intercept:#ffa657; --pipe:#d2a8ff; --filter:#ff7b72; --handler:#58a6ff; --delta:#39c5cf; --emit:#8b98a5; --query:#db61a2; --fast:#3fb950; --tier:#6e7681; }
  * { box-sizing: border-box; }
  body { margin:0; font:13px/1.45 ui-sans-serif, system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:center; gap:16px; padding:10px 18px; border-bottom:1px solid var(--line); background:var(--panel); }
  header h1 { font-size:15px; margin:0; font-weight:600; }
  header .live { display:flex; align-items:center; gap:6px; color:var(--dim); }
  header .dot { width:8px; height:8px; border-radius:50%; background:var(--dim); }
  header .dot.on { background:var(--none); box-shadow:0 0 6px var(--none); }
  header .spacer { flex:1; }
  input, select, button { font:inherit; color:var(--text); background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:5px 8px; }
  button { cursor:pointer; }
  button:hover { border-color:var(--accent); }
  main { display:grid; grid-template-columns: minmax(520px, 1.15fr) minmax(420px, 1fr); gap:14px; padding:14px 18px; height:calc(100vh - 50px); }
  section { background:var(--panel); border:1px solid var(--line); border-radius:10px; overflow:hidden; display:flex; flex-direction:column; min-height:0; }
  section h2 { font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0; padding:10px 14px; border-bottom:1px solid var(--line); font-weight:600; }
  .filters { display:flex; gap:8px; padding:10px 14px; border-bottom:1px solid var(--line); }
  .filters input { flex:1; min-width:0; }
  .scroll { overflow:auto; flex:1; min-height:0; }
  table { width:100%; border-collapse:collapse; }
  th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { position:sticky; top:0; background:var(--panel); color:var(--dim); font-weight:500; font-size:12px; }
  tbody tr { cursor:pointer; }
  tbody tr:hover { background:#1f2731; }
  tbody tr.selected { background:#1c2c44; }
  tbody tr.fresh { animation: flash 1.2s ease-out; }
  @keyframes flash { from { background:#24405f; } to { background:transparent; } }
  td.num { text-align:right; font-variant-numeric:tabular-nums; }
  td.handler { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; max-width:300px; overflow:hidden; text-overflow:ellipsis; }
  .tier { display:inline-block; padding:1px 8px; border-radius:10px; font-size:11px; font-weight:600; color:#0d1117; }
  .tier.none { background:var(--none); } .tier.auth_only { background:var(--auth); } .tier.full { background:var(--full); }
  .err { color:var(--full); font-weight:600; }
  .muted { color:var(--dim); }
  .detail { padding:14px; overflow:auto; flex:1; }
  .detail h3 { margin:0 0 4px; font-size:15px; font-family:ui-monospace, monospace; word-break:break-all; }
  .facts { display:grid; grid-template-columns: max-content 1fr; gap:3px 14px; margin:10px 0 16px; }
  .facts dt { color:var(--dim); } .facts dd { margin:0; word-break:break-all; }
  .waterfall { display:grid; grid-template-columns: 190px 1fr 70px; gap:4px 10px; align-items:center; margin-bottom:18px; }
  .waterfall .label { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
  .waterfall .label.sub { padding-left:14px; color:var(--dim); }
  .waterfall .track { position:relative; height:16px; background:#0d1117; border-radius:4px; }
  .waterfall .bar { position:absolute; top:2px; height:12px; border-radius:3px; min-width:2px; }
  .waterfall .ms { text-align:right; font-variant-numeric:tabular-nums; color:var(--dim); }
  .legend { display:flex; gap:12px; flex-wrap:wrap; color:var(--dim); font-size:12px; margin-bottom:10px; }
  .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
  h4 { margin:16px 0 6px; font-size:12px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); }
  pre { margin:0; padding:8px 10px; background:#0d1117; border:1px solid var(--line); border-radius:6px; white-space:pre-wrap; word-break:break-all; font:12px/1.4 ui-monospace, monospace; max-height:220px; overflow:auto; }
  .query { margin-bottom:6px; } .query .meta { color:var(--dim); font-size:12px; margin-bottom:2px; }
  .advice { padding:8px 14px; border-top:1px solid var(--line); max-height:150px; overflow:auto; }
  .advice li { margin:3px 0; } .advice ul { margin:0; padding-left:18px; }
  .advice .could_be_none { color:var(--none); } .advice .needs_request { color:var(--auth); }
  .empty { padding:30px; text-align:center; color:var(--dim); }
  .hist td { padding:3px 8px; }
</style>
</head>
<body>
<header>
  <h1>ReflexBridge devtools</h1>
  <span class="live"><span class="dot" id="dot"></span><span id="status">connecting…</span></span>
  <span class="muted" id="count"></span>
  <span class="muted" id="omitted"></span>
  <span class="spacer"></span>
  <button id="clear" title="Drop the recorded events">Clear</button>
</header>
<main>
  <section>
    <h2>Events</h2>
    <div class="filters">
      <input id="f-handler" placeholder="Filter by handler" aria-label="Filter by handler">
      <select id="f-tier" aria-label="Filter by tier"><option value="">All tiers</option><option>none</option><option>auth_only</option><option>full</option></select>
      <input id="f-token" placeholder="Token" aria-label="Filter by token">
    </div>
    <div class="scroll">
      <table>
        <thead><tr><th>Time</th><th>Handler</th><th>Tier</th><th class="num">ms</th><th class="num">Queries</th><th>Auth</th><th class="num">Delta</th><th>User</th><th>Error</th></tr></thead>
        <tbody id="rows"></tbody>
      </table>
      <div class="empty" id="empty">No events yet: use the app, they appear here as they happen.</div>
    </div>
    <div class="advice"><h4 style="margin-top:0">Tier advisor</h4><ul id="advice"><li class="muted">Nothing to advise yet.</li></ul></div>
    <div class="advice"><h4 style="margin-top:0">Histograms (all events since start)</h4><div id="histograms" class="muted">Give the module <code>metrics: { registry }</code> (prom-client) to see them here.</div></div>
  </section>
  <section>
    <h2>Event</h2>
    <div class="detail" id="detail"><div class="empty">Select an event to see its waterfall, queries and delta.</div></div>
  </section>
</main>
<script>
(() => {
  const BASE = '__DEVTOOLS_PATH__';
  const MAX_ROWS = 500;
  const RETRY_REFUSED_MS = 30000;
  let refusedBefore = false;
  const COLORS = { total:'#4b5563', tier:'var(--tier)', middleware:'var(--mw)', fast_auth:'var(--fast)', guards:'var(--guard)', interceptors:'var(--intercept)', pipes:'var(--pipe)', filters:'var(--filter)', handler:'var(--handler)', query:'var(--query)', delta:'var(--delta)', emit:'var(--emit)', finish:'#e3b341' };
  const LABELS = { tier:'tier', middleware:'middleware', fast_auth:'fast auth', pipes:'pipes', guards:'guards', interceptors:'interceptors', handler:'handler', query:'query', filters:'exception filters', delta:'delta', emit:'emit', finish:'session save & end' };
  // The "guards" phase total covers the guards and interceptors before the handler.
  const SUMMARY = { guards:'guards & interceptors' };
  const events = new Map();
  let selected;
  const $ = (id) => document.getElementById(id);
  const el = (tag, props, ...children) => {
    const node = document.createElement(tag);
    if (props) for (const [key, value] of Object.entries(props)) {
      if (key === 'style') node.style.cssText = value; else if (key === 'text') node.textContent = value; else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== undefined && child !== null) node.append(child);
    return node;
  };
  const ms = (value) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
  const short = (name) => name.replace(/^reflex___state____state\\./, '');
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12:false }) + '.' + String(new Date(iso).getMilliseconds()).padStart(3, '0');
  const tierBadge = (tier) => el('span', { class: 'tier ' + tier, text: tier });

  const filters = () => ({ handler: $('f-handler').value.trim(), tier: $('f-tier').value, token: $('f-token').value.trim() });
  const matches = (event, f) => (!f.handler || event.handler.includes(f.handler)) && (!f.tier || event.tier === f.tier) && (!f.token || event.token === f.token);

  function row(event, fresh) {
    const tr = el('tr', { 'data-id': String(event.id), class: fresh ? 'fresh' : '' },
      el('td', { class: 'muted', text: time(event.at) }),
      el('td', { class: 'handler', title: event.handler, text: short(event.handler) }),
      el('td', null, tierBadge(event.tier)),
      el('td', { class: 'num', text: ms(event.durationMs) }),
      el('td', { class: 'num', text: String(event.queryCount) }),
      el('td', { class: 'muted', text: event.fastAuth ? 'fast ' + event.fastAuth : event.tier === 'none' ? '' : event.authenticated ? 'session' : 'anonymous' }),
      el('td', { class: 'num', text: event.deltaBytes ? event.deltaBytes + ' B' : '' }),
      el('td', { text: event.user || '' }),
      el('td', { class: 'err', text: event.error ? (event.error.code || event.error.name) : '' }));
    if (selected === event.id) tr.classList.add('selected');
    tr.addEventListener('click', () => select(event.id));
    return tr;
  }

  function render() {
    const f = filters();
    const body = $('rows');
    body.replaceChildren(...[...events.values()].sort((a, b) => b.id - a.id).filter((event) => matches(event, f)).map((event) => row(event, false)));
    $('empty').style.display = body.children.length ? 'none' : 'block';
    $('count').textContent = events.size + ' events';
  }

  function add(event) {
    const known = events.has(event.id);
    events.set(event.id, event);
    if (events.size > MAX_ROWS) events.delete(Math.min(...events.keys()));
    const f = filters();
    if (known || !matches(event, f)) { render(); if (selected === event.id) select(event.id); return; }
    $('rows').prepend(row(event, true));
    while ($('rows').children.length > MAX_ROWS) $('rows').lastChild.remove();
    $('empty').style.display = 'none';
    $('count').textContent = events.size + ' events';
  }

  function waterfall(event) {
    const total = Math.max(event.durationMs, ...event.phases.map((step) => step.startMs + step.durationMs), ...event.queries.map((q) => q.startMs + (q.durationMs || 0)), 0.001);
    const grid = el('div', { class: 'waterfall' });
    const named = new Set(event.phases.filter((step) => step.name !== step.phase).map((step) => step.phase));
    const rows = [];
    for (const step of event.phases) {
      // A phase with named steps (each middleware; each guard and interceptor by class) shows those instead
      // of its summary row.
      if (step.name === step.phase && (named.has(step.phase) || (step.phase === 'guards' && named.has('interceptors')))) continue;
      rows.push({ label: step.name === step.phase ? SUMMARY[step.phase] || LABELS[step.phase] || step.phase : step.name, sub: step.name !== step.phase, phase: step.phase, start: step.startMs, duration: step.durationMs, title: (LABELS[step.phase] || step.phase) + (step.name !== step.phase ? ': ' + step.name : '') });
    }
    for (const query of event.queries) rows.push({ label: query.sql, sub: true, phase: 'query', start: query.startMs, duration: query.durationMs || 0, title: query.sql });
    rows.sort((a, b) => a.start - b.start);
    rows.push({ label: 'total', phase: 'total', start: 0, duration: event.durationMs, title: 'the whole event' });
    for (const item of rows) {
      const left = (item.start / total) * 100;
      const width = Math.max((item.duration / total) * 100, 0.4);
      grid.append(
        el('div', { class: 'label' + (item.sub ? ' sub' : ''), title: item.title, text: item.label }),
        el('div', { class: 'track' }, el('div', { class: 'bar', title: item.title + ': ' + ms(item.duration) + ' ms', style: 'left:' + left + '%;width:' + width + '%;background:' + (COLORS[item.phase] || 'var(--accent)') })),
        el('div', { class: 'ms', text: ms(item.duration) + ' ms' }));
    }
    return grid;
  }

  function select(id) {
    selected = id;
    for (const tr of $('rows').children) tr.classList.toggle('selected', tr.getAttribute('data-id') === String(id));
    const event = events.get(id);
    if (!event) return;
    const facts = el('dl', { class: 'facts' });
    const fact = (name, value) => { if (value !== undefined && value !== '') facts.append(el('dt', { text: name }), el('dd', null, value)); };
    fact('Tier', el('span', null, tierBadge(event.tier), ' ' + event.tierReason));
    fact('Duration', ms(event.durationMs) + ' ms');
    fact('Steps', event.droppedSteps ? event.phases.length + ' drawn, ' + event.droppedSteps + ' more not kept' : '');
    fact('Queries', event.queryCount + ' (' + ms(event.queryMs) + ' ms)');
    if (event.fastAuth) fact('Fast auth', event.fastAuth + ' (event cache: ' + event.cache.hits + ' hit, ' + event.cache.misses + ' miss)');
    fact('User', event.authenticated ? event.user || 'authenticated' : event.tier === 'none' ? 'not bound (none tier)' : 'anonymous');
    fact('Session', event.sessionHash ? 'sha256 ' + event.sessionHash + '…' : '');
    fact('Path', event.path);
    fact('Token', event.token);
    if (event.enhancers) for (const [kind, names] of Object.entries(event.enhancers)) if (names.length) fact(kind[0].toUpperCase() + kind.slice(1), names.join(', '));
    fact('Delta', event.deltaBytes + ' bytes');
    if (event.error) fact('Error', el('span', { class: 'err', text: (event.error.code ? event.error.code + ': ' : event.error.name + ': ') + event.error.message }));
    const legend = el('div', { class: 'legend' }, ...Object.entries(LABELS).map(([phase, label]) => el('span', null, el('i', { style: 'background:' + COLORS[phase] }), label)));
    const parts = [el('h3', { text: short(event.handler) }), el('div', { class: 'muted', text: time(event.at) + ' · #' + event.id }), facts, el('h4', { text: 'Waterfall' }), legend, waterfall(event)];
    if (event.queries.length) {
      parts.push(el('h4', { text: 'Queries' }));
      for (const query of event.queries) parts.push(el('div', { class: 'query' }, el('div', { class: 'meta', text: '+' + ms(query.startMs) + ' ms · ' + (query.durationMs === undefined ? 'no answer' : ms(query.durationMs) + ' ms') + (query.failed ? ' · failed' : '') }), el('pre', { text: query.sql })));
    }
    if (event.delta) {
      let text = event.delta;
      try { text = event.delta.split('\\n').map((part) => JSON.stringify(JSON.parse(part), null, 2)).join('\\n'); } catch {}
      parts.push(el('h4', { text: 'Delta' }), el('pre', { text }));
    }
    parts.push(el('h4', { text: 'State' }), stateBlock(event.token));
    $('detail').replaceChildren(...parts);
  }

  function stateBlock(token) {
    const pre = el('pre', { class: 'muted', text: token ? 'Load the state tree of this token' : 'No token' });
    if (!token) return pre;
    const button = el('button', { text: 'Show state tree' });
    button.addEventListener('click', async () => {
      const response = await fetch(BASE + '/state/' + encodeURIComponent(token));
      pre.textContent = response.ok ? JSON.stringify((await response.json()).state, null, 2) : 'The store holds no state for this token.';
    });
    return el('div', null, button, pre);
  }

  async function loadAdvice() {
    try {
      const { advice } = await (await fetch(BASE + '/advice')).json();
      $('advice').replaceChildren(...(advice.length ? advice.map((item) => el('li', { class: item.kind, text: item.message })) : [el('li', { class: 'muted', text: 'Nothing to advise yet.' })]));
    } catch {}
  }

  /** The duration histogram by tier and phase: count, mean and the bucket holding the 95th percentile. */
  async function loadHistograms() {
    try {
      const { histograms } = await (await fetch(BASE + '/metrics')).json();
      const duration = histograms.find((metric) => metric.name === 'reflex_bridge_event_duration_seconds');
      if (!duration) return;
      const series = new Map();
      for (const value of duration.values) {
        const key = value.labels.tier + ' ' + value.labels.phase;
        const entry = series.get(key) || { tier: value.labels.tier, phase: value.labels.phase, buckets: [], sum: 0, count: 0 };
        if (value.metricName.endsWith('_bucket')) entry.buckets.push([Number(value.labels.le === '+Inf' ? Infinity : value.labels.le), value.value]);
        else if (value.metricName.endsWith('_sum')) entry.sum = value.value;
        else if (value.metricName.endsWith('_count')) entry.count = value.value;
        series.set(key, entry);
      }
      const rows = [...series.values()].filter((entry) => entry.count > 0).sort((a, b) => a.tier.localeCompare(b.tier) || a.phase.localeCompare(b.phase));
      const p95 = (entry) => { const bucket = entry.buckets.sort((a, b) => a[0] - b[0]).find(([, n]) => n >= entry.count * 0.95); return bucket && bucket[0] !== Infinity ? '≤ ' + ms(bucket[0] * 1000) : '> 2500'; };
      const table = el('table', { class: 'hist' }, el('thead', null, el('tr', null, ...['Tier', 'Phase', 'Events', 'Mean ms', 'p95 ms'].map((name) => el('th', { text: name })))),
        el('tbody', null, ...rows.map((entry) => el('tr', null, el('td', null, tierBadge(entry.tier)), el('td', { text: entry.phase }), el('td', { class: 'num', text: String(entry.count) }), el('td', { class: 'num', text: ms((entry.sum / entry.count) * 1000) }), el('td', { class: 'num', text: p95(entry) })))));
      $('histograms').replaceChildren(table);
    } catch {}
  }

  /**
   * The held events, newest first, merged into the table. The answer holds at most 4 MiB of events: \`omitted\` counts
   * the older ones it left out, said next to the count rather than shown as fewer rows without a word.
   */
  async function loadRecent() {
    const { events: recent, omitted } = await (await fetch(BASE + '/events?limit=' + MAX_ROWS)).json();
    for (const event of recent.reverse()) if (!events.has(event.id)) events.set(event.id, event);
    $('omitted').textContent = omitted > 0 ? '· ' + omitted + ' older events not loaded (more than 4 MiB of them held)' : '';
    render();
  }

  /**
   * Follows the event stream. A refused stream (429/503: devtools.maxStreamsPerAddress or maxStreams open) is CLOSED:
   * EventSource never connects again by itself, so it is tried again every 30 s, as the overlay does, and the events
   * recorded meanwhile are loaded once it is back. A lost connection is CONNECTING: EventSource retries by itself.
   */
  function follow() {
    const stream = new EventSource(BASE + '/stream');
    let wasRefused = refusedBefore;
    stream.onopen = () => {
      $('dot').classList.add('on');
      $('status').textContent = 'live';
      if (wasRefused) loadRecent().catch(() => undefined);
      wasRefused = refusedBefore = false;
    };
    stream.onerror = () => {
      $('dot').classList.remove('on');
      if (stream.readyState !== EventSource.CLOSED) {
        $('status').textContent = 'reconnecting…';
        return;
      }
      refusedBefore = true;
      $('status').textContent = 'stream refused: too many open (devtools.maxStreamsPerAddress, devtools.maxStreams); close other devtools pages. Trying again every ' + (RETRY_REFUSED_MS / 1000) + ' s';
      setTimeout(follow, RETRY_REFUSED_MS);
    };
    stream.onmessage = (message) => add(JSON.parse(message.data));
  }

  async function start() {
    await loadRecent();
    follow();
    loadAdvice();
    loadHistograms();
    setInterval(() => { loadAdvice(); loadHistograms(); }, 3000);
  }

  for (const id of ['f-handler', 'f-token']) $(id).addEventListener('input', render);
  $('f-tier').addEventListener('change', render);
  $('clear').addEventListener('click', async () => {
    await fetch(BASE + '/events', { method: 'DELETE' });
    events.clear();
    selected = undefined;
    render();
    $('detail').replaceChildren(el('div', { class: 'empty', text: 'Select an event to see its waterfall, queries and delta.' }));
  });
  start();
})();
</script>
</body>
</html>
`;
