import { api } from './api.js';
import { coverageBars, trendLine } from './charts.js';
import { fmtInt, fmtPct, fmtTime, h, link, table } from './dom.js';
import { instrumentNextTable } from './instrument_next.js';
import { fmtShare, sampleNote } from './sample.js';

function kpi(id, label, value, extra, note) {
  return h('div', { class: 'kpi', id: `kpi-${id}` },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value', 'data-value': String(value) }, extra ?? String(value)),
    note);
}

function dimensionSection(id, title, buckets, filterParam) {
  const canvas = h('canvas', { role: 'img', 'aria-label': `${title}: instrumented and not instrumented services` });
  const rows = buckets.map((b) => [
    filterParam ? link(`/services?${filterParam}=${encodeURIComponent(b.key)}`, b.key) : b.key,
    fmtInt(b.total), fmtInt(b.instrumented), fmtPct(b.coverage_pct)]);
  const section = h('section', { class: 'card', id: `by-${id}`, 'aria-labelledby': `h-${id}` },
    h('h2', { id: `h-${id}` }, title),
    h('div', { class: 'chart' }, canvas),
    h('details', {}, h('summary', {}, 'Table'),
      table(title, ['Key', 'Services', 'Instrumented', 'Coverage'], rows, { class: 'buckets', 'data-dimension': id })));
  return { section, draw: () => coverageBars(canvas, buckets) };
}

// Broken-trace rates of the sample by root service, missing service and gap kind (design §7.1).
function estimatesSection(sample) {
  const interval = (b) => `${fmtShare(b.broken_rate_low)}–${fmtShare(b.broken_rate_high)}`;
  const rows = (list, judged) => (list || []).slice(0, 20).map((b) => [
    b.key ?? '(no root)', ...(judged ? [fmtInt(b.judged)] : []), fmtInt(b.broken),
    fmtShare(b.broken_rate), interval(b)]);
  const head = ['Broken', 'Broken rate', '95% interval'];
  return h('section', { class: 'card', id: 'sample-estimates', 'aria-labelledby': 'h-estimates' },
    h('h2', { id: 'h-estimates' }, 'Broken-trace rates (sample)'),
    sampleNote(sample, 'sample-estimates-note'),
    h('div', { class: 'grid' },
      table('By root service', ['Root service', 'Judged', ...head], rows(sample?.by_root_service, true), { 'data-sample': 'root' }),
      table('By missing service', ['Missing service', ...head], rows(sample?.by_missing_service, false), { 'data-sample': 'missing' }),
      table('By gap kind', ['Gap kind', ...head], rows(sample?.by_gap_kind, false), { 'data-sample': 'kind' })));
}

export async function renderOverview(main) {
  const [stats, history, traces, next] = await Promise.all([
    api.stats(), api.history('overall'), api.traces({ page_size: 10 }), api.recommendations({ limit: 5 })]);
  const dims = [
    dimensionSection('infra', 'Coverage by infrastructure', stats.by_infra, 'infra'),
    dimensionSection('team', 'Coverage by team', stats.by_team, 'team'),
    dimensionSection('env', 'Coverage by env', stats.by_env, 'env'),
    dimensionSection('language', 'Coverage by language', stats.by_language, 'language'),
  ];
  const trendCanvas = h('canvas', { role: 'img', 'aria-label': 'Coverage percentage over time' });
  const last = stats.last_sync;
  main.replaceChildren(
    h('h1', {}, 'Overview'),
    h('section', { class: 'kpis', 'aria-label': 'Key figures' },
      kpi('total', 'Catalog services', stats.total_services, fmtInt(stats.total_services)),
      kpi('instrumented', 'Instrumented', stats.instrumented_services, fmtInt(stats.instrumented_services)),
      kpi('coverage', 'Coverage', stats.coverage_pct, fmtPct(stats.coverage_pct)),
      kpi('shadow', 'Shadow services', stats.shadow_services, fmtInt(stats.shadow_services)),
      kpi('broken', 'Broken traces (lookback)', stats.broken_traces, fmtInt(stats.broken_traces),
        sampleNote(stats.sample, 'sample-overview')),
      kpi('last-sync', 'Last sync', last ? last.id : '', last ? `${last.state}, ${fmtTime(last.finished_at)}` : 'never')),
    h('section', { class: 'card', id: 'instrument-next-top', 'aria-labelledby': 'h-next' },
      h('h2', { id: 'h-next' }, 'Instrument next'),
      h('p', {}, `The ${next.recommendations.length} services without APM that break the most traces (of ${fmtInt(next.total)}). `,
        link('/instrument-next', 'See the full ranking')),
      sampleNote(stats.sample, 'sample-next'),
      instrumentNextTable(next, { compact: true, caption: 'Top services to instrument' })),
    h('div', { class: 'grid' }, dims.map((d) => d.section)),
    h('section', { class: 'card', id: 'trend', 'aria-labelledby': 'h-trend' },
      h('h2', { id: 'h-trend' }, 'Coverage trend'),
      history.points.length ? h('div', { class: 'chart' }, trendCanvas) : h('p', {}, 'No history yet.')),
    h('div', { class: 'grid' },
      h('section', { class: 'card', id: 'cf-without-apm', 'aria-labelledby': 'h-cf' },
        h('h2', { id: 'h-cf' }, `Customer-facing without APM (${stats.customer_facing_without_apm.length})`),
        stats.customer_facing_without_apm.length
          ? [h('p', {}, link('/services?customer_facing=true&apm=false', 'Open in the services table')),
            h('ul', { class: 'names', tabindex: '0', 'aria-label': 'Customer-facing services without APM' },
              stats.customer_facing_without_apm.map((n) =>
                h('li', {}, link(`/services/${encodeURIComponent(n)}`, n))))]
          : h('p', {}, 'None.')),
      h('section', { class: 'card', id: 'usm-only', 'aria-labelledby': 'h-usm' },
        h('h2', { id: 'h-usm' }, `Seen only by USM (${stats.usm_only.length})`),
        stats.usm_only.length
          ? h('ul', { class: 'names', tabindex: '0', 'aria-label': 'Services seen only by USM' }, stats.usm_only.map((n) =>
            h('li', {}, link(`/services/${encodeURIComponent(n)}`, n))))
          : h('p', {}, 'None.'))),
    estimatesSection(stats.sample),
    h('section', { class: 'card', id: 'recent-traces' },
      sampleNote(stats.sample, 'sample-recent'),
      table('Recent broken traces', ['Trace', 'Started', 'Root', 'Missing services', 'Gaps'],
        traces.traces.map((t) => [
          link(`/traces/${t.trace_id}`, t.trace_id), fmtTime(t.started_at), t.root_service ?? '(no root)',
          t.missing_services.join(', ') || '—', t.gap_kinds.join(', ')]))));
  const charts = dims.map((d) => d.draw());
  if (history.points.length) charts.push(trendLine(trendCanvas, history.points));
  return { dispose: () => { for (const c of charts) c.destroy(); } };
}
