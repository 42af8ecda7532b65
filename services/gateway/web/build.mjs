// Builds the dashboard: bundles src/main.js (with Chart.js from node_modules) and its CSS into
// <outdir>/assets/, copies index.html. Nothing is fetched at run time.
//   node services/gateway/web/build.mjs [--outdir DIR]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf('--outdir');
const outdir = resolve(i > 0 ? process.argv[i + 1] : join(here, 'dist'));
mkdirSync(join(outdir, 'assets'), { recursive: true });
await build({
  entryPoints: { app: join(here, 'src/main.js') },
  bundle: true,
  format: 'esm',
  minify: true,
  sourcemap: true,
  target: ['es2020'],
  outdir: join(outdir, 'assets'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(outdir, 'index.html'));
console.log(`dashboard built into ${outdir}`);
