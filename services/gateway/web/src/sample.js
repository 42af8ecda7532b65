// The sample behind every broken-trace figure (design §7.1): when the collector samples span
// reads, broken-trace counts are a sample of the retained traces, never a total. These helpers
// say how much was read and how sure the broken rate is, next to each such figure.
// sampleText is pure (unit-tested in web/tests); sampleNote builds the element.
import { fmtInt, h } from './dom.js';

// A share 0..1 as a percentage: one decimal, two significant digits below 1%.
export function fmtShare(x) {
  const p = Number(x) * 100;
  if (p > 0 && p < 1) return `${Number(p.toPrecision(2))}%`;
  return `${p.toFixed(1)}%`;
}

// "sampled 4.2% of retained traces; broken 13.1% ± 0.8% (131 of 1,000 judged traces)".
// ± is half the 95% Wilson interval (the interval itself is in sampleTitle).
export function sampleText(sample) {
  if (!sample) return 'no sample yet';
  const share = sample.sampled_share;
  const read = share === null || share === undefined
    ? 'no sync finished in the lookback'
    : share >= 1 ? 'all retained traces read' : `sampled ${fmtShare(share)} of retained traces`;
  if (!sample.judged_traces) return `${read}; no traces judged yet`;
  const half = (sample.broken_rate_high - sample.broken_rate_low) / 2;
  return `${read}; broken ${fmtShare(sample.broken_rate)} ± ${fmtShare(half)} ` +
    `(${fmtInt(sample.broken_traces)} of ${fmtInt(sample.judged_traces)} judged traces)`;
}

export function sampleTitle(sample) {
  if (!sample || !sample.judged_traces) return 'No trace judged in the lookback yet.';
  let t = `95% Wilson interval of the broken rate: ${fmtShare(sample.broken_rate_low)}–${fmtShare(sample.broken_rate_high)}.`;
  if (sample.broken_traces_per_hour !== null && sample.broken_traces_per_hour !== undefined) {
    t += ` Estimated ${fmtInt(Math.round(sample.broken_traces_per_hour))} broken traces an hour across all retained traffic.`;
  }
  return t;
}

// The note element; data-* attributes carry the numbers for tests and scripts.
export function sampleNote(sample, id) {
  const s = sample || {};
  return h('p', {
    class: 'sample-note',
    id,
    title: sampleTitle(sample),
    dataset: {
      sampledShare: String(s.sampled_share ?? ''),
      judged: String(s.judged_traces ?? 0),
      broken: String(s.broken_traces ?? 0),
    },
  }, sampleText(sample));
}
