// The service map (design §8): the dependency graph of the lookback, drawn by cytoscape with a
// layered (dagre) layout, bundled by esbuild. Services without APM are dashed red nodes, USM-only,
// shadow services, datastores, queues and external hosts each look different; edges are coloured
// by the gaps found on them and sized by traffic. A node opens its service page, an edge its
// broken traces; hovering a service fades everything but its neighbourhood. The same edges are
// listed in a table below, for keyboards and screen readers.
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
import { api, qs } from './api.js';
import { fmtInt, h, link, table } from './dom.js';
import { NODE_KINDS, edgeClass, edgeHref, nodeHref, toElements } from './map_model.js';
import { sampleNote } from './sample.js';

cytoscape.use(dagre);

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)', 'font-size': 11, 'text-valign': 'center', 'text-halign': 'center',
      'text-wrap': 'ellipsis', 'text-max-width': 210, width: 'data(w)', height: 28, shape: 'round-rectangle',
      'background-color': '#e8f1fb', 'border-width': 2, 'border-color': '#0b5cad', color: '#1a1a1a',
    },
  },
  { selector: 'node.customer-facing', style: { 'font-weight': 'bold' } },
  { selector: 'node.uninstrumented', style: { 'background-color': '#fff4f2', 'border-color': '#d92d20', 'border-style': 'dashed', 'border-width': 3 } },
  { selector: 'node.usm_only', style: { 'background-color': '#fffaeb', 'border-color': '#b54708', 'border-style': 'dotted', 'border-width': 3 } },
  { selector: 'node.shadow', style: { 'background-color': '#f4ebff', 'border-color': '#6941c6', shape: 'hexagon' } },
  { selector: 'node.datastore', style: { shape: 'barrel', 'background-color': '#ecfdf3', 'border-color': '#067647' } },
  { selector: 'node.queue', style: { shape: 'rhomboid', 'background-color': '#fef6ee', 'border-color': '#b93815' } },
  { selector: 'node.external', style: { shape: 'ellipse', 'background-color': '#f2f4f7', 'border-color': '#667085', color: '#4a4f57' } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)', 'line-color': '#98a2b3', 'target-arrow-color': '#98a2b3', 'target-arrow-shape': 'triangle',
      'curve-style': 'bezier', 'arrow-scale': 0.8,
    },
  },
  { selector: 'edge.gap-uninstrumented', style: { 'line-color': '#d92d20', 'target-arrow-color': '#d92d20' } },
  { selector: 'edge.gap-propagation', style: { 'line-color': '#dc6803', 'target-arrow-color': '#dc6803', 'line-style': 'dashed' } },
  { selector: 'node:selected', style: { 'border-width': 4, 'border-color': '#f59e0b' } },
  { selector: '.faded', style: { opacity: 0.12 } },
];

function legend() {
  const item = (cls, text) => h('li', {}, h('span', { class: `map-swatch ${cls}`, 'aria-hidden': 'true' }), ' ', text);
  return h('ul', { class: 'map-legend', 'aria-label': 'Legend' },
    Object.entries(NODE_KINDS).map(([k, text]) => item(`node-${k}`, text)),
    item('edge-uninstrumented', 'Traces broke at a service without APM'),
    item('edge-propagation', 'Called service did not continue the trace'),
    item('edge-healthy', 'No broken trace; wider = more traces'));
}

export async function renderMap(main, navigate) {
  const params = new URLSearchParams(location.search);
  const f = { env: params.get('env') || '', team: params.get('team') || '', externals: params.get('externals') || '' };
  const stats = await api.stats();
  const keys = (b) => [['', 'Any'], ...b.map((x) => [x.key, `${x.key} (${x.total})`])];
  const select = (id, label, name, options) => h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name }, options.map(([v, text]) => h('option', { value: v, selected: v === f[name] }, text))));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter the map' },
    select('m-env', 'Env', 'env', keys(stats.by_env)),
    select('m-team', 'Team', 'team', keys(stats.by_team)),
    h('div', { class: 'field check' },
      h('input', { id: 'm-externals', name: 'externals', type: 'checkbox', value: 'expand', checked: f.externals === 'expand' }),
      h('label', { for: 'm-externals' }, 'One node per external host')),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Apply')));
  const summary = h('p', { id: 'map-summary', 'aria-live': 'polite' });
  const graph = h('div', { id: 'map-graph', class: 'map-graph', role: 'img', 'aria-label': 'Service dependency graph' });
  const hint = h('p', { id: 'map-hint', class: 'sample-note' }, 'Click a service for its page, a coloured edge for its broken traces.');
  const edgesHolder = h('div', { id: 'map-edges' });
  let cy = null;

  function destroy() {
    if (cy) cy.destroy();
    cy = null;
  }

  async function load() {
    const fd = new FormData(form);
    for (const k of Object.keys(f)) f[k] = fd.get(k) || '';
    history.replaceState(null, '', `/map${qs(f)}`);
    const map = await api.serviceMap(f);
    const services = map.nodes.filter((n) => nodeHref(n) && n.kind !== 'shadow');
    const missing = map.nodes.filter((n) => n.kind === 'uninstrumented' || n.kind === 'usm_only');
    const broken = map.edges.filter((e) => e.broken_traces > 0);
    summary.textContent = `${fmtInt(services.length)} catalog services, ${fmtInt(missing.length)} of them without APM; ` +
      `${fmtInt(map.edges.length)} dependencies, ${fmtInt(broken.length)} with broken traces in the last ${map.lookback_hours} hours` +
      (map.truncated ? ' (the largest map drawn; filter by team or env to see the rest)' : '') + '.';
    summary.dataset.nodes = String(map.nodes.length);
    summary.dataset.edges = String(map.edges.length);
    edgesHolder.replaceChildren(h('details', {},
      h('summary', {}, 'Dependencies as a table'),
      table('Dependencies of the map', ['From', 'To', 'Kind', 'Traces', 'Broken traces', 'Gap kinds'],
        map.edges.map((e) => {
          const href = edgeHref(e);
          return [e.from, e.to, e.kind, fmtInt(e.traces),
            href ? link(href, fmtInt(e.broken_traces)) : '0', (e.gap_kinds || []).join(', ') || '—'];
        }), { id: 'map-edges-table' })));
    for (const [i, tr] of [...edgesHolder.querySelectorAll('tbody tr')].entries()) {
      const e = map.edges[i];
      if (!e) continue;
      tr.dataset.from = e.from;
      tr.dataset.to = e.to;
      tr.dataset.class = edgeClass(e);
    }
    destroy();
    graph.dataset.ready = 'false';
    if (!map.nodes.length) {
      graph.replaceChildren(h('p', { class: 'empty' }, 'No dependencies seen in the lookback for these filters.'));
      graph.dataset.ready = 'true';
      return;
    }
    graph.replaceChildren();
    cy = cytoscape({
      container: graph,
      elements: toElements(map),
      style: STYLE,
      layout: { name: 'dagre', rankDir: 'LR', nodeSep: 18, rankSep: 90, edgeSep: 8, animate: false, fit: true, padding: 24 },
      minZoom: 0.1,
      maxZoom: 3,
      wheelSensitivity: 0.3,
    });
    // A small graph fitted to the box would be drawn huge: no more than 1.5x.
    if (cy.zoom() > 1.5) {
      cy.zoom(1.5);
      cy.center();
    }
    cy.on('tap', 'node', (ev) => {
      const href = nodeHref({ id: ev.target.id(), kind: ev.target.data('kind') });
      if (href) navigate(href);
    });
    cy.on('tap', 'edge', (ev) => {
      const d = ev.target.data();
      const href = edgeHref({ from: d.source, to: d.target, broken_traces: d.broken, gap_kinds: d.gaps ? d.gaps.split(', ') : [] });
      if (href) navigate(href);
    });
    cy.on('mouseover', 'node, edge', (ev) => {
      const d = ev.target.data();
      graph.title = ev.target.isNode()
        ? `${d.label}: ${NODE_KINDS[d.kind] || d.kind}${d.team ? `, team ${d.team}` : ''}`
        : `${d.source} → ${d.target} (${d.kind}): ${fmtInt(d.traces)} traces, ${fmtInt(d.broken)} broken${d.gaps ? ` (${d.gaps})` : ''}`;
      graph.style.cursor = ev.target.isNode() ? (nodeHref({ id: d.id, kind: d.kind }) ? 'pointer' : 'default') : (d.broken ? 'pointer' : 'default');
    });
    cy.on('mouseout', 'node, edge', () => { graph.title = ''; graph.style.cursor = 'default'; });
    // Hovering a service lights up its callers, callees and their edges; the rest fades.
    cy.on('mouseover', 'node', (ev) => {
      cy.elements().addClass('faded');
      ev.target.closedNeighborhood().removeClass('faded');
    });
    cy.on('mouseout', 'node', () => cy.elements().removeClass('faded'));
    graph.dataset.ready = 'true';
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  form.addEventListener('change', () => load());

  main.replaceChildren(
    h('h1', {}, 'Service map'),
    form, summary, sampleNote(stats.sample, 'sample-map'), legend(), graph, hint, edgesHolder);
  await load();
  return { dispose: destroy };
}
