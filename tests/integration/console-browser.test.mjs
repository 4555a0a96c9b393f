// tests/integration/console-browser.test.mjs: the agents' console in Debian's chromium
// (playwright-core), as an agent uses it: signing in through /login, searching with the
// keyboard only (type, arrows, Enter, Escape, "/"), copying an answer (read back from the
// clipboard), an internal article the agent sees and an anonymous visitor does not, pins and
// recent articles that survive a reload, a flag the editor then finds and handles, markup in
// an article and in a flag comment that stays text, /agent?q= as a screen-pop, no script
// error under the CSP, and axe-core on /agent and /agent/flags. Chromium or playwright-core
// missing is a failure, not a skip.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { kb, startServer, getJSON } from './lib.mjs';
import {
  consoleContent, addUsers, login, apiAs, PW, SECRET_WORD, XSS_SCRIPT, XSS_IMG,
} from './consolelib.mjs';

const CHROMIUM = '/usr/bin/chromium';
const { chromium } = await import('playwright-core');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
if (!existsSync(CHROMIUM)) throw new Error('Debian chromium is not installed (' + CHROMIUM + ')');

let srv, browser;

before(async () => {
  const c = consoleContent();
  assert.equal(kb(['--db', c.db, 'import', c.content]).status, 0);
  addUsers(c.db, [['alice', 'agent', 'Alice <b>Martin</b>'], ['eve', 'editor', 'Ève']]);
  srv = await startServer({ dir: c.dir, importFirst: false });
  browser = await chromium.launch({ executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** A page of a new context signed in as `who` through the /login form (no JavaScript needed
 * there); errors collects script errors and CSP violations. */
async function signIn(who, { path = '/agent?lang=en', context: opts = {} } = {}) {
  const context = await browser.newContext(opts);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
  const page = await context.newPage();
  const errors = [];
  // (The browser's own request for /favicon.ico is no error of the page: kb serves none.)
  page.on('console', (m) => {
    const where = m.location().url || '';
    if (m.type() === 'error' && !where.endsWith('/favicon.ico')) errors.push(m.text() + ' ' + where);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(`${srv.base}/login?lang=en&next=${encodeURIComponent(path)}`);
  await page.fill('#login-name', who);
  await page.fill('#login-password', PW);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.press('#login-password', 'Enter')]);
  return { context, page, errors };
}

/** Wait until the console shows the results of query q. */
async function resultsFor(page, q) {
  await page.waitForFunction((want) => document.getElementById('console-results').dataset.q === want, q,
    { timeout: 10000 });
  return page.$$eval('#console-results > li', (lis) => lis.map((li) => ({
    title: li.querySelector('.result-title').textContent,
    internal: !!li.querySelector('.badge-internal'),
    selected: li.getAttribute('aria-selected'),
  })));
}

test('sign in, then search with the keyboard only: type, arrows, Enter, copy, Escape, "/"', async () => {
  const { context, page, errors } = await signIn('alice');
  assert.equal(new URL(page.url()).pathname, '/agent', 'the login goes to the console');
  await page.waitForSelector('#console[data-ready="1"]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'console-q', 'search box focused');
  await page.keyboard.type('recall campaign', { delay: 15 });
  const hits = await resultsFor(page, 'recall campaign');
  assert.ok(hits.length >= 2);
  const internalIndex = hits.findIndex((h) => h.title === 'Procedure: handling a call about a recall campaign');
  assert.ok(internalIndex >= 0, 'the internal procedure is among the results');
  assert.equal(hits[internalIndex].internal, true, 'marked internal');
  assert.ok(hits.some((h) => !h.internal), 'public ones too');
  // Highlighted passages: the search's <mark>s, as elements.
  assert.ok(await page.$$eval('#console-results mark', (m) => m.length) > 0);
  // Arrows move the selection (the focus stays in the box), Enter opens it.
  for (let i = 0; i <= internalIndex; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.getAttribute('#console-q', 'aria-activedescendant'), 'res-' + internalIndex);
  assert.equal(await page.getAttribute('#res-' + internalIndex, 'aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'console-q');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  assert.equal(await page.textContent('#article-title'), 'Procedure: handling a call about a recall campaign');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'console-article');
  assert.match(await page.textContent('#article-badges'), /Internal/);
  // "c" copies the answer: the article's plain text, no markup.
  await page.keyboard.press('c');
  await page.waitForFunction(() => document.getElementById('article-notice').textContent !== '');
  assert.equal(await page.textContent('#article-notice'), 'Answer copied.');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const api = await getJSON(srv.base, '/api/v1/articles/handling-recall-calls',
    { headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') } });
  assert.equal(copied, api.body.text.trim().replace(/\n{3,}/g, '\n\n'));
  assert.match(copied, /^Ask for the VIN/);
  assert.doesNotMatch(copied, /[<>*]/, 'plain text: no HTML, no Markdown');
  // Escape: back to the results, the search box focused, the same result selected.
  await page.keyboard.press('Escape');
  assert.equal(await page.isHidden('#console-article'), true);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'console-q');
  assert.equal(await page.getAttribute('#console-q', 'aria-activedescendant'), 'res-' + internalIndex);
  // "/" from the article goes back to the search box, its text selected: typing replaces it.
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'console-q');
  await page.keyboard.type('warranty', { delay: 15 });
  assert.equal(await page.inputValue('#console-q'), 'warranty');
  assert.ok((await resultsFor(page, 'warranty')).length > 0);
  // "?" opens the list of shortcuts (from outside a text field).
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  await page.keyboard.press('?');
  assert.equal(await page.evaluate(() => document.getElementById('console-keys').open), true);
  assert.deepEqual(errors, []);
  await context.close();
});

test('an internal article: visible to the agent, invisible anonymously', async () => {
  const { context, page, errors } = await signIn('alice');
  await page.waitForSelector('#console[data-ready="1"]');
  await page.keyboard.type(SECRET_WORD, { delay: 10 });
  const hits = await resultsFor(page, SECRET_WORD);
  assert.deepEqual(hits.map((h) => [h.title, h.internal]),
    [['Internal pricing grid for the Zorglubium trim', true]]);
  // Sales reps filter argumentation by product tag: the tag filter keeps it, another drops it.
  await page.fill('#f-tag', 'zorglubium-trim');
  assert.equal((await resultsFor(page, SECRET_WORD)).length, 1);
  await page.fill('#f-tag', 'warranty');
  await page.waitForFunction(() => document.querySelectorAll('#console-results > li').length === 0);
  assert.deepEqual(errors, []);
  await context.close();
  // Anonymously: no result, no page, and the console sends to the login page.
  const anon = await browser.newContext();
  const p = await anon.newPage();
  await p.goto(`${srv.base}/search?lang=en&q=${SECRET_WORD}`);
  assert.match(await p.textContent('main'), /No article matches your search/);
  assert.doesNotMatch(await p.textContent('main'), /pricing grid|dealer margin/i);
  const r = await p.goto(`${srv.base}/a/zorglubium-pricing`);
  assert.equal(r.status(), 404);
  await p.goto(`${srv.base}/agent?q=${SECRET_WORD}`);
  assert.equal(new URL(p.url()).pathname, '/login');
  const api = await p.evaluate(async (w) => (await fetch('/api/v1/search?q=' + w)).json(), SECRET_WORD);
  assert.equal(api.total, 0);
  await anon.close();
});

test('pinned and recently viewed articles survive a reload; /agent?q= opens with its search', async () => {
  const { context, page, errors } = await signIn('alice', { path: '/agent?lang=en&q=' + encodeURIComponent('vehicle recall') });
  // The screen-pop: results without typing.
  const hits = await resultsFor(page, 'vehicle recall');
  assert.equal(hits[0].title, 'My vehicle is subject to a recall: what should I do?');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  // Its internal companion and its translation are offered.
  assert.match(await page.textContent('#article-companions'), /Procedure: handling a call about a recall campaign/);
  assert.match(await page.textContent('#article-translations'), /rappel/);
  await page.keyboard.press('p');
  await page.waitForFunction(() => document.getElementById('act-pin').getAttribute('aria-pressed') === 'true');
  assert.equal(await page.textContent('#article-notice'), 'Pinned.');
  // Open the companion from the article (keyboard: Tab to it, Enter).
  await page.focus('#article-companions button');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('article-title').textContent.startsWith('Procedure'));
  await page.waitForFunction(() => /Procedure/.test(document.getElementById('console-recent').textContent));
  await page.reload();
  await page.waitForSelector('#console[data-ready="1"]');
  await page.waitForFunction(() => /My vehicle is subject to a recall/.test(document.getElementById('console-pins').textContent));
  const recent = await page.$$eval('#console-recent button', (b) => b.map((x) => x.textContent));
  assert.deepEqual(recent.slice(0, 2), ['Procedure: handling a call about a recall campaign',
    'My vehicle is subject to a recall: what should I do?']);
  // Unpin from the article: gone after a reload too.
  await page.click('#console-pins button');
  await page.waitForSelector('#console-article:not([hidden])');
  await page.keyboard.press('p');
  await page.waitForFunction(() => document.getElementById('act-pin').getAttribute('aria-pressed') === 'false');
  await page.reload();
  await page.waitForSelector('#console[data-ready="1"]');
  await page.waitForFunction(() => document.getElementById('console-pins').textContent === 'None yet.');
  assert.deepEqual(errors, []);
  await context.close();
});

test('flag an article from the console; the editor sees it, the comment inert, and handles it', async () => {
  const { context, page, errors } = await signIn('alice');
  await page.waitForSelector('#console[data-ready="1"]');
  await page.keyboard.type('vehicle recall', { delay: 10 });
  await resultsFor(page, 'vehicle recall');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  await page.keyboard.press('f');
  await page.waitForSelector('#flag-form:not([hidden])');
  await page.keyboard.press('ArrowRight'); // the reasons are radio buttons: wrong -> outdated
  await page.keyboard.press('Tab');
  const comment = `Step 2 changed ${XSS_SCRIPT} ${XSS_IMG}`;
  await page.keyboard.type(comment);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('article-notice').textContent.startsWith('Thank you'));
  assert.deepEqual(errors, []);
  await context.close();
  // The editor's page lists it; nothing of the comment runs or becomes an element.
  const ed = await signIn('eve', { path: '/agent/flags?lang=en' });
  const row = ed.page.locator('.flags-table tbody tr').first();
  assert.match(await row.locator('th').textContent(), /My vehicle is subject to a recall/);
  assert.equal(await row.locator('.flag-comment').textContent(), comment);
  assert.match(await row.textContent(), /It is outdated/);
  assert.match(await row.textContent(), /alice/);
  assert.equal(await row.locator('.flag-comment script, .flag-comment img').count(), 0);
  assert.equal(await ed.page.evaluate(() => window.__xss), undefined);
  // Handled: the open list is empty, the handled one names the editor.
  await Promise.all([ed.page.waitForURL(/status=open/), row.locator('button').click()]);
  assert.equal(await ed.page.locator('.flags-table').count(), 0);
  await ed.page.goto(`${srv.base}/agent/flags?lang=en&status=handled`);
  assert.match(await ed.page.locator('.flags-table tbody tr').first().textContent(), /Handled \(eve,/);
  assert.deepEqual(ed.errors, []);
  await ed.context.close();
});

test('markup in an article\'s title and body and in a search stays text', async () => {
  const { context, page, errors } = await signIn('alice');
  await page.waitForSelector('#console[data-ready="1"]');
  await page.keyboard.type('markup', { delay: 10 });
  const hits = await resultsFor(page, 'markup');
  const i = hits.findIndex((h) => h.title.includes(XSS_SCRIPT));
  assert.ok(i >= 0, 'the title is shown as text, markup included');
  assert.ok(hits[i].title.includes(XSS_IMG));
  for (let k = 0; k <= i; k++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#console-article:not([hidden])');
  assert.ok((await page.textContent('#article-title')).includes(XSS_SCRIPT));
  const injected = await page.evaluate(() => ({
    xss: window.__xss,
    scripts: document.querySelectorAll('#console-results script, #console-article script').length,
    imgs: document.querySelectorAll('#console-results img, #console-article img').length,
    handlers: [...document.querySelectorAll('#console-article *')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on'))).length,
    jsLinks: [...document.querySelectorAll('#article-body a')].filter((a) => /^javascript:/i.test(a.getAttribute('href') || '')).length,
  }));
  assert.deepEqual(injected, { xss: undefined, scripts: 0, imgs: 0, handlers: 0, jsLinks: 0 });
  // Its internal companion (named by the internal article's see_also) is offered to agents.
  assert.match(await page.textContent('#article-companions'), /Internal pricing grid/);
  // A query with markup: shown as typed, never parsed.
  await page.keyboard.press('/');
  await page.keyboard.type('<img src=x onerror=window.__xss=9>', { delay: 5 });
  await resultsFor(page, '<img src=x onerror=window.__xss=9>');
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  // The signed-in name (markup in it) is text in the header.
  assert.match(await page.textContent('.account-bar'), /Alice <b>Martin<\/b>/);
  assert.deepEqual(errors, []);
  await context.close();
});

test('axe-core: no serious or critical violation on /agent (results, article, flag form) and /agent/flags', async () => {
  // A flag for the flags page to list.
  const s = await login(srv.base, 'alice');
  assert.equal((await apiAs(srv.base, s, '/api/v1/articles/price-objection/flags',
    { method: 'POST', body: { reason: 'missing', comment: 'No word on the 2027 range' } })).status, 201);
  const check = async (page, what) => {
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => await window.axe.run());
    const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
    assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes[0]?.target}`), [], what);
  };
  const agent = await signIn('alice', { context: { bypassCSP: true } });
  await agent.page.waitForSelector('#console[data-ready="1"]');
  await check(agent.page, '/agent, empty');
  await agent.page.keyboard.type('recall campaign', { delay: 5 });
  await resultsFor(agent.page, 'recall campaign');
  await agent.page.keyboard.press('ArrowDown');
  await check(agent.page, '/agent, results');
  await agent.page.keyboard.press('Enter');
  await agent.page.waitForSelector('#console-article:not([hidden])');
  await agent.page.keyboard.press('f');
  await check(agent.page, '/agent, article and flag form');
  await agent.context.close();
  const editor = await signIn('eve', { path: '/agent/flags?lang=fr', context: { bypassCSP: true } });
  assert.ok(await editor.page.locator('.flags-table').count() === 1);
  await check(editor.page, '/agent/flags');
  await editor.page.goto(`${srv.base}/agent?lang=fr`);
  await editor.page.waitForSelector('#console[data-ready="1"]');
  await check(editor.page, '/agent (fr, editor)');
  await editor.context.close();
});
