// tests/integration/takeover-browser.test.mjs: the live takeover in Debian's chromium (driven
// by playwright-core) with TWO browser contexts against the real kb server and the shipped
// rules: a customer on a help-centre page with the chat widget, and an agent signed in
// through /login on /agent/chats. The waiting conversation appears in the agent's page
// without a reload, the agent takes it, the customer's widget says who joined, messages go
// both ways, an article card from the page's search, an internal article refused, a reload
// of the customer's page restores it all, the agent hands back to the bot which answers
// again. XSS payloads in a customer's message and in an agent's name stay text (no dialog,
// no element). axe-core on /agent/chats: no serious or critical violation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KB, CONTENT, kb, startServer, tempDir } from './lib.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
// No skip: without playwright-core, axe-core or chromium these tests fail.
const { chromium } = await import('playwright-core');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const PW = 'correct horse battery staple';
const XSS_NAME = '<img src=x onerror=alert(1)>';
const XSS_TEXT = '<script>alert(2)</script><img src=x onerror=alert(3)>';
let srv, browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is needed: apt-get install chromium');
  const dir = tempDir('kb-takeover-browser-');
  const db = join(dir, 'kb.db');
  assert.equal(kb(['--db', db, 'import', CONTENT]).status, 0);
  for (const [login, name] of [['marie', 'Marie Dupont'], ['zoe', XSS_NAME]]) {
    const r = spawnSync(KB, ['--db', db, 'user', 'add', login, '--role', 'agent', '--name', name],
      { input: PW + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  srv = await startServer({ dir, importFirst: false, args: ['--chat-hours', 'daily 00:00-24:00'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

/** A page that records console errors, page errors, failed responses and dialogs. The
 * browser's request for /favicon.ico (there is none) logs a 404 that names no URL. */
async function open(context, path) {
  const page = await context.newPage();
  const errors = [], dialogs = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: .* 404 \(Not Found\)$/.test(m.text()))
      errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) errors.push(`${r.status()} ${r.url()}`); });
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  if (path) await page.goto(srv.base + path);
  return { page, errors, dialogs };
}

/** An agent signed in through the login form, on /agent/chats, connected. */
async function agentPage(login, { bypassCSP = false } = {}) {
  const context = await browser.newContext({ bypassCSP });
  const a = await open(context, '/login?lang=fr&next=' + encodeURIComponent('/agent/chats?lang=fr'));
  await a.page.fill('#login-name', login);
  await a.page.fill('#login-password', PW);
  await Promise.all([a.page.waitForURL(/\/agent\/chats\?lang=fr$/), a.page.click('.login-form button[type=submit]')]);
  await a.page.locator('#chats-status', { hasText: 'Connecté' }).waitFor();
  return { context, ...a };
}

/** A customer on a help-centre page, the widget open. */
async function customerPage(path) {
  const context = await browser.newContext();
  const c = await open(context, path);
  await c.page.locator('.kbc-launcher').click();
  await c.page.locator('.kbc-input').waitFor({ state: 'visible' });
  return { context, ...c };
}

async function type(page, text) {
  await page.locator('.kbc-input').fill(text);
  await page.keyboard.press('Enter');
}

/** The customer asks for a person and chooses to wait (the quick reply). */
async function wait(c) {
  await type(c.page, "je veux parler à quelqu'un");
  const choice = c.page.locator('.kbc-quick-reply', { hasText: 'Attendre un conseiller' });
  await choice.waitFor();
  assert.deepEqual(await c.page.locator('.kbc-quick-reply').allTextContents(),
    ['Attendre un conseiller', 'Laisser une demande']);
  await choice.click();
  await c.page.locator('.kbc-handoff--waiting').waitFor();
  assert.match(await c.page.locator('.kbc-handoff--waiting').textContent(), /^En attente d’un conseiller…/);
}

test('a live takeover: customer and agent in two browser contexts', async () => {
  const agent = await agentPage('marie');
  const a = agent.page;
  assert.equal(await a.locator('#queue-empty').isVisible(), true);
  const customer = await customerPage('/a/garantie-constructeur');
  const c = customer.page;
  await wait(customer);
  // The agent's page shows it without a reload: language, page, waiting time, last messages.
  const item = a.locator('.queue-item');
  await item.waitFor();
  assert.equal(await a.locator('#queue-count').textContent(), '1');
  assert.equal(await item.locator('.queue-lang').textContent(), 'français');
  assert.equal(await item.locator('.queue-page').textContent(), '/a/garantie-constructeur');
  assert.match(await item.locator('.queue-waited').textContent(), /^attend depuis \d+ s$/);
  assert.deepEqual(await item.locator('.queue-messages li').allTextContents(),
    ["je veux parler à quelqu'un", 'Attendre un conseiller']);
  assert.equal(await a.locator('#chats-announce').textContent(), 'Un client attend un conseiller.');
  // Taken: it leaves the queue, the conversation opens, the customer reads who joined.
  await item.locator('.take').click();
  const held = a.locator('.held');
  await held.waitFor();
  await item.waitFor({ state: 'detached' });
  assert.equal(await a.locator('#queue-count').textContent(), '0');
  await c.locator('.kbc-handoff--joined').waitFor();
  assert.equal(await c.locator('.kbc-handoff--joined').textContent(), 'Marie Dupont a rejoint la conversation.');
  assert.equal(await held.locator('.held-page').textContent(), '/a/garantie-constructeur');
  // The customer writes markup: the agent reads it as text; the bot stays silent.
  const bots = await c.locator('.kbc-msg--bot:not(.kbc-welcome)').count();
  await type(c, XSS_TEXT);
  const fromCustomer = held.locator('.held-log .from-customer', { hasText: 'alert(2)' });
  await fromCustomer.waitFor();
  assert.equal(await fromCustomer.locator('.text').textContent(), XSS_TEXT);
  assert.equal(await a.locator('.held-log img, .held-log script').count(), 0);
  // The agent answers with the keyboard: the customer sees the agent's name.
  await held.locator('.held-text').fill('Bonjour, je suis Marie. Je regarde votre garantie.');
  await held.locator('.held-text').press('Enter');
  const said = c.locator('.kbc-msg--agent');
  await said.waitFor();
  assert.equal(await said.locator('.kbc-who').textContent(), 'Marie Dupont\u00a0: ');
  assert.equal(await said.locator('.kbc-text').textContent(), 'Bonjour, je suis Marie. Je regarde votre garantie.');
  await held.locator('.held-log .from-agent:not(.pending)', { hasText: 'Je regarde votre garantie' }).waitFor();
  // An article card from the page's search.
  await held.locator('.held-q').fill('garantie constructeur');
  await held.locator('.held-search button').click();
  const result = held.locator('.held-results .result', { hasText: 'garantie constructeur' }).first();
  await result.waitFor();
  const title = await result.locator('a').textContent();
  await result.locator('.send-card').click();
  const card = c.locator('.kbc-msg--agent .kbc-card');
  await card.waitFor();
  assert.equal(await card.locator('.kbc-card-title').textContent(), title);
  assert.match(await card.getAttribute('href'), /\/a\/garantie-constructeur$/);
  // An internal article: listed for the agent, never sent to the customer.
  await held.locator('.held-q').fill("vérification de l'identité");
  await held.locator('.held-search button').click();
  const internal = held.locator('.held-results .result', { hasText: /identit/i }).first();
  await internal.waitFor();
  const send = internal.locator('.send-card');
  if (await send.isDisabled()) {
    assert.equal(await internal.locator('.badge-internal').textContent(), 'Interne');
  } else {
    await send.click();
    await held.locator('.held-error', { hasText: 'Seuls les articles publics' }).waitFor();
  }
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await c.locator('.kbc-msg--agent').count(), 2, 'the internal article never reached the customer');
  assert.equal(await c.locator('.kbc-msg--bot:not(.kbc-welcome)').count(), bots, 'the bot stayed silent');
  // A reload restores the conversation: notices, the agent's messages with the name, the card.
  await c.reload();
  await c.locator('.kbc-msg--agent .kbc-card').waitFor();
  assert.equal(await c.locator('.kbc-handoff--joined').textContent(), 'Marie Dupont a rejoint la conversation.');
  assert.deepEqual(await c.locator('.kbc-msg--agent .kbc-who').allTextContents(), ['Marie Dupont\u00a0: ', 'Marie Dupont\u00a0: ']);
  assert.equal(await c.locator('.kbc-log img, .kbc-log script').count(), 0);
  // The agent hands back: the customer reads it, the bot answers again.
  await held.locator('.leave').click();
  await held.waitFor({ state: 'detached' });
  assert.equal(await a.locator('#chats-status').textContent(), "Vous avez rendu la main à l'assistant.");
  await c.locator('.kbc-handoff--left').waitFor();
  assert.equal(await c.locator('.kbc-handoff--left').textContent(),
    'Marie Dupont a quitté la conversation. L’assistant vous répond de nouveau.');
  const before = await c.locator('.kbc-msg--bot:not(.kbc-welcome)').count();
  await type(c, 'Comment activer les services connectés ?');
  await c.locator('.kbc-msg--bot:not(.kbc-welcome)').nth(before).waitFor();
  assert.match(await c.locator('.kbc-msg--bot:not(.kbc-welcome)').nth(before).textContent(), /services connectés/);
  for (const x of [agent, customer]) {
    assert.deepEqual(x.errors, []);
    assert.deepEqual(x.dialogs, []);
  }
  await agent.context.close();
  await customer.context.close();
});

test('an agent whose name is markup: the customer and the agent read it as text', async () => {
  const agent = await agentPage('zoe');
  const customer = await customerPage('/a/application-connectee');
  await wait(customer);
  const item = agent.page.locator('.queue-item', { hasText: '/a/application-connectee' });
  await item.locator('.take').click();
  await agent.page.locator('.held').waitFor();
  const c = customer.page;
  await c.locator('.kbc-handoff--joined').waitFor();
  assert.equal(await c.locator('.kbc-handoff--joined').textContent(), `${XSS_NAME} a rejoint la conversation.`);
  await agent.page.locator('.held-text').fill('Bonjour !');
  await agent.page.locator('.held-send button').click();
  await c.locator('.kbc-msg--agent').waitFor();
  assert.equal(await c.locator('.kbc-msg--agent .kbc-who').textContent(), `${XSS_NAME}\u00a0: `);
  assert.equal(await c.locator('.kbc-log img').count(), 0);
  assert.equal(await agent.page.locator('.held-log img').count(), 0);
  // The header's account bar names the agent as text too.
  assert.equal(await agent.page.locator('.account span').textContent(), `Connecté : ${XSS_NAME}`);
  await agent.page.locator('.end').click();
  await agent.page.locator('.held').waitFor({ state: 'detached' });
  await c.locator('.kbc-status', { hasText: 'La conversation est terminée.' }).waitFor();
  for (const x of [agent, customer]) {
    assert.deepEqual(x.errors, []);
    assert.deepEqual(x.dialogs, []);
  }
  await agent.context.close();
  await customer.context.close();
});

test('axe-core on /agent/chats, with a waiting and a held conversation: no serious or critical violation', async () => {
  // axe-core is injected as an inline script: only this context bypasses the CSP.
  const agent = await agentPage('marie', { bypassCSP: true });
  const one = await customerPage('/a/garantie-constructeur');
  await wait(one);
  await agent.page.locator('.queue-item .take').first().click();
  await agent.page.locator('.held').waitFor();
  const two = await customerPage('/a/application-connectee');
  await wait(two);
  await agent.page.locator('.queue-item').waitFor();
  await agent.page.locator('.held-text').fill('brouillon');
  await agent.page.addScriptTag({ content: axeSource });
  const result = await agent.page.evaluate(async () => await window.axe.run());
  const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), []);
  // Labels and live regions a screen reader relies on.
  assert.equal(await agent.page.getAttribute('.held-log', 'role'), 'log');
  assert.equal(await agent.page.getAttribute('#chats-status', 'role'), 'status');
  const textId = await agent.page.getAttribute('.held-text', 'id');
  assert.equal(await agent.page.locator(`label[for="${textId}"]`).textContent(), 'Votre message au client');
  await agent.page.locator('.held .end').click();
  for (const x of [agent, one, two]) await x.context.close();
});
