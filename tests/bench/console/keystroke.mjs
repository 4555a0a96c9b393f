// tests/bench/console/keystroke.mjs: from a keystroke to results drawn, in chromium on the
// real console page (/agent, signed in). The harness is the test's, not the console's: an init
// script notes each keydown's event time (the keystroke), the value the input event then
// holds, and watches the results list (MutationObserver); when the list shows the results of
// that value (its data-q), the time after the next frame is painted (requestAnimationFrame,
// then a message: past the paint) is the keystroke's latency. A keystroke whose results a
// later one replaced before they were drawn (the console aborts the older request) is counted
// as superseded, not timed.
//
// usage: node keystroke.mjs --base URL --cookie "kb_session=..." --queries FILE [--n 50]
//                           [--delay 120] [--lang fr]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(process.env.KB_NODE_MODULES || import.meta.url);
const { chromium } = require('playwright-core');
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const base = new URL(args.base);
const n = Number(args.n || 50);
const delay = Number(args.delay || 120);
const queries = readFileSync(args.queries, 'utf8').split('\n').filter(Boolean).slice(0, n);
const [cname, cvalue] = args.cookie.split('=');

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'] });
const context = await browser.newContext();
await context.addCookies([{ name: cname, value: cvalue, domain: base.hostname, path: '/',
  httpOnly: true, sameSite: 'Strict' }]);
await context.addInitScript(() => {
  window.__kbLat = [];
  window.__kbSuperseded = 0;
  let keyAt = 0;
  const pending = []; // {t0, q}
  document.addEventListener('keydown', (e) => { keyAt = e.timeStamp; }, true);
  document.addEventListener('input', (e) => {
    if (e.target && e.target.id === 'console-q' && e.target.value.trim())
      pending.push({ t0: keyAt, q: e.target.value });
  }, true);
  document.addEventListener('DOMContentLoaded', () => {
    const list = document.getElementById('console-results');
    new MutationObserver(() => {
      const q = list.dataset.q;
      const i = pending.findIndex((p) => p.q === q);
      if (i < 0) return;
      const done = pending.splice(0, i + 1);
      window.__kbSuperseded += done.length - 1;
      const t0 = done[done.length - 1].t0;
      requestAnimationFrame(() => {
        const ch = new MessageChannel();
        ch.port1.onmessage = () => window.__kbLat.push(performance.now() - t0);
        ch.port2.postMessage(0);
      });
    }).observe(list, { attributes: true, attributeFilter: ['data-q'], childList: true });
  });
});
const page = await context.newPage();
await page.goto(`${base.origin}/agent?lang=${args.lang || 'fr'}`);
await page.waitForSelector('#console[data-ready="1"]');
let keys = 0;
for (const q of queries) {
  await page.click('#console-q', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.keyboard.type(q, { delay });
  keys += q.length;
  await page.waitForTimeout(300);
}
const lat = (await page.evaluate(() => window.__kbLat)).sort((a, b) => a - b);
const superseded = await page.evaluate(() => window.__kbSuperseded);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p / 100 * lat.length))];
console.log(JSON.stringify({
  queries: queries.length, keystrokes: keys, timed: lat.length, superseded, delay_ms: delay,
  p50_ms: +pct(50).toFixed(1), p95_ms: +pct(95).toFixed(1), p99_ms: +pct(99).toFixed(1),
  max_ms: +lat[lat.length - 1].toFixed(1),
}));
await browser.close();
