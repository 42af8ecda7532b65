import { api, qs } from './api.js';
import { fmtInt, fmtTime, h, link } from './dom.js';
import { sampleNote } from './sample.js';
import { waterfallOrder } from './waterfall.js';

const KINDS = ['uninstrumented_hop', 'uninstrumented_callee', 'propagation_break', 'missing_root', 'orphan_span'];

export async function renderTraces(main) {
  const params = new URLSearchParams(location.search);
  const f = {};
  for (const k of ['service', 'missing', 'kind', 'env']) f[k] = params.get(k) || '';
  const tokens = [''];
  let page = 0;
  const field = (id, label, name) => h('div', { class: 'field' },
    h('label', { for: id }, label), h('input', { id, name, type: 'text', value: f[name] }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter broken traces' },
    field('t-service', 'Through service', 'service'),
    field('t-missing', 'Missing service', 'missing'),
    h('div', { class: 'field' }, h('label', { for: 't-kind' }, 'Gap kind'),
      h('select', { id: 't-kind', name: 'kind' }, h('option', { value: '' }, 'Any'),
        KINDS.map((k) => h('option', { value: k, selected: k === f.kind }, k)))),
    field('t-env', 'Env', 'env'),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Apply')));
  const total = h('p', { id: 'traces-total', 'aria-live': 'polite' });
  const note = h('div', { id: 'traces-sample' });
  const showSample = api.stats().then((st) => note.replaceChildren(sampleNote(st.sample, 'sample-traces')));
  const tbody = h('tbody');
  const prev = h('button', { type: 'button' }, 'Previous page');
  const next = h('button', { type: 'button' }, 'Next page');

  async function load(p) {
    page = p;
    const data = new FormData(form);
    for (const k of Object.keys(f)) f[k] = data.get(k) || '';
    history.replaceState(null, '', `/traces${qs(f)}`);
    const res = await api.traces({ ...f, page_size: 50, page_token: tokens[p] });
    tokens[p + 1] = res.next_page_token || '';
    total.textContent = `${fmtInt(res.total)} broken traces`;
    total.dataset.total = String(res.total);
    tbody.replaceChildren(...(res.traces.length ? res.traces.map((t) => h('tr', { 'data-trace': t.trace_id },
      h('td', {}, link(`/traces/${t.trace_id}`, t.trace_id)),
      h('td', {}, fmtTime(t.started_at)),
      h('td', {}, t.env || '—'),
      h('td', {}, t.root_service ?? '(no root)'),
      h('td', { class: 'num' }, fmtInt(t.span_count)),
      h('td', {}, t.missing_services.join(', ') || '—'),
      h('td', {}, t.gap_kinds.join(', ')))) : [h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No broken traces match.'))]));
    prev.disabled = p === 0;
    next.disabled = !res.next_page_token;
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); tokens.length = 1; load(0); });
  prev.addEventListener('click', () => load(Math.max(0, page - 1)));
  next.addEventListener('click', () => load(page + 1));
  main.replaceChildren(h('h1', {}, 'Broken traces'), form, total, note,
    h('div', { class: 'table-wrap' }, h('table', { id: 'traces-table' },
      h('caption', { class: 'visually-hidden' }, 'Broken traces, newest first'),
      h('thead', {}, h('tr', {}, ['Trace', 'Started', 'Env', 'Root', 'Spans', 'Missing services', 'Gaps'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, next));
  await Promise.all([load(0), showSample]);
  return { dispose() {} };
}

// Waterfall: one row per span in tree order (parent first, depth first, siblings by start; see
// waterfall.js), indented by depth, bar placed by start and duration; and for each gap naming a
// service a "missing" row drawn under the client span that called it, spanning that call's time:
// where the uninstrumented service sat. Labels wrap rather than truncate, and carry the full text
// as a tooltip.
export async function renderTraceDetail(main, id) {
  const t = await api.trace(id);
  const spans = t.spans;
  const t0 = Math.min(...spans.map((s) => s.start_ns));
  const t1 = Math.max(...spans.map((s) => s.start_ns + s.duration_ns));
  const range = Math.max(1, t1 - t0);
  const gapsBySpan = new Map();
  for (const g of t.gaps) {
    if (!gapsBySpan.has(g.span_id)) gapsBySpan.set(g.span_id, []);
    gapsBySpan.get(g.span_id).push(g);
  }
  const bar = (start, dur, cls) => {
    const el = h('div', { class: `bar ${cls}` });
    el.style.left = `${(100 * (start - t0)) / range}%`;
    el.style.width = `${Math.max(0.5, (100 * dur) / range)}%`;
    return el;
  };
  const rows = [];
  if (t.gap_kinds.includes('missing_root')) {
    rows.push(h('li', { class: 'wf-row gap', 'data-gap': 'missing_root' },
      h('div', { class: 'wf-label' }, '⚠ Missing root span'), h('div', { class: 'wf-track' })));
  }
  const indent = (d) => h('span', { class: 'indent', 'aria-hidden': 'true' }, '\u00a0'.repeat(2 * d));
  for (const { span: s, depth: d } of waterfallOrder(spans)) {
    const gaps = gapsBySpan.get(s.span_id) || [];
    const orphan = gaps.some((g) => g.kind === 'orphan_span');
    const label = h('div', { class: 'wf-label', title: `${s.service} ${s.resource}${orphan ? ' (orphan)' : ''}` },
      indent(d), h('strong', {}, s.service), ' ', s.resource, orphan ? ' (orphan)' : '');
    rows.push(h('li', { class: `wf-row${orphan ? ' orphan' : ''}`, 'data-span': s.span_id },
      label, h('div', { class: 'wf-track' }, bar(s.start_ns, s.duration_ns, s.kind || 'internal')),
      h('div', { class: 'wf-dur' }, `${(s.duration_ns / 1e6).toFixed(2)} ms`)));
    for (const g of gaps) {
      if (!g.to_service) continue;
      const text = g.kind === 'propagation_break'
        ? `${g.to_service}: called, trace not continued`
        : `${g.to_service}: not instrumented`;
      const detail = `${g.kind}, via ${g.peer || '?'}`;
      rows.push(h('li', { class: 'wf-row gap', 'data-gap': g.kind, 'data-missing': g.to_service },
        h('div', { class: 'wf-label wf-gap-label', title: `${text} (${detail})` },
          indent(d + 1), h('strong', {}, `⚠ ${text}`), ' ',
          h('span', { class: 'wf-kind' }, indent(d + 1), `(${detail})`)),
        h('div', { class: 'wf-track' }, bar(s.start_ns, s.duration_ns, 'missing')),
        h('div', { class: 'wf-dur' }, 'gap')));
    }
  }
  main.replaceChildren(
    h('h1', {}, `Trace ${t.trace_id}`),
    h('dl', { class: 'facts' },
      [['Env', t.env || '—'], ['Root', t.root_service ?? '(no root)'], ['Started', fmtTime(t.started_at)],
        ['Spans', fmtInt(t.span_count)], ['Services', t.services.join(', ')],
        ['Missing services', t.missing_services.join(', ') || '—'], ['Gaps', t.gap_kinds.join(', ')]]
        .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('section', { class: 'card', 'aria-labelledby': 'h-wf' },
      h('h2', { id: 'h-wf' }, 'Waterfall'),
      h('p', { class: 'legend' }, h('span', { class: 'swatch missing', 'aria-hidden': 'true' }), ' where a service is missing'),
      h('ol', { class: 'waterfall', id: 'waterfall' }, rows)),
    h('section', { class: 'card' },
      h('h2', {}, 'Gaps'),
      h('ul', { id: 'gaps' }, t.gaps.map((g) => h('li', {}, `${g.kind} at span ${g.span_id}: ${g.from_service}`,
        g.to_service ? ` → ${g.to_service}` : '', g.peer ? ` (${g.peer})` : '')))));
  return { dispose() {} };
}
