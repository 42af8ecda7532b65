// "Instrument next" (design §8): catalog services without APM ranked by the broken traces they
// cause, then by distinct callers, customer-facing first among equals. The full page has filters
// and a table sortable by any column; the overview shows the top five with the same table.
import { api, qs } from './api.js';
import { announce, fmtInt, h, link } from './dom.js';
import { sampleNote } from './sample.js';

const LIMITS = [20, 50, 100, 500];

// "0.4", "12", "1,234": an estimate, so no false precision.
export function fmtPerHour(v) {
  if (v === null || v === undefined) return '—';
  if (v > 0 && v < 10) return (Math.round(v * 10) / 10).toFixed(1);
  return fmtInt(Math.round(v));
}

// Sort keys of the table's columns; ties keep the API's rank.
export const SORT_KEYS = {
  rank: (r) => r.rank,
  name: (r) => r.name,
  team: (r) => r.team || '',
  customer_facing: (r) => (r.customer_facing ? 1 : 0),
  broken_traces: (r) => r.broken_traces,
  broken_traces_per_hour: (r) => r.broken_traces_per_hour ?? -1,
  callers: (r) => r.callers.length,
  teams_affected: (r) => r.teams_affected.length,
};

export function sortRows(rows, key, desc) {
  const get = SORT_KEYS[key] || SORT_KEYS.rank;
  return [...rows].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    if (x !== y) return (x < y ? -1 : 1) * (desc ? -1 : 1);
    return a.rank - b.rank;
  });
}

function statusBadge(r) {
  return r.usm_only
    ? h('span', { class: 'badge warn', title: 'Seen by USM: it runs and takes traffic, but sends no traces' }, 'USM only')
    : h('span', { class: 'badge bad' }, 'No APM');
}

function namesCell(names, hrefOf) {
  if (!names.length) return '—';
  const shown = names.slice(0, 4);
  const parts = [];
  shown.forEach((n, i) => {
    if (i) parts.push(', ');
    parts.push(hrefOf ? link(hrefOf(n), n) : n);
  });
  if (names.length > shown.length) parts.push(` +${names.length - shown.length}`);
  return h('span', { title: names.join(', ') }, parts);
}

const COLUMNS = [
  ['rank', '#'],
  ['name', 'Service'],
  ['team', 'Team'],
  ['customer_facing', 'Customer-facing'],
  [null, 'APM'],
  ['broken_traces', 'Broken traces'],
  ['broken_traces_per_hour', 'Per hour (est.)'],
  ['callers', 'Callers'],
  ['teams_affected', 'Teams affected'],
  [null, 'Example traces'],
];

function rowCells(r, compact) {
  const svc = (n) => `/services/${encodeURIComponent(n)}`;
  const cells = [
    h('td', { class: 'num' }, String(r.rank)),
    h('td', {}, link(svc(r.name), r.name, { 'data-link': 'service' })),
    h('td', {}, r.team || '—'),
    h('td', {}, r.customer_facing ? 'Yes' : 'No'),
    h('td', {}, statusBadge(r)),
    h('td', { class: 'num', 'data-col': 'broken' }, r.broken_traces
      ? link(`/traces${qs({ missing: r.name })}`, fmtInt(r.broken_traces), { 'data-link': 'traces', title: `Broken traces missing ${r.name}` })
      : '0'),
    h('td', {
      class: 'num',
      'data-col': 'per-hour',
      title: r.broken_traces_per_hour === null
        ? 'No sync finished within the lookback: no estimate'
        : 'Estimated for all retained traffic: broken traces / sampled share / lookback hours',
    }, fmtPerHour(r.broken_traces_per_hour)),
    h('td', { 'data-col': 'callers' }, `${fmtInt(r.callers.length)}`, r.callers.length ? [': ', namesCell(r.callers, compact ? null : svc)] : ''),
  ];
  if (!compact) cells.push(h('td', { 'data-col': 'teams' }, namesCell(r.teams_affected, (t) => `/services${qs({ team: t })}`)));
  cells.push(h('td', { 'data-col': 'examples' }, r.example_trace_ids.length
    ? r.example_trace_ids.map((id, i) => [i ? ' ' : '', link(`/traces/${id}`, id, { 'data-link': 'trace' })])
    : '—'));
  return cells;
}

// The ranked rows as a table. onSort(key) is called by the header buttons (full page only).
export function instrumentNextTable(data, { compact = false, caption, sort = 'rank', desc = false, onSort } = {}) {
  const rows = data.recommendations.map((r, i) => ({ ...r, rank: i + 1 }));
  const cols = COLUMNS.filter(([, label]) => !(compact && label === 'Teams affected'));
  const head = cols.map(([key, label]) => {
    if (!key || !onSort) return h('th', { scope: 'col' }, label);
    const active = key === sort;
    return h('th', { scope: 'col', 'aria-sort': active ? (desc ? 'descending' : 'ascending') : 'none' },
      h('button', { type: 'button', class: 'sort', 'data-sort': key, onclick: () => onSort(key) },
        label, active ? (desc ? ' ▼' : ' ▲') : ''));
  });
  const sorted = sortRows(rows, sort, desc);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'instrument-next', id: compact ? 'instrument-next-top-table' : 'instrument-next-table' },
      h('caption', { class: compact ? 'visually-hidden' : '' }, caption || 'Services to instrument next'),
      h('thead', {}, h('tr', {}, head)),
      h('tbody', {}, sorted.length
        ? sorted.map((r) => h('tr', { 'data-name': r.name, 'data-rank': String(r.rank) }, rowCells(r, compact)))
        : h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'Every catalog service sends traces. Nothing to instrument.')))));
}

export async function renderInstrumentNext(main) {
  const params = new URLSearchParams(location.search);
  const f = { team: params.get('team') || '', env: params.get('env') || '', limit: params.get('limit') || '50' };
  let sort = 'rank';
  let desc = false;
  const stats = await api.stats();
  const select = (id, label, name, options) => h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name }, options.map(([v, text]) => h('option', { value: v, selected: v === f[name] }, text))));
  const keys = (b) => [['', 'Any'], ...b.map((x) => [x.key, `${x.key} (${x.total})`])];
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the ranking' },
    select('n-team', 'Team', 'team', keys(stats.by_team)),
    select('n-env', 'Env', 'env', keys(stats.by_env)),
    select('n-limit', 'Show', 'limit', LIMITS.map((n) => [String(n), `top ${n}`])),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Apply')));
  const summary = h('p', { id: 'instrument-next-total', 'aria-live': 'polite' });
  const holder = h('div', { id: 'instrument-next-holder' });
  const lead = h('p', { class: 'lead', id: 'instrument-next-lead' });
  let data = null;

  function draw() {
    holder.replaceChildren(instrumentNextTable(data, {
      sort, desc,
      onSort: (key) => {
        desc = key === sort ? !desc : key !== 'rank' && key !== 'name' && key !== 'team';
        sort = key;
        draw();
      },
    }));
  }

  async function load() {
    const fd = new FormData(form);
    for (const k of Object.keys(f)) f[k] = fd.get(k) || '';
    history.replaceState(null, '', `/instrument-next${qs(f)}`);
    data = await api.recommendations(f);
    summary.textContent = `${fmtInt(data.total)} catalog services without APM; showing the top ${fmtInt(data.recommendations.length)}.`;
    summary.dataset.total = String(data.total);
    lead.textContent = 'Catalog services that send no traces (USM-only included), ranked by the broken traces ' +
      `they caused in the last ${data.lookback_hours} hours, then by how many services call them, ` +
      'customer-facing first among equals. Instrumenting the first rows repairs the most traces.';
    draw();
    announce(summary.textContent);
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  form.addEventListener('change', () => load());

  main.replaceChildren(
    h('h1', {}, 'Instrument next'),
    lead,
    form, summary, sampleNote(stats.sample, 'sample-instrument-next'), holder);
  await load();
  return { dispose() {} };
}
