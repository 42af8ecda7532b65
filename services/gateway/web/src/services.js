import { api, qs } from './api.js';
import { announce, fmtInt, fmtTime, h, link } from './dom.js';

const FILTERS = ['team', 'env', 'infra', 'language', 'tier', 'apm', 'customer_facing', 'include_deprecated', 'q', 'sort'];
const SORTABLE = { name: 'Name', team: 'Team', infra: 'Infra', tier: 'Tier', instrumented: 'APM', span_count: 'Spans', last_seen: 'Last seen' };

function selectField(id, label, name, options, value) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name },
      h('option', { value: '' }, 'Any'),
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

function apmCell(s) {
  if (s.instrumented) return h('span', { class: 'badge ok' }, 'Instrumented');
  if (s.usm_only) return h('span', { class: 'badge warn' }, 'USM only');
  return h('span', { class: 'badge bad' }, 'No APM');
}

export async function renderServices(main, navigate) {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const f of FILTERS) filters[f] = params.get(f) || '';
  const pageSize = 50;
  const tokens = [''];
  const stats = await api.stats();
  const keys = (b) => b.map((x) => [x.key, `${x.key} (${x.total})`]);

  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter services' },
    h('div', { class: 'field grow' },
      h('label', { for: 'f-q' }, 'Search'),
      h('input', { id: 'f-q', name: 'q', type: 'search', value: filters.q, placeholder: 'name or team' })),
    selectField('f-team', 'Team', 'team', keys(stats.by_team), filters.team),
    selectField('f-env', 'Env', 'env', keys(stats.by_env), filters.env),
    selectField('f-infra', 'Infrastructure', 'infra', keys(stats.by_infra), filters.infra),
    selectField('f-language', 'Language', 'language', keys(stats.by_language), filters.language),
    h('div', { class: 'field' },
      h('label', { for: 'f-tier' }, 'Tier'),
      h('input', { id: 'f-tier', name: 'tier', type: 'text', size: 6, value: filters.tier })),
    selectField('f-apm', 'APM', 'apm', [['true', 'Instrumented'], ['false', 'Not instrumented']], filters.apm),
    selectField('f-cf', 'Customer-facing', 'customer_facing', [['true', 'Yes'], ['false', 'No']], filters.customer_facing),
    h('div', { class: 'field check' },
      h('input', { id: 'f-dep', name: 'include_deprecated', type: 'checkbox', value: 'true', checked: filters.include_deprecated === 'true' }),
      h('label', { for: 'f-dep' }, 'Include deprecated')),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Apply')));

  const summary = h('p', { id: 'services-total', 'aria-live': 'polite' });
  const exportLink = h('a', { id: 'export-csv', class: 'button', download: 'services.csv' }, 'Export CSV');
  const tbody = h('tbody');
  const headRow = h('tr');
  const prev = h('button', { type: 'button', id: 'prev-page' }, 'Previous page');
  const next = h('button', { type: 'button', id: 'next-page' }, 'Next page');
  const pageInfo = h('span', { id: 'page-info' });

  function currentFilters() {
    const data = new FormData(form);
    const out = { sort: filters.sort };
    for (const f of FILTERS) if (f !== 'sort') out[f] = data.get(f) || '';
    return out;
  }

  function drawHead() {
    const sort = filters.sort || 'name';
    const field = sort.replace(/^-/, '');
    const desc = sort.startsWith('-');
    const cols = ['name', 'team', 'Envs', 'infra', 'Languages', 'tier', 'Lifecycle', 'Customer-facing', 'instrumented', 'span_count', 'last_seen'];
    headRow.replaceChildren(...cols.map((c) => {
      if (!SORTABLE[c]) return h('th', { scope: 'col' }, c);
      const active = c === field;
      const nextSort = active && !desc ? `-${c}` : c;
      return h('th', { scope: 'col', 'aria-sort': active ? (desc ? 'descending' : 'ascending') : 'none' },
        h('button', {
          type: 'button', class: 'sort', 'data-sort': c,
          onclick: () => { filters.sort = nextSort; tokens.length = 1; load(0); },
        }, SORTABLE[c], active ? (desc ? ' ▼' : ' ▲') : ''));
    }));
  }

  let page = 0;
  async function load(p) {
    page = p;
    const f = currentFilters();
    Object.assign(filters, f);
    const url = `/services${qs(f)}`;
    if (location.pathname + location.search !== url) history.replaceState(null, '', url);
    exportLink.setAttribute('href', `/services/export${qs(f)}`);
    drawHead();
    const res = await api.services({ ...f, page_size: pageSize, page_token: tokens[p] });
    tokens[p + 1] = res.next_page_token || '';
    tbody.replaceChildren(...(res.services.length ? res.services.map((s) => h('tr', { 'data-name': s.name },
      h('td', {}, link(`/services/${encodeURIComponent(s.name)}`, s.name)),
      h('td', {}, s.team || '—'),
      h('td', {}, s.envs.join(', ') || '—'),
      h('td', {}, s.infra),
      h('td', {}, s.languages.join(', ') || '—'),
      h('td', {}, s.tier || '—'),
      h('td', {}, s.lifecycle || '—'),
      h('td', {}, s.customer_facing ? 'Yes' : 'No'),
      h('td', {}, apmCell(s)),
      h('td', { class: 'num' }, fmtInt(s.span_count)),
      h('td', {}, fmtTime(s.last_seen)))) : [h('tr', {}, h('td', { colspan: 11, class: 'empty' }, 'No services match.'))]));
    const from = res.total ? p * pageSize + 1 : 0;
    const to = p * pageSize + res.services.length;
    summary.textContent = `${fmtInt(res.total)} services`;
    summary.dataset.total = String(res.total);
    pageInfo.textContent = `Showing ${from}–${to} of ${fmtInt(res.total)}`;
    prev.disabled = p === 0;
    next.disabled = !res.next_page_token;
    announce(`${res.total} services`);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); tokens.length = 1; load(0); });
  form.addEventListener('change', (e) => { if (e.target.name !== 'q') { tokens.length = 1; load(0); } });
  let debounce;
  form.querySelector('#f-q').addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { tokens.length = 1; load(0); }, 300);
  });
  prev.addEventListener('click', () => load(Math.max(0, page - 1)));
  next.addEventListener('click', () => load(page + 1));

  main.replaceChildren(
    h('h1', {}, 'Services'),
    form,
    h('div', { class: 'toolbar' }, summary, exportLink),
    h('div', { class: 'table-wrap' },
      h('table', { id: 'services-table' }, h('caption', { class: 'visually-hidden' }, 'Catalog services'),
        h('thead', {}, headRow), tbody)),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageInfo, next));
  await load(0);
  void navigate;
  return { dispose: () => clearTimeout(debounce) };
}
