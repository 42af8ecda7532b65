// The service map's pure parts (unit-tested in web/tests): how an answer of /api/service-map
// becomes cytoscape elements, what each edge looks like, and where a click leads.
import { qs } from './api.js';

export const NODE_KINDS = {
  instrumented: 'Instrumented service',
  uninstrumented: 'Catalog service without APM',
  usm_only: 'Seen only by USM (no traces)',
  shadow: 'Shadow service (traced, not in the catalog)',
  datastore: 'Datastore',
  queue: 'Queue',
  external: 'External host',
};

const UNINSTRUMENTED_GAPS = new Set(['uninstrumented_callee', 'uninstrumented_hop']);

// The class that colours an edge: red where a service without APM broke traces, orange where an
// instrumented callee did not continue them, grey when no trace broke on it.
export function edgeClass(edge) {
  const kinds = edge.gap_kinds || [];
  if (kinds.some((k) => UNINSTRUMENTED_GAPS.has(k))) return 'gap-uninstrumented';
  if (kinds.includes('propagation_break')) return 'gap-propagation';
  return 'healthy';
}

// Line width by traffic: 1 px for one trace, about 8 px at a million.
export function edgeWidth(traces) {
  return Math.min(8, 1 + 1.2 * Math.log10(1 + Math.max(0, Number(traces) || 0)));
}

// The broken traces of an edge in the traces page, or null when none broke on it.
export function edgeHref(edge) {
  if (!edge.broken_traces) return null;
  const kinds = edge.gap_kinds || [];
  if (kinds.some((k) => UNINSTRUMENTED_GAPS.has(k))) return `/traces${qs({ service: edge.from, missing: edge.to })}`;
  return `/traces${qs({ service: edge.from, kind: kinds[0] || '' })}`;
}

// A node's page: its service page for catalog services, its traces for a shadow service.
export function nodeHref(node) {
  if (node.kind === 'instrumented' || node.kind === 'uninstrumented' || node.kind === 'usm_only') {
    return `/services/${encodeURIComponent(node.id)}`;
  }
  if (node.kind === 'shadow') return `/traces${qs({ service: node.id })}`;
  return null;
}

export function toElements(map) {
  const nodes = map.nodes.map((n) => {
    const label = n.label || n.id;
    return {
      group: 'nodes',
      data: { id: n.id, label, kind: n.kind, team: n.team, w: Math.max(48, Math.min(220, 7 * label.length + 18)) },
      classes: [n.kind, n.customer_facing ? 'customer-facing' : ''].filter(Boolean).join(' '),
    };
  });
  const edges = map.edges.map((e, i) => ({
    group: 'edges',
    data: {
      id: `e${i}`, source: e.from, target: e.to, kind: e.kind, traces: e.traces,
      broken: e.broken_traces, gaps: (e.gap_kinds || []).join(', '), width: edgeWidth(e.traces),
    },
    classes: `${edgeClass(e)} ${e.kind}`,
  }));
  return [...nodes, ...edges];
}
