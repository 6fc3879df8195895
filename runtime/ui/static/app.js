// The live view's page: preact + htm as plain modules (no build step).
// Data comes from the node's JSON endpoints; the node pushes one 'overview'
// event per second over Server-Sent Events, and each tick makes the screen on
// show refetch its own data (a page, a process), so nothing is computed for
// screens nobody looks at.

import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

const html = htm.bind(h);

// ───────────────────────── token and requests ─────────────────────────

// The address printed at start carries ?token=…: keep it for this tab and
// take it out of the address bar (and of anything copied from it).
const params = new URLSearchParams(location.search);
if (params.has('token')) {
  sessionStorage.setItem('beamline-token', params.get('token'));
  params.delete('token');
  history.replaceState(null, '', location.pathname + (params.size ? `?${params}` : '') + location.hash);
}
const token = () => sessionStorage.getItem('beamline-token') ?? '';

async function api(path, opts = {}) {
  const headers = { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(opts.token ? { 'x-beamline-token': token() } : {}) };
  const res = await fetch(path, { method: opts.method ?? 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const data = await res.json();
  if (!res.ok) throw Object.assign(new Error(data?.error?.message ?? `${res.status}`), { code: data?.error?.code, status: res.status });
  return data;
}

// ───────────────────────── formatting ─────────────────────────

const fmt = (n, digits = 0) => (n === undefined || n === null || Number.isNaN(n) ? '-' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits }));
const mb = (b) => `${fmt(b / 1048576, 1)} MB`;
const time = (ms) => new Date(ms).toISOString().slice(11, 23);
function dur(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.floor(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
function short(v, max = 120) {
  let t;
  try {
    t = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    t = String(v);
  }
  if (t === undefined) t = String(v);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
function reasonText(r) {
  if (r && typeof r === 'object' && 'error' in r && 'message' in r) return `${r.error}: ${String(r.message).split('\n')[0]}${r.code ? ` [${r.code}]` : ''}`;
  return short(r);
}

// ───────────────────────── routing ─────────────────────────

function useRoute() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.slice(1).split('/').filter(Boolean).map(decodeURIComponent);
}

// ───────────────────────── charts (plain SVG) ─────────────────────────

const COLORS = ['#2f6fdf', '#c2362b', '#1f8a4c', '#b7791f', '#7c3aed', '#0e7490'];

function Chart({ title, lines, unit = '', digits = 0 }) {
  const W = 320, H = 80;
  const n = Math.max(2, ...lines.map((l) => l.values.length));
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values));
  const pts = (vals) => vals.map((v, i) => `${((i + n - vals.length) / (n - 1)) * W},${H - 2 - (v / max) * (H - 6)}`).join(' ');
  return html`<div class="chart" data-chart=${title}>
    <div class="t">${title} <span class="note">max ${fmt(max, digits)}${unit}</span></div>
    <svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none">
      <line x1="0" y1=${H - 1} x2=${W} y2=${H - 1} stroke="#e3e6ec" />
      ${lines.map((l, i) => html`<polyline fill="none" stroke=${l.color ?? COLORS[i % COLORS.length]} stroke-width="1.6" vector-effect="non-scaling-stroke" points=${pts(l.values)} />`)}
    </svg>
    <div class="legend">${lines.map((l, i) => html`<span style=${`color:${l.color ?? COLORS[i % COLORS.length]}`}>● ${l.label} ${fmt(l.values.at(-1), digits)}${unit}</span>`)}</div>
  </div>`;
}

// ───────────────────────── overview ─────────────────────────

function Overview({ ov }) {
  if (ov === null) return html`<p class="note">waiting for the node…</p>`;
  const s = ov.series;
  const col = (k) => s.map((p) => p[k]);
  const threads = ov.threads.map((_, i) => ({ label: `thread ${i}`, values: s.map((p) => (p.busy[i] ?? 0) * 100) }));
  const live = ov.states.runnable + ov.states.running + ov.states.parked;
  return html`<section id="overview">
    <h2>Overview</h2>
    <div class="cards">
      <div class="card"><div class="n" id="live-count">${fmt(live)}</div><div class="l">live processes</div></div>
      ${['running', 'runnable', 'parked', 'dead'].map((k) => html`<div class="card"><div class=${`n state-${k}`}>${fmt(ov.states[k])}</div><div class="l">${k}${k === 'dead' ? ' (held for restart)' : ''}</div></div>`)}
      <div class="card"><div class="n">${fmt(ov.totals.spawned)}</div><div class="l">spawned since boot</div></div>
      <div class="card"><div class="n">${fmt(ov.totals.exited)}</div><div class="l">exited since boot</div></div>
      <div class="card"><div class="n">${fmt(ov.totals.timers)}</div><div class="l">timers armed</div></div>
      <div class="card"><div class="n">${mb(ov.rss)}</div><div class="l">RSS · heap ${mb(ov.heapUsed)}</div></div>
    </div>
    <div class="charts">
      <${Chart} title="processes / s" lines=${[{ label: 'spawned', values: col('spawnedPerS') }, { label: 'exited', values: col('exitedPerS') }]} />
      <${Chart} title="wakes / s" lines=${[{ label: 'wakes', values: col('wakesPerS') }]} />
      <${Chart} title="journal commits / s" lines=${[{ label: 'commits', values: col('commitsPerS') }]} />
      <${Chart} title="events per commit (batch)" digits=${1} lines=${[{ label: 'batch', values: col('batch') }]} />
      <${Chart} title="commit latency" unit=" ms" digits=${1} lines=${[{ label: 'p50', values: col('p50') }, { label: 'p99', values: col('p99') }]} />
      <${Chart} title="slice time per thread" unit=" %" lines=${threads} />
      <${Chart} title="memory" unit=" MB" digits=${1} lines=${[{ label: 'RSS', values: s.map((p) => p.rss / 1048576) }, { label: 'heap', values: s.map((p) => p.heapUsed / 1048576) }]} />
    </div>
  </section>`;
}

// ───────────────────────── processes ─────────────────────────

const COLUMNS = [
  ['pid', 'PID'], ['name', 'NAME'], ['script', 'SCRIPT'], ['state', 'STATE'], ['run', 'RUN'], ['restarts', 'RESTARTS'], ['mailbox', 'MAILBOX'], [null, 'LAST STEP'], ['age', 'AGE'],
];

function Processes({ tick }) {
  const [f, setF] = useState({ state: '', name: '', script: '', sort: 'pid', desc: false, offset: 0 });
  const [typed, setTyped] = useState({ name: '', script: '' });
  const [page, setPage] = useState(null);
  const [err, setErr] = useState(null);
  const limit = 50;
  // Typing filters after a short pause, not per keystroke.
  useEffect(() => {
    const t = setTimeout(() => setF((o) => (o.name === typed.name && o.script === typed.script ? o : { ...o, ...typed, offset: 0 })), 250);
    return () => clearTimeout(t);
  }, [typed]);
  useEffect(() => {
    const q = new URLSearchParams({ state: f.state, name: f.name, script: f.script, sort: f.sort, desc: f.desc ? '1' : '0', offset: String(f.offset), limit: String(limit) });
    let live = true;
    api(`/api/processes?${q}`).then((p) => live && (setPage(p), setErr(null)), (e) => live && setErr(e.message));
    return () => (live = false);
  }, [f, tick]);
  const sortBy = (k) => k && setF((o) => ({ ...o, sort: k, desc: o.sort === k ? !o.desc : false, offset: 0 }));
  return html`<section id="processes">
    <h2>Processes</h2>
    <div class="filters">
      <select id="f-state" value=${f.state} onChange=${(e) => setF((o) => ({ ...o, state: e.target.value, offset: 0 }))}>
        <option value="">any state</option>${['running', 'runnable', 'parked', 'dead'].map((s) => html`<option value=${s}>${s}</option>`)}
      </select>
      <input id="f-name" placeholder="name contains" value=${typed.name} onInput=${(e) => setTyped((t) => ({ ...t, name: e.target.value }))} />
      <input id="f-script" placeholder="script contains" value=${typed.script} onInput=${(e) => setTyped((t) => ({ ...t, script: e.target.value }))} />
      ${err && html`<span class="err">${err}</span>`}
    </div>
    <table id="ps">
      <thead><tr>${COLUMNS.map(([k, t]) => html`<th onClick=${() => sortBy(k)}>${t}${f.sort === k ? (f.desc ? ' ▼' : ' ▲') : ''}</th>`)}</tr></thead>
      <tbody>
        ${page?.rows.map((r) => html`<tr data-pid=${r.pid}>
          <td><a href=${`#/process/${encodeURIComponent(r.pid)}`}>${r.pid}</a></td><td>${r.name}</td><td>${r.script}</td>
          <td class=${`state-${r.state}`}>${r.state}</td><td>${r.run}</td><td>${r.restarts}</td><td>${r.mailbox}</td><td>${r.lastStep}</td><td>${dur(r.age)}</td>
        </tr>`)}
      </tbody>
    </table>
    <div class="pager">
      <button id="prev" disabled=${!page || f.offset === 0} onClick=${() => setF((o) => ({ ...o, offset: Math.max(0, o.offset - limit) }))}>‹ prev</button>
      <span id="range">${page ? `${page.total === 0 ? 0 : page.offset + 1}–${Math.min(page.total, page.offset + limit)} of ${fmt(page.total)}${page.total !== page.all ? ` (filtered from ${fmt(page.all)})` : ''}` : '…'}</span>
      <button id="next" disabled=${!page || f.offset + limit >= page.total} onClick=${() => setF((o) => ({ ...o, offset: o.offset + limit }))}>next ›</button>
    </div>
  </section>`;
}

// ───────────────────────── tree ─────────────────────────

function TreeNode({ node }) {
  const [open, setOpen] = useState(true);
  if (node.kind === 'worker') {
    return html`<li class="worker" data-child=${node.id}>
      <span class="tog"></span><b>${node.id}</b> ${node.pid ? html`<a href=${`#/process/${encodeURIComponent(node.pid)}`}>${node.pid}</a>` : html`<span class="note">(no pid)</span>`}
      ${' '}<span class=${`state-${node.state}`}>${node.state}</span>${node.name ? html` <span class="note">as ${node.name}</span>` : ''}
      ${' '}<span class="note">run ${node.run ?? '-'} · restarts <span class="restarts">${node.restarts ?? 0}</span> · ${node.restart}</span>
    </li>`;
  }
  return html`<li class="sup" data-sup=${node.id}>
    <span class="tog" onClick=${() => setOpen(!open)}>${open ? '▾' : '▸'}</span><b>${node.id}</b>
    ${' '}<span class="note">${node.pid} · ${node.strategy} · ${node.status} · restarts ${node.restarts} · ${node.children.length} children</span>
    ${open && html`<ul>${node.children.map((c) => html`<${TreeNode} key=${c.id} node=${c} />`)}</ul>`}
  </li>`;
}

function Tree({ tick }) {
  const [trees, setTrees] = useState(null);
  useEffect(() => void api('/api/tree').then(setTrees, () => {}), [tick]);
  return html`<section id="tree" class="tree">
    <h2>Supervision tree</h2>
    ${trees === null ? html`<p class="note">…</p>` : trees.length === 0 ? html`<p class="note">no supervision tree on this node</p>` : html`<ul>${trees.map((t) => html`<${TreeNode} key=${t.pid} node=${{ kind: 'supervisor', ...t }} />`)}</ul>`}
  </section>`;
}

// ───────────────────────── one process ─────────────────────────

function Entry({ e }) {
  return html`<div class="row" data-seq=${e.seq}>
    <span class="at">${time(e.at)}</span><span class="note">run ${e.run}</span>
    ${e.resolved.map((r) => html`<div class="res">← step ${r.step} ${r.ok ? 'resolved' : 'failed'}${r.message ? html` · message from ${r.message.from}: ${short(r.message.msg)}` : r.value === undefined || r.value === null ? '' : ` ${short(r.value)}`}</div>`)}
    ${e.issued.map((c) => html`<div class="cmd">→ step ${c.step} ${c.native}${c.key ? `(${short(c.key, 40)})` : ''}${c.record === null || c.record === undefined ? '' : ` ${short(c.record, 80)}`}${c.outcome === 'waits' ? ' …' : c.outcome === 'threw' ? ` ! ${reasonText(c.result)}` : c.result === null || c.result === undefined ? '' : ` = ${short(c.result)}`}</div>`)}
    ${e.logs.map((l) => html`<div class="log">log ${l}</div>`)}
    ${e.exit !== undefined && html`<div class="exit">exit ${reasonText(e.exit)}</div>`}
  </div>`;
}

function Process({ pid, tick, canAct }) {
  const [d, setD] = useState(null);
  const [hist, setHist] = useState(null);
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState('{"type": "hello"}');
  const [q, setQ] = useState({ name: '', args: '[]', answer: null });
  const [result, setResult] = useState(null);
  useEffect(() => {
    let live = true;
    Promise.all([api(`/api/process/${encodeURIComponent(pid)}`), api(`/api/process/${encodeURIComponent(pid)}/history?last=300`)]).then(
      ([a, b]) => live && (setD(a), setHist(b), setErr(null)),
      (e) => live && setErr(e.message),
    );
    return () => (live = false);
  }, [pid, tick]);
  const act = async (what, body, question) => {
    if (!confirm(question)) return;
    try {
      await api(`/api/${what}`, { method: 'POST', body, token: true });
      setResult({ ok: true, text: `${what}: done` });
    } catch (e) {
      setResult({ ok: false, text: `${what} refused: ${e.message}` });
    }
  };
  const query = async (name = q.name) => {
    try {
      const r = await api(`/api/process/${encodeURIComponent(pid)}/query`, { method: 'POST', body: { name, args: JSON.parse(q.args || '[]') } });
      setQ((o) => ({ ...o, answer: { ok: true, text: short(r.answer, 2000) } }));
    } catch (e) {
      setQ((o) => ({ ...o, answer: { ok: false, text: e.message } }));
    }
  };
  if (err && d === null) return html`<p class="err">${err}</p>`;
  if (d === null) return html`<p class="note">…</p>`;
  const alive = d.status === 'live' || d.state !== 'exited';
  const entries = hist ? [...hist.entries].reverse() : [];
  return html`<section id="process" data-pid=${d.pid}>
    <h2>Process ${d.pid} ${d.name.length ? html`<span class="note">(${d.name.join(', ')})</span>` : ''} · <span id="p-state" class=${`state-${d.state}`}>${d.state}</span></h2>
    <div class="grid2">
      <div>
        <table class="kv">
          <tr><td>script</td><td class="wrap">${d.script}</td></tr>
          <tr><td>args</td><td class="wrap">${short(d.args, 300)}</td></tr>
          <tr><td>run · restarts</td><td><span id="p-run">${d.run}</span> · <span id="p-restarts">${d.restarts}</span></td></tr>
          <tr><td>parent · supervisor</td><td>${d.parent ? html`<a href=${`#/process/${encodeURIComponent(d.parent)}`}>${d.parent}</a>` : '-'} · ${d.sup ?? '-'}</td></tr>
          <tr><td>spawned</td><td>${d.spawnedAt ? new Date(d.spawnedAt).toISOString() : '-'}</td></tr>
          ${d.exit && html`<tr><td>exit reason</td><td class="wrap err" id="p-exit">${d.exit.text}</td></tr>`}
          <tr><td>links</td><td class="wrap">${d.links.length ? d.links.map((p) => html`<a href=${`#/process/${encodeURIComponent(p)}`}>${p}</a> `) : '-'}</td></tr>
          <tr><td>monitoring</td><td class="wrap">${d.monitoring.length ? d.monitoring.map((m) => html`<a href=${`#/process/${encodeURIComponent(m.target)}`}>${m.target}</a> `) : '-'}</td></tr>
          <tr><td>monitored by</td><td class="wrap">${d.monitoredBy.length ? d.monitoredBy.map((m) => html`<a href=${`#/process/${encodeURIComponent(m.watcher)}`}>${m.watcher}</a> `) : '-'}</td></tr>
        </table>
        <h3>Pending effects</h3>
        ${d.effects.length === 0 ? html`<p class="note">none</p>` : html`<table id="effects"><tr><th>step</th><th>kind</th><th>detail</th></tr>
          ${d.effects.map((e) => html`<tr><td>${e.step}</td><td>${e.kind}</td><td class="wrap">${e.kind === 'timer' ? `fires ${e.fireAt ? `${new Date(e.fireAt).toISOString()} (in ${dur(Math.max(0, e.fireAt - Date.now()))})` : '?'}` : e.kind === 'http' ? `${e.method} ${e.url ?? '?'} (in flight${e.attempt ? `, attempt ${e.attempt}` : ''})` : short(e.request)}</td></tr>`)}
        </table>`}
        <h3>Mailbox (${d.mailbox.count})</h3>
        ${d.mailbox.peek.length === 0 ? html`<p class="note">empty</p>` : html`<table>${d.mailbox.peek.map((m) => html`<tr><td>${m.from}</td><td class="wrap">${short(m.msg, 200)}</td></tr>`)}</table>`}
        <h3>Query (onQuery)</h3>
        ${d.queries.length === 0 ? html`<p class="note">no handlers reported</p>` : html`<ul id="q-handlers">${d.queries.map((n) => html`<li><code>${n}</code> <button class="q-call" data-name=${n} disabled=${!alive} onClick=${() => (setQ((o) => ({ ...o, name: n })), query(n))}>call</button></li>`)}</ul>`}
        <div class="filters">
          <input id="q-name" placeholder="handler name" value=${q.name} onInput=${(e) => setQ((o) => ({ ...o, name: e.target.value }))} />
          <input id="q-args" placeholder="args (JSON array)" value=${q.args} onInput=${(e) => setQ((o) => ({ ...o, args: e.target.value }))} />
          <button id="q-run" disabled=${!alive || q.name === ''} onClick=${() => query()}>call</button>
        </div>
        ${q.answer && html`<pre id="q-answer" class=${q.answer.ok ? 'okmsg' : 'err'}>${q.answer.text}</pre>`}
        <h3>Actions ${canAct ? '' : html`<span class="badge ro">read-only: open the address printed at start (it carries the token)</span>`}</h3>
        <div class="filters">
          <input id="send-msg" style="width: 240px" value=${msg} onInput=${(e) => setMsg(e.target.value)} />
          <button id="send" disabled=${!canAct || !alive} onClick=${() => {
            let m;
            try {
              m = JSON.parse(msg);
            } catch {
              return setResult({ ok: false, text: 'message: not valid JSON' });
            }
            act('send', { to: d.pid, msg: m }, `Send ${msg} to ${d.pid}?`);
          }}>send</button>
          <button id="kill" class="danger" disabled=${!canAct || !alive} onClick=${() => act('kill', { pid: d.pid }, `Kill ${d.pid}? Its supervisor may restart it.`)}>kill</button>
        </div>
        ${result && html`<p id="action-result" class=${result.ok ? 'okmsg' : 'err'}>${result.text}</p>`}
      </div>
      <div>
        <h3 style="margin-top:0">History · <span id="h-count">${hist?.total ?? 0}</span> rows · <a id="download" href=${`/api/process/${encodeURIComponent(pid)}/history?download=1`} download>download JSON</a></h3>
        <div class="timeline" id="timeline">${entries.map((e) => html`<${Entry} key=${e.seq} e=${e} />`)}</div>
      </div>
    </div>
  </section>`;
}

// ───────────────────────── app ─────────────────────────

function App() {
  const route = useRoute();
  const [ov, setOv] = useState(null);
  const [tick, setTick] = useState(0);
  const [connected, setConnected] = useState(false);
  const [canAct, setCanAct] = useState(false);
  useEffect(() => {
    api('/api/session', { token: true }).then((s) => setCanAct(s.actions), () => setCanAct(false));
    const es = new EventSource('/api/events');
    es.addEventListener('overview', (e) => {
      setOv(JSON.parse(e.data));
      setTick((t) => t + 1);
    });
    es.onopen = () => setConnected(true);
    es.onerror = () => setConnected(false);
    return () => es.close();
  }, []);
  const [view, arg] = route;
  const tab = (href, label, on) => html`<a href=${href} class=${on ? 'on' : ''}>${label}</a>`;
  return html`<div>
    <header>
      <b>beamline</b>
      <nav>${tab('#/', 'Overview', !view)}${tab('#/processes', 'Processes', view === 'processes' || view === 'process')}${tab('#/tree', 'Tree', view === 'tree')}</nav>
      <div class="right">
        <span class=${`badge ${connected ? 'rw' : 'off'}`} id="live">${connected ? 'live' : 'disconnected'}</span>
        <span class=${`badge ${canAct ? 'rw' : 'ro'}`} id="mode">${canAct ? 'actions enabled' : 'read-only'}</span>
        <a href="/metrics" style="color:#c9d3e6">metrics</a>
      </div>
    </header>
    <main>
      ${!view && html`<${Overview} ov=${ov} />`}
      ${view === 'processes' && html`<${Processes} tick=${tick} />`}
      ${view === 'tree' && html`<${Tree} tick=${tick} />`}
      ${view === 'process' && arg && html`<${Process} key=${arg} pid=${arg} tick=${tick} canAct=${canAct} />`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
