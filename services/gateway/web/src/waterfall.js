// Waterfall row order for a trace's spans (pure: no DOM, unit-tested by node --test).
//
// Contract of waterfallOrder(spans) → [{ span, depth }]:
//  - every input span appears exactly once;
//  - tree order: each span is followed by its whole subtree before its next sibling (parent
//    first, depth first), so a child starting at the same instant as its parent is drawn below it;
//  - siblings, and the roots, are ordered by start_ns, then span_id (numeric ids compared as
//    numbers, others as strings);
//  - roots are spans without a parent ('0', '' or missing parent_id) and orphans (parent not in
//    the trace, or itself): all at depth 0, in the same start order;
//  - cycle-safe: spans only reachable through a parent cycle are still listed once, each cycle
//    entered at its earliest span, which is drawn as an extra root.
// Duplicate span ids: the first span with an id is the parent its children hang under.

const DIGITS = /^\d+$/;

export function compareSpanIds(a, b) {
  const x = String(a ?? '');
  const y = String(b ?? '');
  if (DIGITS.test(x) && DIGITS.test(y)) {
    const xs = x.replace(/^0+(?=\d)/, '');
    const ys = y.replace(/^0+(?=\d)/, '');
    if (xs.length !== ys.length) return xs.length - ys.length;
    return xs < ys ? -1 : xs > ys ? 1 : 0;
  }
  return x < y ? -1 : x > y ? 1 : 0;
}

export function compareSpans(a, b) {
  const d = Number(a.start_ns) - Number(b.start_ns);
  if (d !== 0 && !Number.isNaN(d)) return d < 0 ? -1 : 1;
  return compareSpanIds(a.span_id, b.span_id);
}

export function waterfallOrder(spans) {
  const byId = new Map();
  for (const s of spans) if (!byId.has(s.span_id)) byId.set(s.span_id, s);
  const isRoot = (s) => {
    const p = s.parent_id;
    return p === undefined || p === null || p === '' || p === '0' || p === s.span_id || !byId.has(p);
  };
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    if (isRoot(s)) {
      roots.push(s);
    } else {
      if (!children.has(s.parent_id)) children.set(s.parent_id, []);
      children.get(s.parent_id).push(s);
    }
  }
  roots.sort(compareSpans);
  for (const list of children.values()) list.sort(compareSpans);

  const out = [];
  const placed = new Set(); // span objects already output
  const walk = (root) => {
    // Iterative depth-first walk (deep traces must not overflow the stack).
    const stack = [{ span: root, depth: 0 }];
    while (stack.length) {
      const { span, depth } = stack.pop();
      if (placed.has(span)) continue;
      placed.add(span);
      out.push({ span, depth });
      // Only the first span with an id owns that id's children.
      const kids = byId.get(span.span_id) === span ? children.get(span.span_id) || [] : [];
      for (let i = kids.length - 1; i >= 0; i -= 1) {
        if (!placed.has(kids[i])) stack.push({ span: kids[i], depth: depth + 1 });
      }
    }
  };
  for (const r of roots) walk(r);
  if (out.length < spans.length) {
    // Left over: spans in parent cycles (and their subtrees), or children of a duplicate id.
    const rest = spans.filter((s) => !placed.has(s)).sort(compareSpans);
    for (const s of rest) walk(s);
  }
  return out;
}
