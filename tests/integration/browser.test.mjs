// tests/integration/browser.test.mjs: the pages in a real browser (Debian's chromium driven by
// playwright-core): the no-JavaScript path, search-as-you-type with the keyboard, no CSP
// violation or script error, and no serious accessibility issue (axe-core).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { startServer } from './lib.mjs';

const CHROMIUM = '/usr/bin/chromium';
let chromium, axeSource, skip = '';
try {
  ({ chromium } = await import('playwright-core'));
  axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
} catch (e) {
  skip = 'playwright-core or axe-core not installed (npm ci in tests/integration): ' + e.message;
}
if (!skip && !existsSync(CHROMIUM)) skip = 'Debian chromium is not installed';

let srv, browser;
before(async () => {
  if (skip) return;
  srv = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/** A page that records console errors (CSP violations show up there). */
async function open(context, path) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(srv.base + path);
  return { page, errors };
}

test('without JavaScript: search from the home page form', async (t) => {
  // Never a skip: a browser test without its browser fails (CI must not pass without it).
  if (skip) throw new Error(skip);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const { page } = await open(context, '/?lang=fr');
  await page.fill('#q', 'réviser ma voiture');
  await page.press('#q', 'Enter');
  await page.waitForURL(/\/search\?/);
  const first = page.locator('.result h3 a').first();
  assert.equal(await first.textContent(), 'Comment prendre rendez-vous pour la révision de mon véhicule ?');
  await first.click();
  await page.waitForURL(/\/a\/rendez-vous-revision/);
  await page.click('button[value="yes"]');
  await page.waitForURL(/thanks=1/);
  assert.match(await page.locator('.feedback').textContent(), /Merci pour votre avis/);
  await context.close();
});

test('search-as-you-type: suggestions, arrow keys and Enter', async (t) => {
  // Never a skip: a browser test without its browser fails (CI must not pass without it).
  if (skip) throw new Error(skip);
  const context = await browser.newContext();
  const { page, errors } = await open(context, '/?lang=fr');
  await page.locator('#q').pressSequentially('rappe', { delay: 30 });
  const options = page.locator('#q-suggestions [role="option"]');
  await options.first().waitFor({ timeout: 5000 });
  assert.equal(await page.getAttribute('#q', 'aria-expanded'), 'true');
  assert.match(await options.first().textContent(), /rappel/i);
  await page.press('#q', 'ArrowDown');
  assert.equal(await options.first().getAttribute('aria-selected'), 'true');
  await page.press('#q', 'Enter');
  await page.waitForURL(/\/a\/rappel-vehicule/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('no serious accessibility violations, no console errors', async (t) => {
  // Never a skip: a browser test without its browser fails (CI must not pass without it).
  if (skip) throw new Error(skip);
  // Our CSP forbids inline scripts, rightly: let only this test inject axe-core. The test
  // above keeps the CSP and checks that the pages raise no violation.
  const context = await browser.newContext({ bypassCSP: true });
  for (const path of ['/?lang=fr', '/?lang=en', '/a/plan-entretien', '/search?q=garantie&lang=fr',
    '/c/garantie?lang=fr', '/a/nope']) {
    const { page, errors } = await open(context, path);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => await window.axe.run());
    const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes[0]?.target}`), [], path);
    assert.deepEqual(errors.filter((e) => !/404/.test(e)), [], path);
    await page.close();
  }
  await context.close();
});
