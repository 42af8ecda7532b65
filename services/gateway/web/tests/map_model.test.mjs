// The service map's and the instrument-next table's pure parts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtPerHour, sortRows } from '../src/instrument_next.js';
import { edgeClass, edgeHref, edgeWidth, nodeHref, toElements } from '../src/map_model.js';

test('edges are red for services without APM, orange for propagation breaks, grey otherwise', () => {
  assert.equal(edgeClass({ gap_kinds: ['uninstrumented_callee'] }), 'gap-uninstrumented');
  assert.equal(edgeClass({ gap_kinds: ['propagation_break', 'uninstrumented_hop'] }), 'gap-uninstrumented');
  assert.equal(edgeClass({ gap_kinds: ['propagation_break'] }), 'gap-propagation');
  assert.equal(edgeClass({ gap_kinds: [] }), 'healthy');
});

test('edge width grows with traffic and is bounded', () => {
  assert.equal(edgeWidth(0), 1);
  assert.ok(edgeWidth(100) > edgeWidth(10));
  assert.equal(edgeWidth(1e12), 8);
});

test('a click leads to the broken traces of an edge, the page of a service', () => {
  assert.equal(edgeHref({ from: 'a b', to: 'pay', broken_traces: 2, gap_kinds: ['uninstrumented_callee'] }),
    '/traces?service=a+b&missing=pay');
  assert.equal(edgeHref({ from: 'a', to: 'b', broken_traces: 1, gap_kinds: ['propagation_break'] }),
    '/traces?service=a&kind=propagation_break');
  assert.equal(edgeHref({ from: 'a', to: 'b', broken_traces: 0, gap_kinds: [] }), null);
  assert.equal(nodeHref({ id: 'pay/x', kind: 'uninstrumented' }), '/services/pay%2Fx');
  assert.equal(nodeHref({ id: 'ghost', kind: 'shadow' }), '/traces?service=ghost');
  assert.equal(nodeHref({ id: 'datastore:pg', kind: 'datastore' }), null);
});

test('elements carry the kind as a class and the edge ends as node ids', () => {
  const els = toElements({
    nodes: [{ id: 'a', label: 'a', kind: 'instrumented', team: 't', customer_facing: true },
      { id: 'b', label: 'b', kind: 'uninstrumented', team: '', customer_facing: false }],
    edges: [{ from: 'a', to: 'b', kind: 'call', traces: 3, broken_traces: 1, gap_kinds: ['uninstrumented_callee'] }],
  });
  assert.equal(els.length, 3);
  assert.equal(els[0].classes, 'instrumented customer-facing');
  assert.equal(els[1].classes, 'uninstrumented');
  assert.equal(els[2].data.source, 'a');
  assert.equal(els[2].data.target, 'b');
  assert.equal(els[2].classes, 'gap-uninstrumented call');
});

test('instrument-next rows sort by any column, ties kept in rank order', () => {
  const rows = [
    { rank: 1, name: 'b', team: 'x', broken_traces: 5, broken_traces_per_hour: 2, callers: ['a'], teams_affected: [], customer_facing: false },
    { rank: 2, name: 'a', team: 'y', broken_traces: 5, broken_traces_per_hour: null, callers: ['a', 'c'], teams_affected: [], customer_facing: true },
    { rank: 3, name: 'c', team: 'x', broken_traces: 0, broken_traces_per_hour: 0, callers: [], teams_affected: [], customer_facing: false },
  ];
  assert.deepEqual(sortRows(rows, 'name', false).map((r) => r.name), ['a', 'b', 'c']);
  assert.deepEqual(sortRows(rows, 'callers', true).map((r) => r.name), ['a', 'b', 'c']);
  assert.deepEqual(sortRows(rows, 'team', false).map((r) => r.name), ['b', 'c', 'a']);
  assert.deepEqual(sortRows(rows, 'broken_traces', true).map((r) => r.rank), [1, 2, 3]);
  assert.deepEqual(sortRows(rows, 'rank', false).map((r) => r.rank), [1, 2, 3]);
});

test('hourly estimates are shown without false precision', () => {
  assert.equal(fmtPerHour(null), '—');
  assert.equal(fmtPerHour(0.1666), '0.2');
  assert.equal(fmtPerHour(1234.4), '1,234');
  assert.equal(fmtPerHour(0), '0');
});
