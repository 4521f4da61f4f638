// Wick explorer: a hand-written single page over the JSON under /api/. Hash routes, live
// pages refreshed on server-sent events (and by polling, should events stop), sortable tables,
// SVG charts. No dependencies and no build step.
'use strict';

const view = document.getElementById('view');
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const short = (h) => (h && h.length > 16 ? `${h.slice(0, 8)}…${h.slice(-4)}` : esc(h));
const big = (v) => (v === null || v === undefined || v === '' ? '—' : String(v).replace(/\B(?=(\d{3})+(?!\d))/g, '\u2009'));
const rate = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const pct = (part, whole) => (Number(whole) > 0 ? `${((100 * Number(part)) / Number(whole)).toFixed(1)} %` : '—');
const when = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '—');
function ago(ms) {
  if (!ms) return '—';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}
const acct = (a) => `<a class="mono" href="#/account/${esc(a)}" title="${esc(a)}">${short(a)}</a>`;
const wlink = (a) => `<a class="mono" href="#/worker/${esc(a)}" title="${esc(a)}">${short(a)}</a>`;
const txlink = (h) => `<a class="mono" href="#/tx/${esc(h)}" title="${esc(h)}">${short(h)}</a>`;
const blink = (n) => `<a href="#/block/${n}">${big(n)}</a>`;
const tag = (text, cls) => `<span class="tag ${cls}">${esc(text)}</span>`;
const NOT_YET = '<span class="muted">not on this ledger yet</span>';

async function api(path, opts) {
  const r = await fetch(`/api${path}`, opts);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

// Tables: columns are {key, label, num, value(row) for sorting, html(row)}; sort state per table.
const sorts = {};
function table(id, columns, rows, rowAttr = () => '') {
  const s = sorts[id];
  if (s) {
    const col = columns.find((c) => c.key === s.key);
    if (col) {
      const v = col.value || ((r) => r[col.key]);
      rows = [...rows].sort((a, b) => {
        const x = v(a), y = v(b);
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''));
        return s.dir === 'ascending' ? c : -c;
      });
    }
  }
  const head = columns.map((c) => {
    const sort = s && s.key === c.key ? ` aria-sort="${s.dir}"` : '';
    const label = c.value === null ? esc(c.label) : `<button type="button" data-table="${id}" data-sort="${c.key}">${esc(c.label)}</button>`;
    return `<th scope="col"${sort}${c.num ? ' class="n"' : ''}>${label}</th>`;
  }).join('');
  const body = rows.length
    ? rows.map((r) => `<tr ${rowAttr(r)}>${columns.map((c) => `<td data-col="${c.key}"${c.num ? ' class="n"' : ''}>${c.html ? c.html(r) : esc(r[c.key])}</td>`).join('')}</tr>`).join('')
    : `<tr><td colspan="${columns.length}" class="muted">none yet</td></tr>`;
  return `<div class="scroll"><table id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}
document.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-sort]');
  if (!b) return;
  const { table: id, sort: key } = b.dataset;
  const s = sorts[id];
  sorts[id] = { key, dir: s && s.key === key && s.dir === 'descending' ? 'ascending' : 'descending' };
  refresh(false);
});

// A bar chart of [{x, y}] (SVG, with each value in a <title> for pointers and screen readers).
function bars(points, label, cls) {
  const w = 600, h = 150, pad = 22;
  const max = Math.max(1, ...points.map((p) => p.y));
  const bw = points.length ? (w - pad) / points.length : 0;
  const rects = points.map((p, i) => {
    const bh = ((h - pad) * p.y) / max;
    return `<rect class="${cls}" x="${pad + i * bw + 1}" y="${h - pad - bh}" width="${Math.max(1, bw - 2)}" height="${bh}"><title>epoch ${p.x}: ${big(p.y)} ${esc(label)}</title></rect>`;
  }).join('');
  const first = points.length ? points[0].x : '', last = points.length ? points[points.length - 1].x : '';
  return `<figure><figcaption>${esc(label)} per epoch (max ${big(max)})</figcaption>
    <svg class="chart" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${esc(label)} per epoch">
    <line x1="${pad}" y1="${h - pad}" x2="${w}" y2="${h - pad}"></line>${rects}
    <text x="${pad}" y="${h - 6}">epoch ${first}</text><text x="${w - 60}" y="${h - 6}">epoch ${last}</text></svg></figure>`;
}

const card = (label, value, stat, sub = '') => `<div><dt>${esc(label)}</dt><dd data-stat="${stat}">${value}${sub ? ` <small>${sub}</small>` : ''}</dd></div>`;
const dl = (pairs) => `<dl class="kv">${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;

function slashRows(slashes) {
  return table('slashes', [
    { key: 'worker', label: 'Worker', html: (s) => wlink(s.worker) },
    { key: 'kind', label: 'Proof', html: (s) => esc(s.kind.replace('_', ' ')) },
    { key: 'epoch', label: 'Epoch', num: true },
    { key: 'height', label: 'Block', num: true, html: (s) => blink(s.height) },
    { key: 'reporter', label: 'Reporter', html: (s) => acct(s.reporter) },
    { key: 'tx', label: 'Transaction', html: (s) => txlink(s.tx) },
  ], slashes);
}

async function overview() {
  const [o, workers] = await Promise.all([api('/overview'), api('/workers')]);
  const e = o.epoch, s = o.supply, last = o.last_epoch;
  const left = e ? Math.max(0, Math.round((e.ends_unix_ms - Date.now()) / 1000)) : null;
  const live = workers.workers.filter((w) => w.live && w.live.live);
  const roles = o.roles.filter((r) => !r.on_ledger).map((r) => `<p class="note">${esc(r.name)}: ${esc(r.note)}.</p>`).join('');
  document.getElementById('ledger').textContent = o.ledger.connected ? `ledger ${o.ledger.endpoints.join(', ')}` : `ledger unreachable: ${o.ledger.error || 'connecting'}`;
  return `<h1>${esc(o.chain_id || 'Wick')} overview</h1>
  <dl class="cards">
    ${card('Height', big(o.height), 'height', o.indexed_height !== o.height ? `indexed ${big(o.indexed_height)}` : '')}
    ${card('Last block', ago(o.block_time_unix_ms), 'block_time')}
    ${card('Epoch', e ? big(e.epoch) : '—', 'epoch', left !== null ? `${left} s left of ${e.epoch_seconds}` : '')}
    ${card('Transactions / s', rate(o.tx_per_second), 'tx_per_second', 'last minute')}
    ${card('Total supply', s ? big(s.total) : '—', 'supply')}
    ${card('Bonded', s ? big(s.bonded) : '—', 'bonded', s ? pct(s.bonded, s.total) : '')}
    ${card('Live workers', big(o.live_workers), 'live_workers', `of ${o.registered_workers} registered${o.jailed_workers ? `, ${o.jailed_workers} jailed` : ''}`)}
    ${card('Tokens / s', rate(o.tokens_per_second), 'tokens_per_second', 'served now')}
    ${card('Tokens served', big(o.tokens_served), 'tokens_served', 'by live workers, seen here')}
    ${card(`Epoch ${last ? last.epoch : ''} rewards`, last ? big(last.minted) : '—', 'last_rewards', last ? `${last.credits.length} workers credited` : '')}
    ${card('Slashes', big(o.slashes_total), 'slashes', last ? `${last.slashes.length} last epoch` : '')}
  </dl>
  <h2>Live workers</h2>
  ${table('live', [
    { key: 'address', label: 'Worker', html: (w) => wlink(w.address) },
    { key: 'models', label: 'Models', value: (w) => w.live.models.map((m) => m.name).join(' '), html: (w) => esc(w.live.models.map((m) => m.name).join(', ')) },
    { key: 'tps', label: 'Tokens/s', num: true, value: (w) => w.live.tokens_per_second, html: (w) => rate(w.live.tokens_per_second) },
    { key: 'served', label: 'Tokens served', num: true, value: (w) => w.live.tokens_served, html: (w) => big(w.live.tokens_served) },
    { key: 'queue', label: 'Queue', num: true, value: (w) => w.live.queue_depth, html: (w) => big(w.live.queue_depth) },
    { key: 'status', label: 'Status', value: (w) => status(w).text, html: (w) => status(w).html },
  ], live, (w) => `data-worker="${esc(w.address)}"`)}
  <h2>Epoch ${last ? last.epoch : ''} settlement</h2>
  ${last && !last.recorded ? '<p class="note">This epoch end was recorded before the ledger kept settlements.</p>' : ''}
  ${table('credits', [
    { key: 'worker', label: 'Worker', html: (c) => wlink(c.worker) },
    { key: 'tokens', label: 'Credited tokens', num: true, html: (c) => big(c.tokens) },
    { key: 'reward', label: 'Reward', num: true, value: (c) => Number(c.reward), html: (c) => big(c.reward) },
  ], last ? last.credits : [])}
  ${last && last.slashes.length ? `<h2>Slashes in epoch ${last.epoch}</h2>${slashRows(last.slashes)}` : ''}
  ${roles}`;
}

function status(w) {
  if (!w.ledger) return { text: 'unregistered', html: tag('not registered', 'warn') };
  if (w.ledger.jailed) return { text: 'jailed', html: tag('jailed', 'bad') };
  if (!w.eligible) return { text: 'unstaked', html: tag('no stake', 'warn') };
  return { text: 'active', html: tag('active', 'ok') };
}

const workerColumns = (notYet) => [
  { key: 'address', label: 'Worker', html: (w) => wlink(w.address) },
  { key: 'models', label: 'Models', value: (w) => (w.live ? w.live.models.map((m) => m.name).join(' ') : ''), html: (w) => (w.live ? esc(w.live.models.map((m) => m.name).join(', ')) : '—') },
  { key: 'device', label: 'Device', value: null, html: (w) => (w.live && w.live.device_class ? esc(w.live.device_class) : `<span class="muted" title="${esc(notYet.device_class || '')}">not advertised</span>`) },
  { key: 'own', label: 'Own stake', num: true, value: (w) => Number(w.ledger ? w.ledger.self_stake : -1), html: (w) => big(w.ledger && w.ledger.self_stake) },
  { key: 'delegated', label: 'Delegated', num: true, value: (w) => Number(w.ledger ? w.ledger.delegated : -1), html: (w) => big(w.ledger && w.ledger.delegated) },
  { key: 'commission', label: 'Commission', num: true, value: (w) => (w.ledger ? w.ledger.commission_bps : -1), html: (w) => (w.ledger ? `${(w.ledger.commission_bps / 100).toFixed(1)} %` : '—') },
  { key: 'status', label: 'Status', value: (w) => status(w).text, html: (w) => status(w).html },
  { key: 'tps', label: 'Tokens/s', num: true, value: (w) => (w.live ? w.live.tokens_per_second : -1), html: (w) => (w.live && w.live.live ? rate(w.live.tokens_per_second) : '<span class="muted">offline</span>') },
  { key: 'tokens_served', label: 'Tokens served', num: true, value: (w) => (w.live ? w.live.tokens_served : -1), html: (w) => big(w.live && w.live.tokens_served) },
  { key: 'queue', label: 'Queue', num: true, value: (w) => (w.live ? w.live.queue_depth : -1), html: (w) => big(w.live && w.live.queue_depth) },
  { key: 'slots', label: 'Free slots', num: true, value: (w) => (w.live ? w.live.free_slots : -1), html: (w) => big(w.live && w.live.free_slots) },
  { key: 'price', label: 'Price / 1k tokens', num: true, value: (w) => (w.live ? w.live.price_per_1k_tokens : -1), html: (w) => big(w.live && w.live.price_per_1k_tokens) },
  { key: 'credited', label: 'Credited (last epoch)', num: true, value: (w) => (w.last_epoch ? w.last_epoch.credited_tokens ?? 0 : -1), html: (w) => big(w.last_epoch && w.last_epoch.credited_tokens) },
  { key: 'reward', label: 'Reward (last epoch)', num: true, value: (w) => Number(w.last_epoch && w.last_epoch.reward ? w.last_epoch.reward : -1), html: (w) => big(w.last_epoch && w.last_epoch.reward) },
];

async function workersPage() {
  const p = await api('/workers');
  const notYet = Object.fromEntries(p.not_yet);
  return `<h1>Workers</h1>
  <p>${p.live} live on the network, ${p.workers.filter((w) => w.ledger).length} registered on the ledger.
  Last epoch: ${p.last_epoch ?? '—'}. Select a column's name to sort.</p>
  ${table('workers', workerColumns(notYet), p.workers, (w) => `data-worker="${esc(w.address)}"`)}`;
}

async function workerPage(a) {
  const p = await api(`/workers/${a}`);
  const w = p.worker, l = w.live, g = w.ledger;
  const hist = p.history;
  return `<h1>Worker <span class="mono wrap">${esc(a)}</span></h1>
  <dl class="cards" data-worker="${esc(a)}">
    ${card('Status', status(w).html, 'status')}
    ${card('Own stake', big(g && g.self_stake), 'self_stake')}
    ${card('Delegated', big(g && g.delegated), 'delegated')}
    ${card('Commission', g ? `${(g.commission_bps / 100).toFixed(1)} %` : '—', 'commission')}
    ${card('Tokens/s', l && l.live ? rate(l.tokens_per_second) : 'offline', 'tokens_per_second')}
    ${card('Tokens served', big(l && l.tokens_served), 'tokens_served', 'seen by this explorer')}
    ${card('Credited (last epoch)', big(w.last_epoch && w.last_epoch.credited_tokens), 'credited', w.last_epoch ? `epoch ${w.last_epoch.epoch}` : '')}
    ${card('Reward (last epoch)', big(w.last_epoch && w.last_epoch.reward), 'reward')}
  </dl>
  <h2>History</h2>
  <div class="charts">
    ${bars(hist.map((h) => ({ x: h.epoch, y: h.credited_tokens || 0 })), 'credited tokens', 'b1')}
    ${bars(hist.map((h) => ({ x: h.epoch, y: Number(h.reward || 0) })), 'reward', 'b2')}
  </div>
  <h2>Per epoch</h2>
  ${table('history', [
    { key: 'epoch', label: 'Epoch', num: true },
    { key: 'claimed_tokens', label: 'Claimed tokens', num: true, html: (h) => big(h.claimed_tokens) },
    { key: 'attested_tokens', label: 'Attested tokens', num: true, html: (h) => big(h.attested_tokens) },
    { key: 'credited_tokens', label: 'Credited tokens', num: true, html: (h) => big(h.credited_tokens) },
    { key: 'reward', label: 'Reward', num: true, value: (h) => Number(h.reward || 0), html: (h) => big(h.reward) },
  ], [...hist].reverse())}
  <h2>Live record</h2>
  ${l ? dl([['Peer id', `<span class="mono">${esc(l.peer_id)}</span>`], ['gRPC', esc(l.grpc_endpoint)], ['Models', esc(l.models.map((m) => `${m.name} (${m.kind})`).join(', '))],
    ['Queue / free slots', `${l.queue_depth} / ${l.free_slots}`], ['Price / 1k tokens', big(l.price_per_1k_tokens)], ['Version', esc(l.version)],
    ['Record', `signed ${when(l.issued_unix_ms)}, expires ${when(l.expires_unix_ms)}`]]) : '<p class="muted">Never heard on the network.</p>'}
  <h2>Slashes</h2>${slashRows(p.slashes)}
  <h2>Transactions</h2>${txTable(p.transactions)}
  <p><a href="#/account/${esc(a)}">Account page</a></p>`;
}

function fields(tx) {
  if (!tx) return '';
  return Object.entries(tx.body).map(([k, v]) => `${esc(k)}=${typeof v === 'string' && v.length === 64 ? short(v) : esc(v)}`).join(' ');
}
const result = (t) => (t.applied ? tag('applied', 'ok') : `${tag(t.code, 'bad')} <span class="muted">${esc(t.message)}</span>`);
function txTable(txs) {
  return table(`txs`, [
    { key: 'hash', label: 'Hash', html: (t) => txlink(t.hash) },
    { key: 'height', label: 'Block', num: true, html: (t) => blink(t.height) },
    { key: 'kind', label: 'Kind', value: (t) => (t.tx ? t.tx.kind : ''), html: (t) => (t.tx ? esc(t.tx.kind) : tag('undecodable', 'bad')) },
    { key: 'signer', label: 'Signer', value: (t) => (t.tx ? t.tx.signer : ''), html: (t) => (t.tx ? acct(t.tx.signer) : '—') },
    { key: 'fields', label: 'Fields', value: null, html: (t) => `<span class="mono">${fields(t.tx)}</span>` },
    { key: 'result', label: 'Result', value: (t) => t.code, html: result },
  ], txs);
}

async function blocksPage(before) {
  const p = await api(`/blocks?limit=50${before ? `&before=${before}` : ''}`);
  const oldest = p.blocks.length ? p.blocks[p.blocks.length - 1].height : 0;
  return `<h1>Blocks</h1><p>Head ${blink(p.head)}.</p>
  ${table('blocks', [
    { key: 'height', label: 'Height', num: true, html: (b) => blink(b.height) },
    { key: 'time_unix_ms', label: 'Time', html: (b) => when(b.time_unix_ms) },
    { key: 'epoch', label: 'Epoch', num: true },
    { key: 'txs', label: 'Transactions', num: true },
    { key: 'rejected', label: 'Rejected', num: true },
    { key: 'epoch_end', label: 'Epoch end', html: (b) => (b.epoch_end ? tag('epoch end', 'warn') : '') },
  ], p.blocks)}
  ${oldest > 1 ? `<p class="pager"><a href="#/blocks/before/${oldest}">Older blocks</a></p>` : ''}`;
}

async function blockPage(h) {
  const p = await api(`/blocks/${h}`);
  const b = p.block, s = p.settlement;
  return `<h1>Block ${big(b.height)}</h1>
  ${dl([['Time', `${when(b.time_unix_ms)} (${ago(b.time_unix_ms)})`], ['Epoch after it', big(b.epoch)], ['Ends an epoch', b.epoch_end ? 'yes' : 'no'],
    ['State root', `<span class="mono">${esc(b.state_root)}</span>`], ['Transactions', `${b.txs} (${b.rejected} rejected)`]])}
  <p>${b.height > 1 ? `<a href="#/block/${b.height - 1}">← previous</a> · ` : ''}<a href="#/block/${b.height + 1}">next →</a></p>
  <h2>Transactions</h2>${txTable(p.txs)}
  ${s ? `<h2>Epoch ${s.epoch} settlement</h2>${table('settle', [
    { key: 'worker', label: 'Worker', html: (c) => wlink(c.worker) },
    { key: 'tokens', label: 'Credited tokens', num: true, html: (c) => big(c.tokens) },
    { key: 'reward', label: 'Reward', num: true, value: (c) => Number(c.reward), html: (c) => big(c.reward) },
  ], s.credits)}<p>${s.payouts.length} accounts accrued rewards.</p>` : ''}`;
}

async function txPage(hash) {
  const t = await api(`/txs/${hash}`);
  const x = t.tx;
  return `<h1>Transaction</h1>
  ${dl([['Hash', `<span class="mono">${esc(t.hash)}</span>`], ['Block', `${blink(t.height)} #${t.index}, ${when(t.time_unix_ms)}`], ['Result', result(t)],
    ...(x ? [['Kind', esc(x.kind)], ['Signer', acct(x.signer)], ['Nonce', big(x.nonce)], ['Fee', big(x.fee)], ['Chain', esc(x.chain_id)],
      ...Object.entries(x.body).map(([k, v]) => [k, typeof v === 'string' && v.length === 64 ? acct(v) : `<span class="mono">${esc(v)}</span>`])]
      : [['Decoding', `<span class="bad">${esc(t.decode_error)}</span>`]])])}
  ${x ? `<details><summary>Wire bytes</summary><p class="mono wrap">${esc(x.bytes)}</p></details>` : ''}`;
}

async function accountPage(a) {
  const p = await api(`/accounts/${a}`);
  const c = p.account;
  return `<h1>Account <span class="mono wrap">${esc(a)}</span></h1>
  ${c ? `<dl class="cards">${card('Balance', big(c.balance), 'balance')}${card('Rewards', big(c.rewards), 'rewards', 'not withdrawn')}
    ${card('Nonce', big(c.nonce), 'nonce')}${c.self_stake !== undefined ? card('Own stake', big(c.self_stake), 'self_stake') + card('Delegated to it', big(c.delegated_to_me), 'delegated_to_me') : ''}</dl>`
    : `<p class="note">The ledger did not answer: ${esc(p.ledger_error)}</p>`}
  ${p.is_worker ? `<p>This account is a worker: <a href="#/worker/${esc(a)}">its worker page</a>.</p>` : ''}
  <h2>Delegations</h2>${table('dels', [{ key: 'worker', label: 'Worker', html: (d) => wlink(d.worker) }, { key: 'amount', label: 'Amount', num: true, value: (d) => Number(d.amount), html: (d) => big(d.amount) }], c ? c.delegations : [])}
  <h2>Unbonding</h2>${table('unb', [{ key: 'release_epoch', label: 'Released at epoch', num: true }, { key: 'amount', label: 'Amount', num: true, html: (u) => big(u.amount) }], c ? c.unbonding : [])}
  <h2>Rewards by epoch</h2>${table('paid', [{ key: 'epoch', label: 'Epoch', num: true }, { key: 'amount', label: 'Rewards', num: true, value: (r) => Number(r.amount), html: (r) => big(r.amount) }], p.rewards)}
  <h2>Transactions (${p.tx_count})</h2>${txTable(p.transactions)}`;
}

async function routersPage() {
  const p = await api('/routers');
  return `<h1>Routers</h1><p class="note">${esc(p.role.note)}. The table shows each router's stake and escrow on the ledger and what it attested on the chain.</p>
  ${table('routers', [
    { key: 'address', label: 'Router', html: (r) => acct(r.address) },
    { key: 'epochs', label: 'Epochs attested', num: true },
    { key: 'tokens', label: 'Tokens attested', num: true, html: (r) => big(r.tokens) },
    { key: 'last', label: 'Last epoch (workers / receipts / tokens)', value: null, html: (r) => { const h = r.history[r.history.length - 1]; return h ? `${h.epoch}: ${h.workers} / ${big(h.receipts)} / ${big(h.tokens)}` : '—'; } },
    { key: 'stake', label: 'Stake', value: (r) => r.ledger ? Number(r.ledger.stake) : null, html: (r) => r.ledger ? big(r.ledger.stake) : '—' },
    { key: 'escrow', label: 'Escrow', value: (r) => r.ledger ? Number(r.ledger.escrow) : null, html: (r) => r.ledger ? big(r.ledger.escrow) : '—' },
    { key: 'jailed', label: 'Status', value: null, html: (r) => r.ledger ? (r.ledger.jailed ? 'jailed' : 'in good standing') : '—' },
  ], p.routers)}`;
}

async function validatorsPage() {
  const p = await api('/validators');
  return `<h1>Validators</h1><p class="note">${esc(p.role.note)}.</p>
  ${table('validators', p.role.missing.map((m) => ({ key: m, label: m, value: null })), [])}
  <h2>Ledger endpoints this explorer follows</h2><ul>${p.ledger_endpoints.map((e) => `<li class="mono">${esc(e)}</li>`).join('')}</ul>`;
}

async function governancePage() {
  const g = await api('/governance');
  const p = g.params;
  return `<h1>Governance</h1><p>Epoch ${g.epoch}. Bonded stake ${big(g.bonded)}: quorum ${(p.quorum_bps / 100).toFixed(2)} % of the stake snapshotted when voting opens, passing above ${(p.threshold_bps / 100).toFixed(2)} % yes. Voting opens the epoch after a proposal is submitted; a passed change waits ${p.timelock_epochs} epoch(s) more before it applies, if still within its bounds.</p>
  <h2>Parameters</h2><p class="note">Bounds on what a proposal may set, as the ledger enforces them.</p>${table('params', [
    { key: 'param', label: 'Parameter', html: (r) => `<span class="mono">${esc(r.param)}</span>` },
    { key: 'value', label: 'Value', num: true, html: (r) => big(r.value) },
    { key: 'min', label: 'Min', num: true, html: (r) => big(r.min) },
    { key: 'max', label: 'Max', num: true, html: (r) => big(r.max) },
  ], p.bounds)}
  <h2>Proposals</h2>${table('proposals', [
    { key: 'id', label: '#', num: true },
    { key: 'param', label: 'Change', html: (r) => `<span class="mono">${esc(r.param)}</span> → ${big(r.value)}` },
    { key: 'status', label: 'Status', html: (r) => tag(r.status, r.status === 'passed' || r.status === 'applied' ? 'ok' : r.status === 'rejected' || r.status === 'void' ? 'bad' : 'warn') },
    { key: 'voting', label: 'Voting epochs', num: true, value: (r) => r.voting_start, html: (r) => `${r.voting_start}–${r.voting_end}` },
    { key: 'applies', label: 'Applies from epoch', num: true, value: (r) => r.effective_epoch, html: (r) => r.effective_epoch ? String(r.effective_epoch) : '—' },
    { key: 'tally', label: 'Yes / no power', value: (r) => Number(r.yes_power), html: (r) => { const cast = Number(r.yes_power) + Number(r.no_power); return `<span class="tally" title="${pct(r.yes_power, cast)} yes"><span style="width:${cast ? (100 * Number(r.yes_power)) / cast : 0}%"></span></span> ${big(r.yes_power)} / ${big(r.no_power)}`; } },
    { key: 'voters', label: 'Voters', num: true },
  ], [...g.proposals].reverse())}`;
}

function receiptPage() {
  return `<h1>Receipt check</h1>
  <p>Paste a receipt: the <span class="mono">x-wick-receipt</span> header's hex, or the JSON of <span class="mono">wick_receipt</span> (alone or in a whole answer).
  The explorer checks the worker's signature and the router's countersignature with Wick's own verification code.</p>
  <form id="receipt-form"><label for="receipt">Receipt</label><textarea id="receipt" name="receipt" spellcheck="false" required></textarea>
  <p><button type="submit" id="check">Check</button></p></form>
  <section id="receipt-result" aria-live="polite"></section>`;
}
async function checkReceipt(text) {
  const out = document.getElementById('receipt-result');
  const r = await api('/receipts/check', { method: 'POST', body: text, headers: { 'content-type': 'text/plain' } });
  const verdict = (name, who, c) => `<p class="verdict" data-check="${who}">${name}: <strong class="${c.status === 'verified' ? 'ok' : 'bad'}">${c.status}</strong>${c.reason ? ` <span class="muted">(${esc(c.reason)})</span>` : ''}</p>`;
  const x = r.receipt;
  out.innerHTML = `<h2>Result</h2>${verdict('Worker signature', 'worker', r.worker_signature)}${verdict('Router countersignature', 'router', r.router_countersignature)}
  ${x ? dl([['Format', esc(r.format)], ['Worker', `${wlink(x.worker_public_key)}${r.worker_registered === true ? ` ${tag('registered', 'ok')}` : r.worker_registered === false ? ` ${tag('not registered', 'warn')}` : ''}`],
    ['Router', acct(x.router_public_key)], ['Job hash', `<span class="mono">${esc(x.job_hash)}</span>`], ['Model', `<span class="mono">${esc(x.model_id)}</span>`],
    ['Output hash', `<span class="mono">${esc(x.output_hash)}</span>`], ['Tokens in / out', `${x.tokens_in} / ${x.tokens_out}`], ['Started', when(x.started_unix_ms)], ['Finished', when(x.finished_unix_ms)]]) : ''}`;
}

// Routing and live updates.
const routes = [
  [/^\/?$/, overview, true], [/^\/workers$/, workersPage, true], [/^\/worker\/([0-9a-f]{64})$/, workerPage, true],
  [/^\/routers$/, routersPage, true], [/^\/validators$/, validatorsPage, false], [/^\/blocks$/, blocksPage, true],
  [/^\/blocks\/before\/(\d+)$/, blocksPage, false], [/^\/block\/(\d+)$/, blockPage, false], [/^\/tx\/([0-9a-f]{64})$/, txPage, false],
  [/^\/account\/([0-9a-f]{64})$/, accountPage, true], [/^\/governance$/, governancePage, true], [/^\/receipt$/, receiptPage, false],
];
let current = null, busy = false, again = false, lastRender = 0;
async function refresh(first) {
  if (!current) return;
  if (busy) { again = true; return; }
  busy = true;
  const c = current;
  try {
    const html = await c.fn(...c.args);
    if (c !== current) return;
    const focused = document.activeElement && document.activeElement.closest('main') ? document.activeElement : null;
    const key = focused && focused.dataset.sort ? `button[data-table="${focused.dataset.table}"][data-sort="${focused.dataset.sort}"]` : null;
    view.innerHTML = html;
    if (key) { const again = view.querySelector(key); if (again) again.focus(); }
    if (first) view.focus();
    lastRender = Date.now();
    window.wickRendered = window.wickRendered || { path: location.hash, ms: performance.now() };
    document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
  } catch (e) {
    if (c === current) view.innerHTML = `<h1>Not available</h1><p class="bad">${esc(e.message)}</p>`;
  } finally {
    busy = false;
    if (again) { again = false; refresh(false); }
  }
}
function route() {
  const path = location.hash.replace(/^#/, '') || '/';
  current = null;
  for (const [re, fn, live] of routes) {
    const m = path.match(re);
    if (m) { current = { fn, live, args: m.slice(1) }; break; }
  }
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    a.toggleAttribute('aria-current', target === '/' ? path === '/' : path.startsWith(target.replace(/s$/, '')));
    if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'page');
  }
  if (!current) { view.innerHTML = '<h1>Not found</h1><p><a href="#/">Overview</a></p>'; return; }
  refresh(true);
}
window.addEventListener('hashchange', route);
document.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (e.target.id === 'receipt-form') {
    checkReceipt(document.getElementById('receipt').value).catch((err) => { document.getElementById('receipt-result').textContent = err.message; });
  } else if (e.target.id === 'search') {
    const q = document.getElementById('q').value.trim().toLowerCase();
    if (/^\d+$/.test(q)) location.hash = `#/block/${q}`;
    else if (/^[0-9a-f]{64}$/.test(q)) location.hash = (await fetch(`/api/txs/${q}`)).ok ? `#/tx/${q}` : `#/account/${q}`;
  }
});
const liveBadge = document.getElementById('live');
function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('update', () => { liveBadge.textContent = 'live'; liveBadge.className = 'live on'; if (current && current.live) refresh(false); });
  events.onerror = () => { liveBadge.textContent = 'reconnecting…'; liveBadge.className = 'live'; };
  // A page left behind must not keep its stream: browsers allow six connections per host.
  window.addEventListener('pagehide', () => events.close());
}
// Should events stop arriving, live pages still refresh within two seconds.
setInterval(() => { if (current && current.live && Date.now() - lastRender > 1500) refresh(false); }, 500);
connect();
route();
