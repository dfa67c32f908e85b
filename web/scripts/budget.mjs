// The web app's size budgets (issue 18), checked on web/dist after `npm run build`:
// initial JS (what index.html loads) ≤ 50 KB gzip, initial CSS ≤ 20 KB gzip, every other chunk < 100 KB gzip.
// Prints every file's gzip size; exits 1 when a budget is exceeded.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'dist');
const KB = 1024;
const BUDGET = { initialJs: 50 * KB, initialCss: 20 * KB, lazyChunk: 100 * KB };

const html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
const initial = new Set([...html.matchAll(/(?:src|href)="\/static\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]));
const files = fs.readdirSync(path.join(dist, 'assets')).filter((f) => /\.(js|css)$/.test(f));
const gz = (f) => gzipSync(fs.readFileSync(path.join(dist, 'assets', f)), { level: 9 }).length;
const kb = (n) => `${(n / KB).toFixed(2)} KB`;

let initialJs = 0;
let initialCss = 0;
const failures = [];
const rows = files.map((f) => {
  const size = gz(f);
  const isInitial = initial.has(`assets/${f}`);
  if (isInitial && f.endsWith('.js')) initialJs += size;
  if (isInitial && f.endsWith('.css')) initialCss += size;
  if (!isInitial && size >= BUDGET.lazyChunk) failures.push(`lazy chunk ${f} is ${kb(size)} (budget < ${kb(BUDGET.lazyChunk)})`);
  return [f, size, isInitial ? 'initial' : 'lazy'];
});
rows.sort((a, b) => b[1] - a[1]);
for (const [f, size, kind] of rows) console.log(`${kind.padEnd(8)} ${kb(size).padStart(10)}  ${f}`);
console.log(`initial JS  ${kb(initialJs)} gzip (budget ${kb(BUDGET.initialJs)})`);
console.log(`initial CSS ${kb(initialCss)} gzip (budget ${kb(BUDGET.initialCss)})`);
if (initialJs > BUDGET.initialJs) failures.push(`initial JS is ${kb(initialJs)}`);
if (initialCss > BUDGET.initialCss) failures.push(`initial CSS is ${kb(initialCss)}`);
if (failures.length) {
  console.error(`over budget:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('within budget');
