import { api, ApiError } from './api.js';
import { announce, fmtInt, fmtTime, h } from './dom.js';

const TERMINAL = new Set(['succeeded', 'partial', 'failed']);

// The page polls the job list and any job it started; dispose() stops every poll.
export async function renderSync(main) {
  const timers = [];
  const tbody = h('tbody');
  const progress = h('div', { id: 'sync-progress', role: 'status', 'aria-live': 'polite' });
  const tokenInput = h('input', { id: 'api-token', type: 'password', autocomplete: 'off', value: sessionStorage.getItem('apmcov-token') || '' });
  const button = h('button', { type: 'button', id: 'sync-now' }, 'Sync now');

  async function refresh() {
    const res = await api.jobs(50);
    tbody.replaceChildren(...(res.jobs.length ? res.jobs.map((j) => h('tr', { 'data-job': j.id, 'data-state': j.state },
      h('td', {}, j.id), h('td', {}, j.trigger), h('td', {}, h('span', { class: `badge state-${j.state}` }, j.state)),
      h('td', {}, fmtTime(j.started_at)), h('td', {}, fmtTime(j.finished_at)),
      h('td', { class: 'num' }, fmtInt(j.api_calls)), h('td', { class: 'num' }, fmtInt(j.pages)),
      h('td', { class: 'num' }, fmtInt(j.spans)),
      h('td', { class: 'num', 'data-col': 'sampled' }, fmtInt(j.sampled_seconds ?? 0)),
      h('td', { class: 'num', 'data-col': 'skipped' }, fmtInt(j.skipped_seconds ?? 0)),
      h('td', { class: 'num', 'data-col': 'edge-cut' }, fmtInt(j.edge_cut_traces ?? 0)),
      h('td', {}, j.error || ''))) : [h('tr', {}, h('td', { colspan: 12, class: 'empty' }, 'No sync jobs yet.'))]));
  }

  function follow(id) {
    progress.dataset.job = id;
    progress.dataset.state = 'queued';
    progress.textContent = `Job ${id}: queued, waiting for the collector…`;
    const t = setInterval(async () => {
      try {
        const j = await api.job(id);
        progress.dataset.state = j.state;
        progress.textContent = `Job ${id}: ${j.state} — ${fmtInt(j.api_calls)} API calls, ${fmtInt(j.pages)} pages, ${fmtInt(j.spans)} spans${j.error ? ` (${j.error})` : ''}`;
        if (TERMINAL.has(j.state)) {
          clearInterval(t);
          button.disabled = false;
          announce(`Sync ${j.state}`);
          refresh();
        }
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) progress.textContent = `Job ${id}: ${e.message}`;
      }
    }, 500);
    timers.push(t);
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    sessionStorage.setItem('apmcov-token', tokenInput.value);
    try {
      const res = await api.sync(tokenInput.value);
      follow(res.job_id);
      refresh();
    } catch (e) {
      button.disabled = false;
      progress.textContent = e.status === 401 ? 'This gateway requires an API token.' : `Sync failed: ${e.message}`;
    }
  });

  main.replaceChildren(
    h('h1', {}, 'Sync'),
    h('section', { class: 'card' },
      h('div', { class: 'field' }, h('label', { for: 'api-token' }, 'API token (only if the gateway requires one)'), tokenInput),
      button, progress),
    h('div', { class: 'table-wrap' }, h('table', { id: 'jobs-table' },
      h('caption', {}, 'Sync jobs, newest first'),
      h('thead', {}, h('tr', {}, ['Job', 'Trigger', 'State', 'Started', 'Finished', 'API calls', 'Pages', 'Spans', 'Sampled s', 'Skipped s', 'Edge-cut traces', 'Error'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)));
  timers.push(setInterval(refresh, 2000));
  const page = { dispose: () => { for (const t of timers) clearInterval(t); } };
  try {
    await refresh();
  } catch (e) {
    page.dispose();
    throw e;
  }
  return page;
}
