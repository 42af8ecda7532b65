// The dashboard in headless Chromium (Debian /usr/bin/chromium via playwright-core): every page
// loads, shows the API's numbers, the services table filters/sorts/pages at 5,000+ services, a
// broken trace's missing service appears in its waterfall, and "Sync now" runs a job to the
// end. No console errors (CSP violations included). Screenshots of each page are written to
// SCREENSHOT_DIR for review.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { closeChromium, launchChromium } from './chromium.mjs';
import { assertDimensionTable } from './overview.mjs';

const harnessPath = process.env.GATEWAY_HARNESS;
const webDir = process.env.GATEWAY_WEB_DIR;
const shots = process.env.SCREENSHOT_DIR || join(process.cwd(), 'screenshots');
let harness;
let base;
let browser;
let page;
const consoleErrors = [];

function startHarness() {
  return new Promise((resolve, reject) => {
    if (!process.env.DATABASE_URL) {
      reject(new Error('DATABASE_URL is not set (scripts/pg-local.sh start)'));
      return;
    }
    if (!harnessPath || !webDir) {
      reject(new Error('GATEWAY_HARNESS and GATEWAY_WEB_DIR must be set (ctest sets them)'));
      return;
    }
    harness = spawn(harnessPath, [], {
      env: { ...process.env, WEB_DIR: webDir, EXTRA_SERVICES: '5000', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    harness.stdout.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    harness.on('exit', (code) => reject(new Error(`harness exited with ${code}`)));
  });
}

async function apiGet(path) {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, path);
  return res.json();
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function open(path) {
  await page.goto(base + path);
  await page.waitForSelector(`main[data-ready="${path.split('?')[0]}"]`, { timeout: 15000 });
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  const ports = await startHarness();
  base = `http://127.0.0.1:${ports.http_port}`;
  // Nothing may be fetched from anywhere but the gateway.
  browser = await launchChromium({
    allowedBase: base,
    onError: (kind, e) => consoleErrors.push(kind === 'external' ? `external request: ${e.url}` : e.text),
  });
  page = browser.page;
});

after(async () => {
  await closeChromium(browser);
  if (harness && harness.exitCode === null) {
    const exited = new Promise((r) => harness.once('exit', r));
    process.kill(harness.pid, 'SIGTERM');
    await exited;
  }
});

test('overview shows the API numbers', async () => {
  await open('/');
  const stats = await apiGet('/api/stats');
  const kpi = async (id) => page.getAttribute(`#kpi-${id} .kpi-value`, 'data-value');
  assert.equal(Number(await kpi('total')), stats.total_services);
  assert.equal(Number(await kpi('instrumented')), stats.instrumented_services);
  assert.equal(Number(await kpi('coverage')), stats.coverage_pct);
  assert.equal(Number(await kpi('shadow')), stats.shadow_services);
  assert.equal(Number(await kpi('broken')), stats.broken_traces);
  assert.equal(await kpi('last-sync'), stats.last_sync.id);
  for (const dim of ['team', 'env', 'infra', 'language']) await assertDimensionTable(page, stats, dim);
  const cf = await page.$$eval('#cf-without-apm li', (lis) => lis.map((l) => l.textContent));
  assert.deepEqual(cf, stats.customer_facing_without_apm);
  assert.ok((await page.textContent('#recent-traces')).includes('101'));
  assert.equal(await page.locator('#trend canvas').count(), 1);
  // The sample beside the broken-trace figures (design §7.1): the seeded 13 of 100 judged at a
  // sampled share of 0.25.
  const s = stats.sample;
  assert.equal(s.sampled_share, 0.25);
  const half = ((s.broken_rate_high - s.broken_rate_low) / 2) * 100;
  const expected = `sampled 25.0% of retained traces; broken ${(s.broken_rate * 100).toFixed(1)}% ± ${half.toFixed(1)}% ` +
    `(${s.broken_traces} of ${s.judged_traces} judged traces)`;
  assert.equal(expected, 'sampled 25.0% of retained traces; broken 13.0% ± 6.6% (13 of 100 judged traces)');
  for (const id of ['sample-overview', 'sample-recent', 'sample-estimates-note']) {
    assert.equal(await page.textContent(`#${id}`), expected, id);
    assert.equal(Number(await page.getAttribute(`#${id}`, 'data-judged')), s.judged_traces);
  }
  assert.ok((await page.getAttribute('#sample-overview', 'title')).includes('7.8%–21.0%'));
  const roots = await page.$$eval('table[data-sample="root"] tbody tr', (trs) => trs.map((t) => t.cells[0].textContent));
  assert.deepEqual(roots, s.by_root_service.map((b) => b.key ?? '(no root)'));
  const missing = await page.$$eval('table[data-sample="missing"] tbody tr', (trs) => trs.map((t) => [...t.cells].map((c) => c.textContent)));
  assert.deepEqual(missing, [['payments', '1', '1.0%', '0.18%–5.4%']]);
  await shot('overview');
});

test('services table filters, searches, sorts and pages at 5,000 services', async () => {
  await open('/services');
  const all = await apiGet('/api/services');
  assert.ok(all.total > 5000);
  assert.equal(Number(await page.getAttribute('#services-total', 'data-total')), all.total);
  assert.equal(await page.locator('#services-table tbody tr').count(), 50);
  await shot('services');

  // Next page = the API's second page.
  const p2 = await apiGet(`/api/services?page_size=50&page_token=${encodeURIComponent(all.next_page_token)}`);
  await page.click('#next-page');
  await page.waitForSelector(`#services-table tbody tr[data-name="${p2.services[0].name}"]`);
  assert.equal(await page.textContent('#page-info'), `Showing 51–100 of ${all.total.toLocaleString('en-US')}`);

  // Team filter.
  await page.selectOption('#f-team', 'web');
  const web = await apiGet('/api/services?team=web');
  await page.waitForSelector(`#services-total[data-total="${web.total}"]`);
  const names = await page.$$eval('#services-table tbody tr', (trs) => trs.map((t) => t.dataset.name));
  assert.deepEqual(names, web.services.map((s) => s.name));
  assert.match(await page.getAttribute('#export-csv', 'href'), /^\/services\/export\?.*team=web/);

  // Search (keyboard), then sort by spans descending.
  await page.selectOption('#f-team', '');
  await page.fill('#f-q', 'check');
  await page.press('#f-q', 'Enter');
  await page.waitForSelector('#services-table tbody tr[data-name="checkout"]');
  await page.waitForSelector('#services-total[data-total="1"]');
  await page.fill('#f-q', '');
  await page.press('#f-q', 'Enter');
  await page.click('button.sort[data-sort="span_count"]');
  await page.click('button.sort[data-sort="span_count"]');
  const bySpans = await apiGet('/api/services?sort=-span_count&page_size=50');
  await page.waitForSelector(`#services-table tbody tr:first-child[data-name="${bySpans.services[0].name}"]`);
  assert.equal(await page.getAttribute('th[aria-sort="descending"] button', 'data-sort'), 'span_count');

  // The CSV export answers with the filtered rows.
  const csv = await (await fetch(`${base}/services/export?team=web`)).text();
  assert.equal(csv.trim().split('\r\n').length, web.total + 1);
});

test('service detail shows catalog facts, APM per env, dependencies and traces', async () => {
  await open('/services/checkout');
  const s = await apiGet('/api/services/checkout');
  assert.equal(await page.textContent('h1'), 'checkout');
  assert.equal(await page.textContent('#apm-status'), 'Instrumented');
  assert.equal(await page.locator('#apm-envs tbody tr').count(), s.apm.length);
  assert.equal(await page.locator('#dependencies tbody tr').count(), s.dependencies.length);
  assert.equal(await page.locator('#service-traces tbody tr').count(), s.broken_traces.length);
  await shot('service-detail');
});

test('broken traces list and a trace waterfall with its missing service', async () => {
  await open('/traces');
  const list = await apiGet('/api/traces');
  assert.equal(Number(await page.getAttribute('#traces-total', 'data-total')), list.total);
  const { sample } = await apiGet('/api/stats');
  await page.waitForSelector('#sample-traces');
  assert.ok((await page.textContent('#sample-traces')).startsWith('sampled 25.0% of retained traces; broken 13.0% ± '));
  assert.equal(Number(await page.getAttribute('#sample-traces', 'data-broken')), sample.broken_traces);
  await shot('traces');
  await page.click('#traces-table a:text-is("101")');
  await page.waitForSelector('main[data-ready="/traces/101"]');
  const gap = page.locator('#waterfall li[data-missing="payments"]');
  await gap.waitFor();
  assert.ok((await gap.textContent()).includes('payments: not instrumented'));
  assert.ok(await gap.locator('.bar.missing').isVisible());
  assert.equal(await page.locator('#waterfall li[data-span]').count(), 3);
  // Tree order (parent first, siblings by start), the gap row under the client span it names.
  const rows = await page.$$eval('#waterfall li', (lis) => lis.map((li) => li.dataset.span || `gap:${li.dataset.missing}`));
  assert.deepEqual(rows, ['1', '3', '2', 'gap:payments']);
  // The gap kind is readable in full: visible text that is not clipped, and a tooltip.
  const label = gap.locator('.wf-label');
  assert.ok((await label.textContent()).includes('(uninstrumented_callee, via payments.internal:8443)'));
  assert.ok(await label.evaluate((el) => el.scrollWidth <= el.clientWidth + 1), 'gap label is clipped');
  assert.ok((await label.getAttribute('title')).includes('uninstrumented_callee'));
  await shot('trace-detail');
});

test('sync now runs a new job to the end', async () => {
  await open('/sync');
  const before = await apiGet('/api/sync-jobs');
  // Sampled / skipped span time and edge-cut traces per job (design §7.1).
  const job2 = before.jobs.find((j) => j.id === 'job-2');
  await page.waitForSelector('#jobs-table tr[data-job="job-2"]');
  const cols = await page.$$eval('#jobs-table tr[data-job="job-2"] td[data-col]', (tds) => tds.map((td) => [td.dataset.col, td.textContent]));
  assert.deepEqual(cols, [['sampled', String(job2.sampled_seconds)], ['skipped', String(job2.skipped_seconds)],
    ['edge-cut', String(job2.edge_cut_traces)]]);
  assert.deepEqual(cols.map((c) => c[1]), ['40', '300', '5']);
  await shot('sync');
  await page.click('#sync-now');
  await page.waitForSelector('#sync-progress[data-state="succeeded"]', { timeout: 20000 });
  const jobId = await page.getAttribute('#sync-progress', 'data-job');
  const afterJobs = await apiGet('/api/sync-jobs');
  assert.equal(afterJobs.jobs.length, before.jobs.length + 1);
  assert.equal(afterJobs.jobs.find((j) => j.id === jobId).state, 'succeeded');
  await page.waitForSelector(`#jobs-table tr[data-job="${jobId}"][data-state="succeeded"]`);
  await shot('sync-finished');
});

test('instrument next: rows match the API, sort, and link to services and traces', async () => {
  await open('/instrument-next');
  const api = await apiGet('/api/recommendations?limit=50');
  await page.waitForSelector(`#instrument-next-total[data-total="${api.total}"]`);
  const names = await page.$$eval('#instrument-next-table tbody tr', (trs) => trs.map((t) => t.dataset.name));
  assert.deepEqual(names, api.recommendations.map((r) => r.name));
  // The seeded world: payments (USM-only, customer-facing) broke trace 101, called by checkout.
  const top = api.recommendations[0];
  assert.equal(top.name, 'payments');
  assert.equal(top.usm_only, true);
  assert.deepEqual(top.example_trace_ids, ['101']);
  const row = page.locator('#instrument-next-table tr[data-name="payments"]');
  assert.equal(await row.locator('a[data-link="service"]').getAttribute('href'), '/services/payments');
  assert.equal(await row.locator('a[data-link="traces"]').getAttribute('href'), '/traces?missing=payments');
  assert.deepEqual(await row.locator('a[data-link="trace"]').evaluateAll((as) => as.map((a) => a.getAttribute('href'))),
    ['/traces/101']);
  // 1 broken trace / sampled share 0.25 / 24 h.
  assert.equal(await row.locator('td[data-col="per-hour"]').textContent(), '0.2');
  assert.ok((await row.locator('td[data-col="callers"]').textContent()).includes('checkout'));
  assert.ok((await page.textContent('#sample-instrument-next')).startsWith('sampled 25.0% of retained traces'));
  await shot('instrument-next');
  // Sorted by name, then back to the ranking.
  await page.click('button.sort[data-sort="name"]');
  const byName = await page.$$eval('#instrument-next-table tbody tr', (trs) => trs.map((t) => t.dataset.name));
  assert.deepEqual(byName, [...names].sort());
  await page.click('button.sort[data-sort="rank"]');
  // A team filter asks the API again.
  await page.selectOption('#n-team', 'payments');
  const payments = await apiGet('/api/recommendations?team=payments&limit=50');
  await page.waitForSelector(`#instrument-next-total[data-total="${payments.total}"]`);
  assert.deepEqual(await page.$$eval('#instrument-next-table tbody tr', (trs) => trs.map((t) => t.dataset.name)),
    payments.recommendations.map((r) => r.name));
  await row.locator('a[data-link="trace"]').first().click();
  await page.waitForSelector('main[data-ready="/traces/101"]');

  // The overview's top five are the API's.
  await open('/');
  const five = await apiGet('/api/recommendations?limit=5');
  assert.deepEqual(await page.$$eval('#instrument-next-top-table tbody tr', (trs) => trs.map((t) => t.dataset.name)),
    five.recommendations.map((r) => r.name));
});

// The graph as cytoscape holds it: node ids and kinds, red edges and their colour, and where a
// node or an edge sits on the page (for real mouse clicks).
function readGraph() {
  const el = document.getElementById('map-graph');
  const cy = el._cyreg.cy;
  const box = el.getBoundingClientRect();
  const at = (p) => ({ x: box.left + p.x, y: box.top + p.y });
  return {
    nodes: cy.nodes().map((n) => [n.id(), n.data('kind')]).sort(),
    border: Object.fromEntries(cy.nodes().map((n) => [n.id(), [n.style('border-style'), n.style('border-color')]])),
    red: cy.edges('.gap-uninstrumented').map((e) => [e.source().id(), e.target().id(), e.style('line-color')]).sort(),
    edges: cy.edges().length,
    nodeAt: Object.fromEntries(cy.nodes().map((n) => [n.id(), at(n.renderedPosition())])),
    redAt: cy.edges('.gap-uninstrumented').map((e) => at(e.renderedMidpoint())),
  };
}

test('service map: nodes and red edges match the API; a click opens a service or its broken traces', async () => {
  await open('/map');
  await page.waitForSelector('#map-graph[data-ready="true"]');
  const api = await apiGet('/api/service-map');
  const g = await page.evaluate(readGraph);
  assert.deepEqual(g.nodes, api.nodes.map((n) => [n.id, n.kind]).sort());
  assert.equal(g.edges, api.edges.length);
  const uninstrumented = new Set(['uninstrumented_callee', 'uninstrumented_hop']);
  const red = api.edges.filter((e) => e.gap_kinds.some((k) => uninstrumented.has(k)));
  assert.ok(red.length > 0);
  assert.deepEqual(g.red, red.map((e) => [e.from, e.to, 'rgb(217,45,32)']).sort());
  for (const n of api.nodes) {
    if (n.kind === 'uninstrumented') assert.deepEqual(g.border[n.id], ['dashed', 'rgb(217,45,32)'], n.id);
    if (n.kind === 'usm_only') assert.equal(g.border[n.id][0], 'dotted', n.id);
  }
  assert.equal(Number(await page.getAttribute('#map-summary', 'data-edges')), api.edges.length);
  assert.equal(await page.locator('#map-edges-table tbody tr[data-class="gap-uninstrumented"]').count(), red.length);
  await shot('map');

  // A red edge opens its broken traces.
  await page.mouse.click(g.redAt[0].x, g.redAt[0].y);
  await page.waitForSelector('main[data-ready="/traces"]');
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('service'), red[0].from);
  assert.equal(url.searchParams.get('missing'), red[0].to);
  await page.waitForSelector('#traces-table tr[data-trace="101"]');

  // A service node opens its page.
  await open('/map');
  await page.waitForSelector('#map-graph[data-ready="true"]');
  const again = await page.evaluate(readGraph);
  await page.mouse.click(again.nodeAt.payments.x, again.nodeAt.payments.y);
  await page.waitForSelector('main[data-ready="/services/payments"]');

  // Filters ask the API again.
  await open('/map');
  await page.waitForSelector('#map-graph[data-ready="true"]');
  await page.selectOption('#m-team', 'payments');
  const team = await apiGet('/api/service-map?team=payments');
  await page.waitForSelector(`#map-summary[data-edges="${team.edges.length}"]`);
  await page.waitForSelector('#map-graph[data-ready="true"]');
  assert.deepEqual((await page.evaluate(readGraph)).nodes, team.nodes.map((n) => [n.id, n.kind]).sort());
});

test('keyboard: the first Tab reaches the skip link; no console or CSP errors', async () => {
  await open('/');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  assert.deepEqual(consoleErrors, []);
});
