// Checks shared by the browser suites on the dashboard's overview page.
import assert from 'node:assert/strict';

// A number as the dashboard prints it ("1,234", "56.7%").
export const num = (text) => Number(String(text).replace(/[,%\s]/g, ''));

// The coverage table of `dim` (team, env, infra, language) shows exactly /api/stats' by_<dim>
// buckets, in order, and its chart is drawn. Returns the table's rows (cell texts).
export async function assertDimensionTable(page, stats, dim) {
  const rows = await page.$$eval(`table[data-dimension="${dim}"] tbody tr`, (trs) =>
    trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const api = stats[`by_${dim}`];
  assert.equal(rows.length, api.length, dim);
  api.forEach((b, i) => {
    assert.equal(rows[i][0], b.key);
    assert.equal(num(rows[i][1]), b.total);
    assert.equal(num(rows[i][2]), b.instrumented);
    assert.equal(rows[i][3], `${b.coverage_pct.toFixed(1)}%`);
  });
  assert.equal(await page.locator(`#by-${dim} canvas`).count(), 1, `${dim} chart`);
  return rows;
}
