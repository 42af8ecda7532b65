// Unit tests of the sample note shown beside every broken-trace figure (src/sample.js).
// Run: node --test services/gateway/web/tests/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtShare, sampleText, sampleTitle } from '../src/sample.js';

const sample = (over) => ({
  sampled_share: 0.042, judged_traces: 1000, broken_traces: 131, broken_rate: 0.131,
  broken_rate_low: 0.123, broken_rate_high: 0.139, broken_traces_per_hour: 130.2, ...over,
});

test('a sampled estimate names the share read and the interval', () => {
  assert.equal(sampleText(sample()),
    'sampled 4.2% of retained traces; broken 13.1% ± 0.8% (131 of 1,000 judged traces)');
  assert.equal(sampleTitle(sample()),
    '95% Wilson interval of the broken rate: 12.3%–13.9%. Estimated 130 broken traces an hour across all retained traffic.');
});

test('everything read, no sync, nothing judged', () => {
  assert.ok(sampleText(sample({ sampled_share: 1 })).startsWith('all retained traces read; broken 13.1%'));
  assert.ok(sampleText(sample({ sampled_share: null })).startsWith('no sync finished in the lookback;'));
  assert.equal(sampleText(sample({ judged_traces: 0 })), 'sampled 4.2% of retained traces; no traces judged yet');
  assert.equal(sampleText(undefined), 'no sample yet');
});

test('small shares keep two significant digits', () => {
  assert.equal(fmtShare(0.00042), '0.042%');
  assert.equal(fmtShare(0), '0.0%');
  assert.equal(fmtShare(0.25), '25.0%');
});
