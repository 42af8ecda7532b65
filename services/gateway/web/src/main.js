// The dashboard: a small client-side router over the gateway's REST API.
// Each page renders into <main> and returns { dispose() }, which releases what it holds (charts,
// timers, the map); the router calls it before the next page renders.
import './style.css';
import { h } from './dom.js';
import { renderInstrumentNext } from './instrument_next.js';
import { renderMap } from './map.js';
import { renderOverview } from './overview.js';
import { renderServiceDetail } from './service_detail.js';
import { renderServices } from './services.js';
import { renderSync } from './sync.js';
import { renderTraceDetail, renderTraces } from './traces.js';

const routes = [
  [/^\/$/, 'overview', (m) => renderOverview(m)],
  [/^\/services\/?$/, 'services', (m) => renderServices(m, navigate)],
  [/^\/services\/([^/]+)$/, 'services', (m, name) => renderServiceDetail(m, decodeURIComponent(name))],
  [/^\/traces\/?$/, 'traces', (m) => renderTraces(m)],
  [/^\/traces\/(\d+)$/, 'traces', (m, id) => renderTraceDetail(m, id)],
  [/^\/sync\/?$/, 'sync', (m) => renderSync(m)],
  [/^\/instrument-next\/?$/, 'instrument-next', (m) => renderInstrumentNext(m)],
  [/^\/map\/?$/, 'map', (m) => renderMap(m, navigate)],
];

let current = null; // the rendered page's { dispose }
let renders = 0;

function disposeCurrent() {
  const page = current;
  current = null;
  if (page && typeof page.dispose === 'function') {
    try {
      page.dispose();
    } catch (e) {
      console.error('dispose failed', e);
    }
  }
}

async function render() {
  const main = document.getElementById('main');
  const mine = ++renders;
  disposeCurrent();
  main.setAttribute('aria-busy', 'true');
  const path = location.pathname;
  let found = false;
  for (const [re, nav, fn] of routes) {
    const m = path.match(re);
    if (!m) continue;
    found = true;
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    try {
      const page = await fn(main, ...m.slice(1));
      if (mine !== renders) {
        // Another navigation began while this page loaded: it is already stale.
        page?.dispose?.();
        return;
      }
      current = page;
      document.title = `${main.querySelector('h1')?.textContent || 'APM Coverage'} · APM Coverage`;
    } catch (e) {
      if (mine !== renders) return;
      main.replaceChildren(h('h1', {}, 'Error'), h('p', { role: 'alert', class: 'error' }, e.message || String(e)));
    }
    break;
  }
  if (!found) main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, `No page at ${path}.`));
  main.removeAttribute('aria-busy');
  main.dataset.ready = path;
}

export function navigate(url) {
  history.pushState(null, '', url);
  render().then(() => document.getElementById('main').focus());
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname === '/services/export') return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', render);
render();
