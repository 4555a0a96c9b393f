// tests/integration/chat-browser.test.mjs: the chat widget (web/static/chat.js) in a real
// browser (Debian's chromium driven by playwright-core) against the real kb server: the
// keyboard, a conversation through to a real case, a reload that shows the conversation once,
// a server restart (the reconnecting notice, a message queued meanwhile and sent once), a lost
// ack (the resend is answered with the same ack and shown once), accessibility (axe-core),
// a 390 px phone, no console error and no HTML from messages.
//
// The flows run on a fixture folder: the shipped articles and rules of our own
// (bot/fr/test.rive below), so that they do not depend on the shipped rules' wording. One
// test uses the shipped content as is and only asks for a reply.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CONTENT, kb, startServer, tempDir } from './lib.mjs';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
// No skip: without playwright-core, axe-core or chromium these tests fail.
const { chromium } = await import('playwright-core');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const RULES = `// test.rive (fr): rules of the widget's browser tests.
! version = 2.0
! local concat = space

! var lang = fr

+ [*] (services connectés|services connectes) [*]
- <call>kb_search services connectés</call>
^ Cette réponse vous aide-t-elle ?<call>quick Oui|Non</call>{topic=aide}

+ *
- Je n'ai pas compris votre message. Parlez-moi des services connectés.

> topic aide
  + oui
  - Parfait, bonne route !{topic=random}

  + non
  - Voulez-vous être recontacté par un conseiller ? Notre conversation lui sera transmise.
  ^ <call>quick Oui|Non</call>{topic=consentement}

  + *
  - {topic=random}{@<star>}
< topic

> topic consentement
  + oui
  - <set consent=yes>Merci. À quelle adresse e-mail pouvons-nous vous répondre ?{topic=contact}

  + *
  - D'accord, je ne transmets rien.{topic=random}
< topic

> topic contact
  + *
  * <call>contact <star></call> == invalid => Je ne trouve pas d'adresse e-mail dans votre
  ^ message. Pouvez-vous la réécrire ?
  - C'est noté : votre dossier <call>case_open Services connectés</call> est ouvert.{topic=random}
< topic
`;

const QUESTION = 'Comment activer les services connectés ?';
const NOT_UNDERSTOOD = "Je n'ai pas compris votre message. Parlez-moi des services connectés.";
const OFFLINE_FR = 'Connexion perdue, nouvelle tentative…';

let srv, browser, fixture;
before(async () => {
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is needed: apt-get install chromium');
  const dir = fixture = tempDir('kb-widget-content-');
  cpSync(join(CONTENT, 'articles'), join(dir, 'articles'), { recursive: true });
  if (existsSync(join(CONTENT, 'synonyms')))
    cpSync(join(CONTENT, 'synonyms'), join(dir, 'synonyms'), { recursive: true });
  mkdirSync(join(dir, 'bot', 'fr'), { recursive: true });
  writeFileSync(join(dir, 'bot', 'fr', 'test.rive'), RULES);
  srv = await startServer({ content: dir });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});
after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

/** Console errors and page errors of page into errors. The browser's request for
 * /favicon.ico (there is none) logs a 404 that names no URL: 404s are checked on the
 * responses instead, so that a missing chat.js or chat.css still fails. */
function record(page, errors) {
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: .* 404 \(Not Found\)$/.test(m.text()))
      errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
}

/** A page of srv that records console errors, page errors and dialogs, and the chat's
 * websocket frames (parsed) in both directions. */
async function open(context, path, server = srv) {
  const page = await context.newPage();
  const errors = [], dialogs = [], sent = [], received = [];
  record(page, errors);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => { try { sent.push(JSON.parse(f.payload)); } catch { /* binary */ } });
    ws.on('framereceived', (f) => { try { received.push(JSON.parse(f.payload)); } catch { /* */ } });
  });
  await page.goto(server.base + path);
  await page.locator('.kbc-launcher').waitFor({ state: 'visible' });
  return { page, errors, dialogs, sent, received };
}

/** The transcript as [class of sender, text] pairs, in order. */
async function transcript(page) {
  return page.$$eval('.kbc-log > .kbc-msg:not(.kbc-welcome)', (els) => els.map((e) => [
    ['customer', 'bot', 'agent', 'system'].find((k) => e.classList.contains('kbc-msg--' + k)),
    (e.querySelector('.kbc-text, .kbc-case-ref') || e).textContent,
  ]));
}

async function until(what, fn, timeout = 15000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeout) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Types text in the widget's box and presses Enter; waits for the bot's next message. */
async function say(page, text) {
  const bots = await page.locator('.kbc-log .kbc-msg--bot:not(.kbc-welcome)').count();
  await page.locator('.kbc-input').fill(text);
  await page.keyboard.press('Enter');
  await page.locator('.kbc-log .kbc-msg--bot:not(.kbc-welcome)').nth(bots).waitFor();
}

/** Each message of the transcript shown once: its seqs, all there, ascending, none twice. */
async function shownOnce(page) {
  const seqs = await page.$$eval('.kbc-log > .kbc-msg:not(.kbc-welcome)', (els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'seqs 1..n in order: ' + seqs.join(','));
}

// Shared by the first tests: one customer's tab.
let ctx, tab;

test('keyboard: Tab to the launcher, Enter, ask, article card, quick replies, a real case', async () => {
  ctx = await browser.newContext();
  tab = await open(ctx, '/?lang=fr');
  const { page } = tab;
  const launcher = page.locator('.kbc-launcher');
  assert.equal(await launcher.innerText(), 'Discuter avec nous');
  assert.equal(await page.getByRole('button', { name: 'Discuter avec nous', exact: true }).count(), 1);
  assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
  let found = false;
  for (let i = 0; i < 200 && !found; i++) {
    await page.keyboard.press('Tab');
    found = await page.evaluate(() => document.activeElement?.classList.contains('kbc-launcher'));
  }
  assert.ok(found, 'Tab reaches the launcher');
  await page.keyboard.press('Enter');
  await page.locator('.kbc-panel').waitFor({ state: 'visible' });
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('kbc-input')),
    'focus is in the text box');
  assert.ok(await page.locator('.kbc-send').isDisabled(), 'send is disabled for empty text');
  assert.equal(await page.getAttribute('.kbc-input', 'maxlength'), '2000');

  await page.keyboard.type(QUESTION);
  assert.ok(await page.locator('.kbc-send').isEnabled());
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.kbc-input').inputValue(), '', 'the box is emptied');
  const card = page.locator('.kbc-log .kbc-card').first();
  await card.waitFor();
  assert.equal(await card.getAttribute('href'), srv.base + '/a/application-connectee');
  assert.match(await card.locator('.kbc-card-title').textContent(), /services connectés/);
  assert.ok((await card.locator('.kbc-card-summary').textContent()).length > 20);
  await page.locator('.kbc-msg--customer:not(.kbc-pending)').first().waitFor();
  assert.deepEqual((await transcript(page))[0], ['customer', QUESTION]);
  assert.match((await transcript(page))[1][1], /Cette réponse vous aide-t-elle \?$/);

  // the quick replies, as buttons: clicking one sends it
  const quick = page.locator('.kbc-quick button');
  assert.deepEqual(await quick.allTextContents(), ['Oui', 'Non']);
  await quick.filter({ hasText: 'Non' }).click();
  await page.getByText('Voulez-vous être recontacté par un conseiller ?', { exact: false }).waitFor();
  await page.locator('.kbc-quick button', { hasText: 'Oui' }).click();
  await page.getByText('À quelle adresse e-mail pouvons-nous vous répondre ?').waitFor();
  assert.equal(await page.locator('.kbc-quick button').count(), 0, 'no quick reply left');
  await say(page, 'Vous pouvez m’écrire à moi.client@example.com');
  const ref = await page.locator('.kbc-case .kbc-case-ref').textContent();
  assert.match(ref, /^KB-\d{4}-\d{6}$/);
  assert.match(await page.locator('.kbc-case').textContent(), /Référence du dossier/);
  const last = (await transcript(page)).filter(([who]) => who === 'bot').pop();
  assert.equal(last[1], `C'est noté : votre dossier ${ref} est ouvert.`);
  // the case exists, with the customer's address
  const show = kb(['--db', srv.db, 'case', 'show', ref]);
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /moi\.client@example\.com/);
  // the resume token and the last seq are stored
  const stored = await page.evaluate(() => Object.entries(localStorage));
  assert.equal(stored.length, 1);
  const [key, value] = stored[0];
  assert.equal(key, 'kb-chat:' + srv.chatUrl);
  const conv = JSON.parse(value);
  assert.match(conv.token, /^[A-Za-z0-9_-]{40,}$/);
  assert.ok(Date.now() - conv.at < 60000);
  assert.equal(conv.seq, Math.max(...tab.received.filter((f) => 'seq' in f && f.type !== 'started').map((f) => f.seq)));
});

test('an XSS payload sent as a message is shown as text', async () => {
  const { page, dialogs } = tab;
  const payload = '<img src=x onerror=alert(1)>';
  await say(page, payload);
  const rows = await transcript(page);
  assert.deepEqual(rows.at(-2), ['customer', payload]);
  assert.deepEqual(rows.at(-1), ['bot', NOT_UNDERSTOOD]);
  assert.equal(await page.locator('.kbc-root img').count(), 0);
  assert.deepEqual(dialogs, []);
  // 2000 characters of three bytes each make a frame over the protocol's 4 KiB: not sent
  const sentBefore = tab.sent.length;
  const long = '€'.repeat(2000);
  await page.locator('.kbc-input').fill(long);
  await page.keyboard.press('Enter');
  assert.match(await page.locator('.kbc-status').textContent(), /trop long/);
  assert.equal(await page.locator('.kbc-input').inputValue(), long, 'the text stays to be shortened');
  assert.equal(tab.sent.length, sentBefore);
  assert.deepEqual(await transcript(page), rows);
  await page.locator('.kbc-input').fill('');
});

test('reload: the same conversation, each message once, the panel still open', async () => {
  const { page } = tab;
  const beforeRows = await transcript(page);
  const token = JSON.parse(await page.evaluate((k) => localStorage.getItem(k), 'kb-chat:' + srv.chatUrl)).token;
  const lastSeq = Math.max(...tab.received.filter((f) => typeof f.seq === 'number' && f.type !== 'started').map((f) => f.seq));
  tab.sent.length = 0;
  tab.received.length = 0;
  await page.reload();
  await page.locator('.kbc-panel').waitFor({ state: 'visible' });
  assert.equal(await page.getAttribute('.kbc-launcher', 'aria-expanded'), 'true');
  await until('the resume', () => tab.received.some((f) => f.type === 'history'));
  const start = tab.sent.find((f) => f.type === 'start');
  assert.deepEqual(start, { type: 'start', lang: 'fr', resume: token, after: lastSeq, page: '/' });
  assert.equal(tab.received.find((f) => f.type === 'started').resumed, true);
  assert.deepEqual(tab.received.find((f) => f.type === 'history').messages, []);
  const afterRows = await transcript(page);
  assert.deepEqual(afterRows, beforeRows);
  await shownOnce(page);
  // the case reference is still shown clearly
  assert.match(await page.locator('.kbc-case .kbc-case-ref').textContent(), /^KB-\d{4}-\d{6}$/);

  // another page of the site, then a new tab without the session's transcript: the whole
  // conversation comes back from the server, once
  await page.goto(srv.base + '/a/application-connectee');
  await page.locator('.kbc-panel').waitFor({ state: 'visible' });
  await until('the resume', () => tab.received.filter((f) => f.type === 'history').length >= 2);
  assert.deepEqual(await transcript(page), beforeRows);
  const other = await open(ctx, '/?lang=fr');
  assert.ok(await other.page.locator('.kbc-panel').isHidden(), 'a new tab has its own panel state');
  await until('the history', () => other.received.some((f) => f.type === 'history'));
  assert.equal(other.sent.find((f) => f.type === 'start').after, undefined);
  await other.page.locator('.kbc-launcher').click();
  await until('the transcript', async () => (await transcript(other.page)).length === beforeRows.length);
  const rebuilt = await transcript(other.page);
  assert.deepEqual(rebuilt.map(([who, text]) => who === 'system' ? [who, text.match(/KB-\d{4}-\d{6}/)?.[0]] : [who, text]),
    beforeRows.map(([who, text]) => who === 'system' ? [who, text.match(/KB-\d{4}-\d{6}/)?.[0]] : [who, text]));
  await shownOnce(other.page);
  assert.deepEqual(other.errors, []);
  await other.page.close();
});

test('the server goes away: the notice, a message queued meanwhile, sent once when back', async () => {
  const { page } = tab;
  const port = new URL(srv.base).port, chatPort = new URL(srv.chatUrl).port;
  tab.sent.length = 0;
  tab.received.length = 0;
  const errorsBefore = tab.errors.length;
  // stop kb (its database stays) ...
  await new Promise((resolve) => { srv.child.once('exit', resolve); srv.child.kill('SIGTERM'); });
  const status = page.locator('.kbc-status');
  await until('the notice', async () => (await status.textContent()) === OFFLINE_FR);
  assert.equal(await status.getAttribute('role'), 'status');
  // ... a message typed meanwhile waits, shown as sending
  await page.locator('.kbc-input').fill('Bonjour, vous êtes là ?');
  await page.keyboard.press('Enter');
  const pending = page.locator('.kbc-msg--customer.kbc-pending');
  await pending.waitFor();
  assert.match(await pending.textContent(), /Bonjour, vous êtes là \?.*Envoi…/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await page.locator('.kbc-msg--customer.kbc-pending').count(), 1);
  // ... kb again on the same ports and database
  srv = await startServer({ dir: srv.dir, importFirst: false, args: ['--port', port, '--chat-port', chatPort] });
  await until('the ack', async () => (await page.locator('.kbc-pending').count()) === 0, 40000);
  await until('the reply', async () => (await transcript(page)).at(-1)[1] === NOT_UNDERSTOOD);
  const messages = tab.sent.filter((f) => f.type === 'message');
  assert.equal(messages.length, 1, 'sent once: ' + JSON.stringify(messages));
  assert.equal(messages[0].text, 'Bonjour, vous êtes là ?');
  assert.equal(tab.received.filter((f) => f.type === 'reply').length, 1);
  const rows = await transcript(page);
  assert.equal(rows.filter(([, t]) => t === 'Bonjour, vous êtes là ?').length, 1);
  await shownOnce(page);
  assert.notEqual(await status.textContent(), OFFLINE_FR);
  // the only console errors while kb was away are the browser's own failed connections
  const errs = tab.errors.slice(errorsBefore);
  assert.deepEqual(errs.filter((e) => !/^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/chat' failed/.test(e)), []);
  tab.errors.splice(errorsBefore);
});

test('no console error during the conversation', async () => {
  assert.deepEqual(tab.errors, []);
  await ctx.close();
});

test('a lost ack: the message is sent again with its id, shown once, answered once', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  record(page, errors);
  // The page's websocket goes through this route: the first ack is dropped with the page's
  // connection (the server has stored the message and its reply).
  const fromPage = [], fromServer = [], conns = [];
  let dropped = false;
  await page.routeWebSocket(/\/chat$/, (ws) => {
    const server = ws.connectToServer();
    const mine = [];
    conns.push(mine);
    ws.onMessage((m) => { fromPage.push(JSON.parse(m)); server.send(m); });
    server.onMessage((m) => {
      const f = JSON.parse(m);
      mine.push(f);
      if (dropped && conns.length === 1) return; /* what followed the ack on the dropped one */
      fromServer.push(f);
      if (f.type === 'ack' && !dropped) {
        dropped = true;
        ws.close({ code: 1011, reason: 'test drops the connection' });
        server.close();
        return;
      }
      ws.send(m);
    });
  });
  await page.goto(srv.base + '/?lang=fr');
  await page.locator('.kbc-launcher').click();
  await page.locator('.kbc-input').fill(QUESTION);
  await page.keyboard.press('Enter');
  await until('the resend', () => fromPage.filter((f) => f.type === 'message').length === 2, 20000);
  await until('the second ack', () => fromServer.filter((f) => f.type === 'ack').length === 2);
  await page.locator('.kbc-pending').waitFor({ state: 'detached' });
  await page.locator('.kbc-card').first().waitFor();
  const [m1, m2] = fromPage.filter((f) => f.type === 'message');
  assert.equal(m1.id, m2.id, 'the same client id');
  const [a1, a2] = fromServer.filter((f) => f.type === 'ack');
  assert.deepEqual(a1, a2, 'the same ack');
  assert.equal(conns.length, 2);
  assert.deepEqual(conns[1].map((f) => f.type), ['started', 'history', 'ack'], 'no second reply');
  assert.deepEqual(conns[1][1].messages.map((m) => [m.seq, m.from]), [[a1.seq, 'customer'], [a1.seq + 1, 'bot']]);
  const rows = await transcript(page);
  assert.deepEqual(rows.map(([who]) => who), ['customer', 'bot']);
  await shownOnce(page);
  assert.equal(rows[0][1], QUESTION);
  assert.deepEqual(errors, []);
  await context.close();
});

test('rate_limited: the refused message is sent again once, later, and shown once', async () => {
  const limited = await startServer({ content: fixture, args: ['--chat-rate', '1', '--chat-burst', '1'] });
  const context = await browser.newContext();
  try {
    const { page, errors, sent, received } = await open(context, '/?lang=fr', limited);
    await page.locator('.kbc-launcher').click();
    await until('the start', () => received.some((f) => f.type === 'started'));
    await page.locator('.kbc-input').fill('Bonjour');
    await page.keyboard.press('Enter');
    await page.locator('.kbc-input').fill(QUESTION);
    await page.keyboard.press('Enter');
    await until('the refusal', () => received.some((f) => f.type === 'error'));
    const refusal = received.find((f) => f.type === 'error');
    assert.equal(refusal.code, 'rate_limited');
    const second = sent.filter((f) => f.type === 'message')[1];
    assert.equal(refusal.id, second.id);
    const status = page.locator('.kbc-status');
    assert.match(await status.textContent(), /Trop de messages/);
    await page.locator('.kbc-card').first().waitFor({ timeout: 15000 });
    await until('the acks', async () => (await page.locator('.kbc-pending').count()) === 0);
    assert.deepEqual(sent.filter((f) => f.type === 'message').map((f) => f.id), [sent.find((f) => f.type === 'message').id, second.id, second.id]);
    const rows = await transcript(page);
    assert.deepEqual(rows.map(([who, text]) => who === 'customer' ? text : who), ['Bonjour', 'bot', QUESTION, 'bot']);
    await shownOnce(page);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await limited.stop();
  }
});

test('a stored conversation the server does not know, or idle for 30 minutes, is forgotten', async () => {
  const key = 'kb-chat:' + srv.chatUrl;
  // a token the server does not know (forged, or its conversation ended): a new conversation
  let context = await browser.newContext();
  await context.addInitScript(([k, v]) => { if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1'); localStorage.setItem(k, v); } },
    [key, JSON.stringify({ token: 'A'.repeat(43), at: Date.now(), seq: 7 })]);
  let tab2 = await open(context, '/?lang=fr');
  await until('a new conversation', () => tab2.received.some((f) => f.type === 'started'));
  assert.deepEqual(tab2.sent.map((f) => [f.type, f.resume, f.after]),
    [['start', 'A'.repeat(43), undefined], ['start', undefined, undefined]]);
  assert.equal(tab2.received.find((f) => f.type === 'error').code, 'unknown_conversation');
  const started = tab2.received.find((f) => f.type === 'started');
  assert.equal(started.resumed, false);
  const stored = JSON.parse(await tab2.page.evaluate((k) => localStorage.getItem(k), key));
  assert.equal(stored.token, started.conversation);
  await tab2.page.locator('.kbc-launcher').click();
  await say(tab2.page, QUESTION);
  await shownOnce(tab2.page);
  assert.deepEqual(tab2.errors, []);
  await context.close();

  // a token idle for more than 30 minutes: not even tried
  context = await browser.newContext();
  await context.addInitScript(([k, v]) => { if (!sessionStorage.getItem('seeded')) { sessionStorage.setItem('seeded', '1'); localStorage.setItem(k, v); } },
    [key, JSON.stringify({ token: started.conversation, at: Date.now() - 31 * 60 * 1000, seq: 2 })]);
  tab2 = await open(context, '/?lang=fr');
  await tab2.page.waitForTimeout(500);
  assert.deepEqual(tab2.sent, [], 'no connection for a conversation that has expired');
  assert.equal(await tab2.page.evaluate((k) => localStorage.getItem(k), key), null);
  await tab2.page.locator('.kbc-launcher').click();
  await until('a new conversation', () => tab2.received.some((f) => f.type === 'started'));
  assert.deepEqual(tab2.sent, [{ type: 'start', lang: 'fr', page: '/' }]);
  assert.notEqual(tab2.received.find((f) => f.type === 'started').conversation, started.conversation);
  assert.deepEqual(await transcript(tab2.page), []);
  assert.deepEqual(tab2.errors, []);
  await context.close();
});

test('the conversation ends (idle on the server): the widget says so, then starts a new one', async () => {
  const short = await startServer({ content: fixture, args: ['--chat-idle', '2'] });
  const context = await browser.newContext();
  try {
    const { page, errors, sent, received } = await open(context, '/?lang=fr', short);
    await page.locator('.kbc-launcher').click();
    await say(page, QUESTION);
    const first = received.find((f) => f.type === 'started').conversation;
    const status = page.locator('.kbc-status');
    await until('the end', async () => (await status.textContent()) === 'La conversation est terminée.', 10000);
    const restart = page.locator('.kbc-restart');
    assert.equal(await restart.textContent(), 'Nouvelle conversation');
    assert.ok(await restart.isVisible());
    assert.equal(await page.evaluate((k) => localStorage.getItem(k), 'kb-chat:' + short.chatUrl), null);
    // The ended conversation stays readable, with the server's word on why it ended.
    const ended = await transcript(page);
    assert.equal(ended.length, 3);
    assert.deepEqual(ended[2], ['system', "Conversation terminée après une période d'inactivité."]);
    assert.equal(await page.locator('.kbc-quick button').count(), 0);
    // no reconnection to a conversation that ended
    const starts = sent.filter((f) => f.type === 'start').length;
    await page.waitForTimeout(1500);
    assert.equal(sent.filter((f) => f.type === 'start').length, starts);
    // a new message starts a new conversation
    await page.locator('.kbc-input').fill('Bonjour');
    await page.keyboard.press('Enter');
    await until('the new conversation', async () => (await transcript(page)).length === 2 &&
      !(await page.locator('.kbc-pending').count()));
    assert.deepEqual(await transcript(page), [['customer', 'Bonjour'], ['bot', NOT_UNDERSTOOD]]);
    const last = received.filter((f) => f.type === 'started').at(-1);
    assert.equal(last.resumed, false);
    assert.notEqual(last.conversation, first);
    assert.ok(await restart.isHidden());
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await short.stop();
  }
});

test('without usable storage (blocked cookies), the chat still works', async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    for (const name of ['localStorage', 'sessionStorage'])
      Object.defineProperty(window, name, { get() { throw new DOMException('blocked', 'SecurityError'); } });
  });
  const { page, errors, sent } = await open(context, '/?lang=fr');
  await page.locator('.kbc-launcher').click();
  await say(page, QUESTION);
  await page.locator('.kbc-card').first().waitFor();
  await say(page, 'Non');
  assert.equal(sent.filter((f) => f.type === 'start').length, 1);
  await shownOnce(page);
  assert.deepEqual(errors, []);
  await context.close();
});

test('axe-core: no serious or critical violation with the panel open', async () => {
  // axe-core is injected as an inline script: only this context bypasses the CSP.
  const context = await browser.newContext({ bypassCSP: true });
  const { page } = await open(context, '/?lang=fr');
  await page.locator('.kbc-launcher').click();
  await say(page, QUESTION);
  await page.locator('.kbc-card').first().waitFor();
  await page.locator('.kbc-input').fill('brouillon');
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run());
  const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), []);
  // the regions and names a screen reader relies on
  assert.equal(await page.getAttribute('.kbc-log', 'role'), 'log');
  assert.equal(await page.getAttribute('.kbc-log', 'aria-live'), 'polite');
  assert.equal(await page.getAttribute('.kbc-panel', 'role'), 'dialog');
  assert.equal(await page.locator('label.kbc-label').textContent(), 'Votre message');
  assert.equal(await page.getAttribute('.kbc-close', 'aria-label'), 'Fermer la discussion');
  await context.close();
});

test('a 390 px wide phone: the panel takes the screen; Escape closes it, focus on the launcher', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true });
  const { page, errors } = await open(context, '/a/application-connectee');
  await page.locator('.kbc-launcher').click();
  const panel = page.locator('.kbc-panel');
  await panel.waitFor({ state: 'visible' });
  assert.deepEqual(await panel.boundingBox(), { x: 0, y: 0, width: 390, height: 844 });
  for (const sel of ['.kbc-input', '.kbc-send', '.kbc-close']) {
    const b = await page.locator(sel).boundingBox();
    assert.ok(b.x >= 0 && b.x + b.width <= 390 && b.y >= 0 && b.y + b.height <= 844, sel);
  }
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('kbc-input')));
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('kbc-launcher')),
    'focus is back on the launcher');
  assert.ok(await page.locator('.kbc-launcher').isVisible());
  // the close button does the same
  await page.keyboard.press('Enter');
  await panel.waitFor({ state: 'visible' });
  await page.locator('.kbc-close').click();
  await panel.waitFor({ state: 'hidden' });
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('kbc-launcher')));
  assert.deepEqual(errors, []);
  await context.close();
});

test('English pages get the English widget', async () => {
  const context = await browser.newContext();
  const { page, errors } = await open(context, '/?lang=en');
  assert.equal(await page.locator('.kbc-launcher').innerText(), 'Chat with us');
  await page.locator('.kbc-launcher').click();
  assert.equal(await page.locator('label.kbc-label').textContent(), 'Your message');
  assert.equal(await page.locator('.kbc-send').textContent(), 'Send');
  assert.equal(await page.getAttribute('.kbc-close', 'aria-label'), 'Close the chat');
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the shipped content, from an article page: an article card, "Non", the case reference, a reload', async () => {
  const shipped = await startServer();
  const context = await browser.newContext();
  try {
    const { page, errors } = await open(context, '/a/garantie-constructeur', shipped);
    assert.equal(await page.locator('script[data-kb-chat]').getAttribute('data-kb-chat'), shipped.chatUrl);
    await page.locator('.kbc-launcher').click();
    // A question the rules leave to the knowledge base: the best article, as a card.
    await say(page, QUESTION);
    const card = page.locator('.kbc-log .kbc-card').first();
    await card.waitFor();
    assert.equal(await card.getAttribute('href'), shipped.base + '/a/application-connectee');
    assert.match((await transcript(page))[1][1], /Cela répond-il à votre question \?$/);
    assert.deepEqual(await page.locator('.kbc-quick button').allTextContents(), ['Oui', 'Non']);
    // "Non": a person is offered, with consent asked first.
    await page.locator('.kbc-quick button', { hasText: 'Non' }).click();
    await page.getByText("j'enregistre votre nom, vos coordonnées et notre conversation", { exact: false }).waitFor();
    await page.locator('.kbc-quick button', { hasText: 'Oui' }).click();
    await page.getByText('Quel est votre nom ?', { exact: false }).waitFor();
    await say(page, 'Jean Dupont');
    await say(page, 'jean.dupont@example.fr');
    await say(page, 'Les services connectés ne s’activent pas');
    const ref = await page.locator('.kbc-case .kbc-case-ref').textContent();
    assert.match(ref, /^KB-\d{4}-\d{6}$/);
    const bots = (await transcript(page)).filter(([who]) => who === 'bot');
    assert.match(bots.at(-1)[1], new RegExp(`sous la référence ${ref}`));
    const show = kb(['--db', shipped.db, 'case', 'show', ref, '--json']);
    assert.equal(show.status, 0, show.stderr);
    const kase = JSON.parse(show.stdout);
    assert.equal(kase.contact.name, 'Jean Dupont');
    assert.equal(kase.contact.email, 'jean.dupont@example.fr');
    assert.deepEqual(kase.articles.map((a) => a.slug).slice(0, 1), ['application-connectee']);
    // A reload restores the conversation, every message once, the case reference included.
    const before = await transcript(page);
    await page.reload();
    await page.locator('.kbc-panel').waitFor({ state: 'visible' });
    await until('the restored conversation', async () => (await transcript(page)).length === before.length);
    assert.deepEqual(await transcript(page), before);
    await shownOnce(page);
    // axe-core on the shipped page with the panel open and the cards shown (evaluated
    // through the debugging protocol, which the page's CSP does not govern).
    await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run());
    const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await shipped.stop();
  }
});
