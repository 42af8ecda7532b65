// The dashboard in headless Chromium (Debian /usr/bin/chromium via playwright-core) against the
// whole private stack fed by ddsim, started and synced once by run.py (see there for the
// STACK_* variables). Every page loads without console or CSP errors; the overview shows the
// REST API's /api/stats and ddsim's ground truth for the synced window; the services table
// filtered by team shows /api/services?team=…; a broken trace opened from the list draws each
// missing service of /api/traces/{id} in a gap row of its waterfall; "Sync now" makes a new job
// that reaches succeeded; instrument next and the map draw what their APIs answer. Screenshots go to SCREENSHOT_DIR/stack-*.png for review.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { closeChromium, launchChromium } from '../chromium.mjs';
import { assertDimensionTable, num } from '../overview.mjs';

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this file through tests/browser/stack/run.py (ctest -L browser)`);
  return v;
}

const base = required('STACK_GATEWAY_URL');
const ddsim = required('STACK_DDSIM_URL');
const token = required('STACK_API_TOKEN');
const truthFrom = Number(required('STACK_TRUTH_FROM_MS'));
const truthTo = Number(required('STACK_TRUTH_TO_MS'));
const judgedTo = Number(required('STACK_JUDGED_TO_MS'));
const shots = process.env.SCREENSHOT_DIR || join(process.cwd(), 'screenshots');

let browser;
let page;
const consoleErrors = [];
let truth; // ddsim's ground truth over [T0, C), broken traces listed

async function getJson(url) {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.json();
}
const apiGet = (path) => getJson(base + path);

async function shot(name) {
  await page.screenshot({ path: join(shots, `stack-${name}.png`), fullPage: true });
}

// Opens a dashboard path and waits for the router to finish rendering it; the page must not
// have rendered the router's error view.
async function open(path) {
  await page.goto(base + path);
  await waitReady(path);
}

async function waitReady(path) {
  await page.waitForSelector(`main[data-ready="${path.split('?')[0]}"]`, { timeout: 20000 });
  const alert = page.locator('main [role="alert"].error');
  if (await alert.count()) assert.fail(`${path} rendered an error: ${await alert.first().textContent()}`);
  assert.notEqual(await page.textContent('main h1'), 'Not found', path);
}

const buckets = (list) => Object.fromEntries(list.map((b) => [b.key, [b.total, b.instrumented]]));

before(async () => {
  mkdirSync(shots, { recursive: true });
  truth = await getJson(`${ddsim}/_ddsim/ground-truth?from=${truthFrom}&to=${truthTo}&traces=broken`);
  // Nothing may be fetched from anywhere but the gateway.
  browser = await launchChromium({
    allowedBase: base,
    onError: (kind, e) => consoleErrors.push({ page: page ? page.url() : '', resource: e.url, text: e.text }),
  });
  page = browser.page;
});

after(async () => {
  await closeChromium(browser);
});

test('overview shows /api/stats and ddsim ground truth', async () => {
  await open('/');
  const stats = await apiGet('/api/stats');
  const cov = truth.coverage;
  const kpi = async (id) => page.getAttribute(`#kpi-${id} .kpi-value`, 'data-value');
  const shown = {
    total: Number(await kpi('total')),
    instrumented: Number(await kpi('instrumented')),
    coverage: Number(await kpi('coverage')),
    shadow: Number(await kpi('shadow')),
    broken: Number(await kpi('broken')),
  };
  console.log(`overview shows ${JSON.stringify(shown)}; ddsim truth: ${cov.total_services} services, `
    + `${cov.instrumented_services} instrumented (${cov.coverage_pct}%), ${cov.shadow_services} shadow, `
    + `${truth.trace_summary.broken} broken traces in [T0, C)`);
  // = the REST API
  assert.equal(shown.total, stats.total_services);
  assert.equal(shown.instrumented, stats.instrumented_services);
  assert.equal(shown.coverage, stats.coverage_pct);
  assert.equal(shown.shadow, stats.shadow_services);
  assert.equal(shown.broken, stats.broken_traces);
  assert.equal(await kpi('last-sync'), stats.last_sync.id);
  // = ddsim's ground truth (design §8 fixes no precision for coverage_pct: within 0.05)
  assert.equal(shown.total, cov.total_services, 'total services vs ddsim');
  assert.equal(shown.instrumented, cov.instrumented_services, 'instrumented services vs ddsim');
  const exact = cov.total_services ? (100 * cov.instrumented_services) / cov.total_services : 0;
  assert.ok(Math.abs(shown.coverage - exact) <= 0.05 + 1e-9, `coverage ${shown.coverage} vs ddsim ${exact}`);
  assert.equal(shown.shadow, cov.shadow_services, 'shadow services vs ddsim');
  // Broken traces: every one the product lists is broken in the truth (so at most the truth's
  // count over what was synced), and every truly broken trace that surely was judged is listed.
  const judged = truth.traces.filter((t) => t.broken && t.start_ns / 1e6 < judgedTo).length;
  assert.ok(shown.broken <= truth.trace_summary.broken,
    `broken traces shown ${shown.broken} > ddsim's ${truth.trace_summary.broken} in the synced window`);
  assert.ok(shown.broken >= judged, `broken traces shown ${shown.broken} < ddsim's ${judged} surely judged`);
  assert.ok(shown.broken > 0, 'ddsim injected broken traces; the overview shows none');

  for (const dim of ['team', 'env', 'infra', 'language']) {
    const rows = await assertDimensionTable(page, stats, dim);
    const shownBuckets = Object.fromEntries(rows.map((r) => [r[0], [num(r[1]), num(r[2])]]));
    assert.deepEqual(shownBuckets, buckets(cov[`by_${dim}`]), `by_${dim} vs ddsim`);
  }
  const cf = await page.$$eval('#cf-without-apm li', (lis) => lis.map((l) => l.textContent));
  assert.deepEqual(cf, stats.customer_facing_without_apm);
  assert.deepEqual([...cf].sort(), [...cov.customer_facing_without_apm].sort(), 'customer-facing without APM vs ddsim');
  assert.equal(await page.locator('#trend canvas').count(), 1);
  await shot('overview');
});

test('services table filtered by team equals /api/services?team=…', async () => {
  await open('/services');
  const all = await apiGet('/api/services');
  assert.equal(Number(await page.getAttribute('#services-total', 'data-total')), all.total);
  assert.equal(all.total, truth.coverage.total_services);
  await shot('services');

  // The biggest team (ddsim's truth counts it too).
  const stats = await apiGet('/api/stats');
  const team = [...stats.by_team].sort((a, b) => b.total - a.total || a.key.localeCompare(b.key))[0];
  const expected = await apiGet(`/api/services?team=${encodeURIComponent(team.key)}&page_size=50`);
  assert.equal(expected.total, team.total);
  assert.ok(expected.total < all.total, `team ${team.key} has every service: the filter would show nothing`);
  assert.equal(expected.total, truth.coverage.by_team.find((b) => b.key === team.key).total, 'team size vs ddsim');
  await page.selectOption('#f-team', team.key);
  await page.waitForSelector(`#services-total[data-total="${expected.total}"]`);
  const rows = await page.$$eval('#services-table tbody tr', (trs) => trs.map((t) => t.dataset.name));
  assert.deepEqual(rows, expected.services.map((s) => s.name));
  const teams = await page.$$eval('#services-table tbody tr', (trs) => trs.map((t) => t.cells[1].textContent));
  assert.ok(teams.every((t) => t === team.key), `rows of other teams: ${teams}`);
  assert.match(await page.getAttribute('#export-csv', 'href'), new RegExp(`team=${encodeURIComponent(team.key)}`));
  await shot('services-filtered');
});

test('service detail loads', async () => {
  const list = await apiGet('/api/services?page_size=50');
  const name = list.services.find((s) => s.instrumented)?.name ?? list.services[0].name;
  await open(`/services/${encodeURIComponent(name)}`);
  await waitReady(`/services/${encodeURIComponent(name)}`);
  const s = await apiGet(`/api/services/${encodeURIComponent(name)}`);
  assert.equal(await page.textContent('main h1'), name);
  const status = s.instrumented ? 'Instrumented' : s.usm_only ? 'Seen only by USM (no traces)' : 'No APM';
  assert.equal(await page.textContent('#apm-status'), status);
  assert.equal(await page.locator('#apm-envs tbody tr').count(), Math.max(1, s.apm.length));
  assert.equal(await page.locator('#dependencies tbody tr').count(), Math.max(1, s.dependencies.length));
  await shot('service-detail');
});

test('a broken trace opened from the list draws its missing service in the waterfall', async () => {
  await open('/traces');
  const list = await apiGet('/api/traces?page_size=50');
  assert.equal(Number(await page.getAttribute('#traces-total', 'data-total')), list.total);
  assert.ok(list.total > 0, 'no broken traces listed');
  const shownIds = await page.$$eval('#traces-table tbody tr', (trs) => trs.map((t) => t.dataset.trace));
  assert.deepEqual(shownIds, list.traces.map((t) => t.trace_id));
  await shot('traces');

  const pick = list.traces.find((t) => t.missing_services.length > 0);
  assert.ok(pick, 'no listed broken trace has a missing service');
  await page.click(`#traces-table a:text-is("${pick.trace_id}")`);
  await waitReady(`/traces/${pick.trace_id}`);
  const t = await apiGet(`/api/traces/${pick.trace_id}`);
  assert.ok(t.missing_services.length > 0);
  for (const svc of t.missing_services) {
    const gap = page.locator(`#waterfall li.gap[data-missing="${svc}"]`);
    assert.ok(await gap.count() >= 1, `no gap row for missing service ${svc} in the waterfall`);
    assert.ok((await gap.first().textContent()).includes(svc), `gap row of ${svc} does not name it`);
    assert.ok(await gap.first().locator('.bar.missing').isVisible(), `gap bar of ${svc} not visible`);
  }
  assert.equal(await page.locator('#waterfall li[data-span]').count(), t.spans.length);
  // The same trace in ddsim's truth: broken, with the same missing services.
  const tt = truth.traces.find((x) => x.trace_id === t.trace_id);
  assert.ok(tt, `trace ${t.trace_id} is not broken in ddsim's truth`);
  assert.deepEqual([...t.missing_services].sort(), [...tt.missing_services].sort(), 'missing services vs ddsim');
  console.log(`trace ${t.trace_id}: missing ${t.missing_services.join(', ')} (${t.gap_kinds.join(', ')}), `
    + `${t.spans.length} spans`);
  await shot('trace-detail');
});

test('sync now starts a new job that reaches succeeded', async () => {
  await open('/sync');
  const before = await apiGet('/api/sync-jobs');
  assert.ok(before.jobs.length >= 1 && before.jobs.every((j) => j.state !== 'running'));
  await page.waitForSelector(`#jobs-table tr[data-job="${before.jobs[0].id}"]`);
  await shot('sync');
  await page.fill('#api-token', token);
  await page.click('#sync-now');
  await page.waitForSelector('#sync-progress[data-job]', { timeout: 10000 });
  const jobId = await page.getAttribute('#sync-progress', 'data-job');
  assert.ok(!before.jobs.some((j) => j.id === jobId), `job ${jobId} is not new`);
  await page.waitForSelector('#sync-progress[data-state="succeeded"]', { timeout: 150000 });
  const afterJobs = await apiGet('/api/sync-jobs');
  assert.equal(afterJobs.jobs.length, before.jobs.length + 1);
  const job = afterJobs.jobs.find((j) => j.id === jobId);
  assert.equal(job.state, 'succeeded');
  assert.equal(job.trigger, 'manual');
  await page.waitForSelector(`#jobs-table tr[data-job="${jobId}"][data-state="succeeded"]`, { timeout: 10000 });
  console.log(`sync job ${jobId}: ${job.state}, ${job.api_calls} API calls, ${job.pages} pages, ${job.spans} spans`);
  await shot('sync-finished');
});

test('instrument next and the map against a ddsim-fed stack', async () => {
  await open('/instrument-next');
  const rec = await apiGet('/api/recommendations?limit=50');
  await page.waitForSelector(`#instrument-next-total[data-total="${rec.total}"]`);
  assert.deepEqual(await page.$$eval('#instrument-next-table tbody tr', (trs) => trs.map((t) => t.dataset.name)),
    rec.recommendations.map((r) => r.name));
  // ddsim's organisation has services without APM that break traces: the first one names some.
  assert.ok(rec.recommendations.length > 0 && rec.recommendations[0].broken_traces > 0);
  await shot('instrument-next');

  await open('/map');
  await page.waitForSelector('#map-graph[data-ready="true"]');
  const map = await apiGet('/api/service-map');
  const drawn = await page.evaluate(() => {
    const cy = document.getElementById('map-graph')._cyreg.cy;
    return {
      nodes: cy.nodes().map((n) => `${n.id()}|${n.data('kind')}`).sort(),
      red: cy.edges('.gap-uninstrumented').map((e) => `${e.source().id()}>${e.target().id()}`).sort(),
    };
  });
  assert.deepEqual(drawn.nodes, map.nodes.map((n) => `${n.id}|${n.kind}`).sort());
  const uninstrumented = new Set(['uninstrumented_callee', 'uninstrumented_hop']);
  assert.deepEqual(drawn.red, map.edges.filter((e) => e.gap_kinds.some((k) => uninstrumented.has(k)))
    .map((e) => `${e.from}>${e.to}`).sort());
  assert.ok(drawn.red.length > 0);
  await shot('map');
});

test('no console or CSP errors on any page', async () => {
  // The sync page polls /api/sync-jobs/{id} from the moment POST /api/sync answers; the gateway
  // answers a queued job until the collector records it, so not even a 404 is expected.
  assert.deepEqual(consoleErrors.map((e) => `${e.page}: ${e.text} ${e.resource}`), []);
});
