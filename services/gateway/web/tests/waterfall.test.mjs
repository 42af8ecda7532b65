// Unit tests of the trace waterfall's row order (src/waterfall.js): tree order, sibling order,
// orphans as extra roots, cycles, duplicate ids. Run: node --test services/gateway/web/tests/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareSpanIds, waterfallOrder } from '../src/waterfall.js';

const span = (span_id, parent_id, start_ns) => ({ span_id, parent_id, start_ns, duration_ns: 1 });
const order = (spans) => waterfallOrder(spans).map(({ span: s, depth }) => `${s.span_id}@${depth}`);

test('a child starting with its parent is drawn below it, subtrees stay together', () => {
  // root(1) at 100 → a(2) at 100 → a1(5) at 150; root → b(3) at 120; a → a0(4) at 100.
  const spans = [span('3', '1', 120), span('2', '1', 100), span('1', '0', 100),
    span('5', '2', 150), span('4', '2', 100)];
  assert.deepEqual(order(spans), ['1@0', '2@1', '4@2', '5@2', '3@1']);
});

test('siblings by start time, then span id (numerically)', () => {
  const spans = [span('1', '0', 0), span('10', '1', 5), span('9', '1', 5), span('2', '1', 3)];
  assert.deepEqual(order(spans), ['1@0', '2@1', '9@1', '10@1']);
  assert.ok(compareSpanIds('9', '10') < 0);
  assert.ok(compareSpanIds('18446744073709551615', '18446744073709551614') > 0);
  assert.ok(compareSpanIds('007', '7') === 0);
  assert.ok(compareSpanIds('abc', 'abd') < 0);
});

test('orphans are extra roots in start order, with their subtrees', () => {
  const spans = [span('1', '0', 50), span('7', '99', 10), span('8', '7', 60),
    span('6', '98', 70), span('2', '1', 55)];
  assert.deepEqual(order(spans), ['7@0', '8@1', '1@0', '2@1', '6@0']);
});

test('missing or self parent ids are roots', () => {
  const spans = [span('3', undefined, 3), span('2', '', 2), span('1', '1', 1), span('4', null, 4)];
  assert.deepEqual(order(spans), ['1@0', '2@0', '3@0', '4@0']);
});

test('cycles terminate and list every span once', () => {
  // 2 ↔ 3 form a cycle (no root reaches them), 4 hangs under 3; 1 is a normal root.
  const spans = [span('1', '0', 0), span('3', '2', 20), span('2', '3', 10), span('4', '3', 30)];
  assert.deepEqual(order(spans), ['1@0', '2@0', '3@1', '4@2']);
  // A three-span cycle with nothing else.
  assert.deepEqual(order([span('a', 'c', 5), span('b', 'a', 6), span('c', 'b', 1)]), ['c@0', 'a@1', 'b@2']);
});

test('duplicate span ids are both listed; children hang under the first one given', () => {
  const first = span('5', '0', 1);
  const dup = span('5', '0', 0);
  const child = span('6', '5', 2);
  const out = waterfallOrder([first, child, dup]);
  assert.deepEqual(out.map((r) => [r.span, r.depth]), [[dup, 0], [first, 0], [child, 1]]);
});

test('deep traces do not overflow the stack', () => {
  const spans = [span('1', '', 0)];
  for (let i = 2; i <= 20000; i += 1) spans.push(span(String(i), String(i - 1), i));
  const out = waterfallOrder(spans);
  assert.equal(out.length, 20000);
  assert.equal(out[19999].depth, 19999);
});

test('empty input', () => {
  assert.deepEqual(waterfallOrder([]), []);
});
