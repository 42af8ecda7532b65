import { api } from './api.js';
import { fmtInt, fmtTime, h, link, table } from './dom.js';

export async function renderServiceDetail(main, name) {
  const s = await api.service(name);
  const status = s.instrumented ? 'Instrumented' : s.usm_only ? 'Seen only by USM (no traces)' : 'No APM';
  main.replaceChildren(
    h('h1', {}, s.name),
    h('p', { id: 'apm-status', class: s.instrumented ? 'status ok' : 'status bad' }, status),
    h('section', { class: 'card', 'aria-labelledby': 'h-facts' },
      h('h2', { id: 'h-facts' }, 'Catalog'),
      h('dl', { class: 'facts' },
        [['Team', s.team || '—'], ['Application', s.application || '—'], ['Tier', s.tier || '—'],
          ['Lifecycle', s.lifecycle || '—'], ['Type', s.type || '—'], ['Infrastructure', s.infra],
          ['Languages', s.languages.join(', ') || '—'], ['Envs', s.envs.join(', ') || '—'],
          ['Customer-facing', s.customer_facing ? 'Yes' : 'No'], ['Schema', s.schema_version || '—'],
          ['Tags', s.tags.join(', ') || '—'], ['Removed', s.removed_at ? fmtTime(s.removed_at) : 'No']]
          .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      Array.isArray(s.links) && s.links.length
        ? h('ul', {}, s.links.filter((l) => l && /^https?:/.test(l.url || '')).map((l) =>
          h('li', {}, h('a', { href: l.url, rel: 'noopener noreferrer' }, l.name || l.url))))
        : null),
    h('section', { class: 'card' },
      table('APM status per env', ['Env', 'Traced', 'USM only', 'Spans', 'Last seen'],
        s.apm.map((a) => [a.env, a.traced ? 'Yes' : 'No', a.usm_only ? 'Yes' : 'No', fmtInt(a.span_count), fmtTime(a.last_seen)]),
        { id: 'apm-envs' })),
    h('section', { class: 'card' },
      table('Dependencies', ['Calls', 'Kind', 'Target kind', 'Count', 'Last seen'],
        s.dependencies.map((d) => [d.to_kind === 'service' ? link(`/services/${encodeURIComponent(d.to_name)}`, d.to_name) : d.to_name,
          d.kind, d.to_kind, fmtInt(d.count), fmtTime(d.last_seen)]),
        { id: 'dependencies' })),
    h('section', { class: 'card' },
      table('Broken traces through this service', ['Trace', 'Started', 'Missing services', 'Gaps'],
        s.broken_traces.map((t) => [link(`/traces/${t.trace_id}`, t.trace_id), fmtTime(t.started_at),
          t.missing_services.join(', ') || '—', t.gap_kinds.join(', ')]),
        { id: 'service-traces' })));
  return { dispose() {} };
}
