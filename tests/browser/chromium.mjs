// Debian's Chromium (/usr/bin/chromium) driven by playwright-core, for every browser test:
// never a browser playwright downloads. launchChromium() opens a persistent headless context in
// a fresh profile directory, with one page whose requests may only go to `allowedBase` (or
// data: URLs); anything else is aborted and reported through onError, as are console errors
// and page errors. closeChromium() closes the context and removes the profile.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

// onError(kind, detail): kind is 'console', 'pageerror' or 'external'; detail has text, url.
export async function launchChromium({ allowedBase, onError, viewport = { width: 1400, height: 1000 } }) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'apmcov-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') onError('console', { text: m.text(), url: m.location().url || '' });
  });
  page.on('pageerror', (e) => onError('pageerror', { text: String(e), url: '' }));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(allowedBase) || url.startsWith('data:')) return route.continue();
    onError('external', { text: 'external request', url });
    return route.abort();
  });
  return { context, page, userDataDir };
}

export async function closeChromium(browser) {
  if (!browser) return;
  await browser.context.close();
  try {
    rmSync(browser.userDataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch (e) {
    console.error(`leaving ${browser.userDataDir}: ${e.message}`);
  }
}
