// tests/integration/takeover.test.mjs: the live takeover of chats against the real server and
// the shipped rules (content/bot/fr, en): websocket clients for customers (/chat) and for
// agents with real sessions (/agent, subprotocol kb-agent, the kb_session cookie and the help
// centre's Origin). Outside the opening hours asking for a person is the case flow; inside, the
// customer is offered to wait, waits, agents see it in real time, one takes it (two racing:
// exactly one), the customer sees the agent's name, messages go both ways while the bot is
// silent, article cards (internal ones refused by the server), leave (the bot answers again),
// end, a case opened by the agent whose transcript says who said what (`kb case show --json`,
// the case page), a wait that expires (--chat-wait 2s: the bot offers a case), the channel's
// refusals (anonymous, forged cookie, wrong Origin, a signed-out or disabled agent) and
// limits, a customer's connection that sends agents' frames, markup in names and messages
// carried as text, and a restart of kb while a conversation waits and another is held. Cases
// reach a real CRM receiver (chatlib.mjs: standardwebhooks verifies every request), whose
// case.created event carries the agents' messages with their names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { KB, CONTENT, kb, startServer, getText, tempDir } from './lib.mjs';
import { Client, SECRET, connect, startReceiver } from './chatlib.mjs';

const PW = 'correct horse battery staple';
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const WAIT_FR = "je veux parler à quelqu'un";
let main, expiring, closed; // the servers: open hours; open hours and --chat-wait 2s; closed
let db, crm, crmExpiring; // a CRM receiver for each server: case references restart in each database
const MAIN_ARGS = () => ['--chat-hours', 'daily 00:00-24:00', '--crm-url', crm.url, '--crm-secret', SECRET];

function addUsers(dbPath) {
  for (const [login, role, name] of [['marie', 'agent', 'Marie Dupont'], ['paul', 'agent', 'Paul'],
    ['eve', 'editor', 'Ève'], ['zoe', 'agent', '<img src=x onerror=alert(1)>'],
    ['yves', 'agent', '<img src=x onerror=alert(1)>']]) {
    const r = spawnSync(KB, ['--db', dbPath, 'user', 'add', login, '--role', role, '--name', name],
      { input: PW + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
}

/** A server over a fresh copy of the shipped content, with the agents. */
async function serve(args, env = {}) {
  const dir = tempDir('kb-takeover-');
  const dbPath = join(dir, 'kb.db');
  const r = kb(['--db', dbPath, 'import', CONTENT]);
  assert.equal(r.status, 0, r.stderr);
  addUsers(dbPath);
  return startServer({ dir, importFirst: false, args, env });
}

async function login(srv, who) {
  const r = await fetch(srv.base + '/api/v1/session', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: who, password: PW }),
  });
  assert.equal(r.status, 201, who);
  const body = await r.json();
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf_token };
}

const agentUrl = (srv) => srv.chatUrl.replace(/\/chat$/, '/agent');

/** An agent's channel, open and ready (its hello read). */
async function agent(srv, session, { origin = srv.base } = {}) {
  const a = new Client(agentUrl(srv), 'kb-agent', { headers: { cookie: session.cookie, origin } });
  a.hello = await a.type('hello', 10000);
  return a;
}

/** The next queue frame that satisfies pred. */
const queue = (a, pred = () => true, ms = 10000) =>
  a.next((f) => f.type === 'queue' && pred(f.conversations), ms);
const inQueue = (convs, id) => convs.some((x) => x.conversation === id);

/** A customer who asks for a person and chooses to wait; resolves when the conversation waits. */
async function waiting(srv, { lang = 'fr', page, prefix = 'w' } = {}) {
  const c = await connect(srv.chatUrl);
  page ??= `/a/page-of-${prefix}`;
  const started = await c.start({ lang, page });
  c.token = started.conversation;
  c.page = page; // tells the conversation apart in the agents' queue
  const first = await c.say(`${prefix}1`, lang === 'fr' ? WAIT_FR : 'I want to talk to a person');
  assert.deepEqual(first.reply.quick_replies, lang === 'fr'
    ? ['Attendre un conseiller', 'Laisser une demande'] : ['Wait for an adviser', 'Leave a request']);
  const { reply } = await c.say(`${prefix}2`, first.reply.quick_replies[0]);
  const h = await c.type('handoff');
  assert.deepEqual(h, { type: 'handoff', state: 'waiting', name: null, seq: reply.seq + 1 });
  return c;
}

/** The id agents see of customer c's conversation, once it is in a's queue. */
async function idOf(a, c) {
  const { conversations } = await queue(a, (l) => l.some((x) => x.page === c.page));
  return conversations.find((x) => x.page === c.page).conversation;
}

/** Nothing matching pred arrives within ms. */
async function nothing(c, pred, ms = 800) {
  await new Promise((r) => setTimeout(r, ms));
  assert.equal(c.frames.filter(pred).length, 0, JSON.stringify(c.frames));
}

const caseShow = (dbPath, ref) => {
  const r = spawnSync(KB, ['--db', dbPath, 'case', 'show', ref, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

before(async () => {
  crm = await startReceiver();
  crmExpiring = await startReceiver();
  // Closed: the hours name a day three days from now only (in UTC, the server's TZ here).
  const other = DAYS[(new Date().getUTCDay() + 3) % 7];
  [main, expiring, closed] = await Promise.all([
    serve(MAIN_ARGS()),
    serve(['--chat-hours', 'mon-sun 00:00-24:00', '--chat-wait', '2s', '--crm-url', crmExpiring.url,
      '--crm-secret', SECRET]),
    serve(['--chat-hours', `${other} 09:00-10:00`], { TZ: 'UTC' }),
  ]);
  db = main.db;
});

after(async () => {
  await main?.stop();
  await expiring?.stop();
  await closed?.stop();
  await crm?.close();
  await crmExpiring?.close();
});

/** The case.created event of case ref, as the CRM received it (its signature verified). */
async function delivered(ref, receiver = crm) {
  await receiver.waitFor((r) => r.events.some((e) => e.type === 'case.created' && e.data.ref === ref));
  const ev = receiver.events.find((e) => e.type === 'case.created' && e.data.ref === ref);
  assert.equal(receiver.requests.find((q) => q.id === ev._id).verified, true);
  return ev;
}

test('outside the opening hours, asking for a person is the case flow, as before (fr, en)', async () => {
  const fr = await connect(closed.chatUrl);
  await fr.start({ lang: 'fr' });
  const a = await fr.say('o1', WAIT_FR);
  assert.match(a.reply.text, /j'enregistre votre nom, vos coordonnées et notre conversation\. Êtes-vous d'accord \?/);
  assert.deepEqual(a.reply.quick_replies, ['Oui', 'Non']);
  // "Non" after an article offers the case too.
  const g = await fr.say('o2', 'Comment activer les services connectés ?');
  assert.deepEqual(g.reply.quick_replies, ['Oui', 'Non']);
  const n = await fr.say('o3', 'Non');
  assert.match(n.reply.text, /Êtes-vous d'accord \?/);
  const en = await connect(closed.chatUrl);
  await en.start({ lang: 'en' });
  const b = await en.say('e1', 'I want to talk to a human');
  assert.match(b.reply.text, /Do you agree\?/);
  await nothing(fr, (f) => f.type === 'handoff', 300);
  await nothing(en, (f) => f.type === 'handoff', 10);
  fr.close();
  en.close();
});

test('inside the hours: offered to wait, the conversation waits, agents see it in real time', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  assert.deepEqual(marie.hello, { type: 'hello', agent: { login: 'marie', name: 'Marie Dupont' }, wait: 180, holding: [] });
  const empty = await queue(marie);
  assert.deepEqual(empty.conversations, []);
  const c = await waiting(main, { prefix: 'q', page: '/a/garantie-constructeur' });
  const { conversations } = await queue(marie, (l) => l.length === 1);
  const [w] = conversations;
  assert.match(w.conversation, /^conv_[A-Za-z0-9_-]+$/);
  assert.notEqual(w.conversation, c.token, 'agents never see the resume token');
  assert.equal(w.lang, 'fr');
  assert.equal(w.page, '/a/garantie-constructeur');
  assert.ok(w.waited >= 0 && w.waited < 30, String(w.waited));
  assert.match(w.waiting_since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(w.messages.map((m) => m.text), [WAIT_FR, 'Attendre un conseiller']);
  // The customer writes while waiting: stored and acknowledged, no bot reply, agents see it.
  c.send({ type: 'message', id: 'q3', text: 'ma voiture fait un bruit' });
  const ack = await c.next((f) => f.type === 'ack' && f.id === 'q3');
  const again = await queue(marie, (l) => l[0]?.messages.length === 3 && l[0].messages[2].seq === ack.seq);
  assert.deepEqual(again.conversations[0].messages.map((m) => m.text),
    [WAIT_FR, 'Attendre un conseiller', 'ma voiture fait un bruit']);
  await nothing(c, (f) => f.type === 'reply');
  // In English, "No" after an article offers to wait too.
  const en = await connect(main.chatUrl);
  await en.start({ lang: 'en' });
  const g = await en.say('n1', 'Can I schedule charging of my electric car remotely?');
  assert.deepEqual(g.reply.quick_replies, ['Yes', 'No']);
  const no = await en.say('n2', 'No');
  assert.deepEqual(no.reply.quick_replies, ['Wait for an adviser', 'Leave a request']);
  const leave = await en.say('n3', 'Leave a request');
  assert.match(leave.reply.text, /Do you agree\?/, 'leaving a request is the case flow');
  // A new agent's channel gets the queue at hello.
  const paul = await agent(main, await login(main, 'paul'));
  const seen = await queue(paul);
  assert.ok(inQueue(seen.conversations, w.conversation));
  // It is taken: it vanishes from every agent's queue.
  marie.frames.length = 0;
  paul.frames.length = 0;
  marie.send({ type: 'take', conversation: w.conversation });
  const held = await marie.type('conversation');
  assert.equal(held.conversation, w.conversation);
  assert.deepEqual(held.agent, { login: 'marie', name: 'Marie Dupont' });
  assert.deepEqual(held.messages.slice(-1)[0],
    { ...held.messages.slice(-1)[0], from: 'system', handoff: 'joined', name: 'Marie Dupont' });
  assert.ok(held.messages.some((m) => m.from === 'customer' && m.text === 'ma voiture fait un bruit'));
  await queue(paul, (l) => !inQueue(l, w.conversation));
  await queue(marie, (l) => !inQueue(l, w.conversation));
  const joined = await c.type('handoff');
  assert.equal(joined.state, 'joined');
  assert.equal(joined.name, 'Marie Dupont');
  for (const x of [c, en, marie, paul]) x.close();
});

test('an agent holds it: messages both ways, the bot silent, article cards (internal refused), leave', async () => {
  const session = await login(main, 'marie');
  const marie = await agent(main, session);
  const c = await waiting(main, { prefix: 'h' });
  const id = await idOf(marie, c);
  marie.send({ type: 'take', conversation: id });
  await marie.type('conversation');
  await c.type('handoff');
  // The customer writes: stored, acknowledged, the agent reads it, no bot reply.
  c.send({ type: 'message', id: 'h3', text: 'bonjour ?' });
  const ack = await c.next((f) => f.type === 'ack' && f.id === 'h3');
  const got = await marie.next((f) => f.type === 'message' && f.from === 'customer');
  assert.deepEqual({ ...got, at: undefined }, { type: 'message', conversation: id, seq: ack.seq,
    from: 'customer', text: 'bonjour ?', at: undefined });
  await nothing(c, (f) => f.type === 'reply');
  // The agent answers with a public article card.
  marie.send({ type: 'message', conversation: id, id: 'a1', text: 'Bonjour, je regarde votre garantie.',
    articles: ['garantie-constructeur'] });
  const said = await c.type('agent');
  assert.equal(said.seq, ack.seq + 1);
  assert.equal(said.name, 'Marie Dupont');
  assert.equal(said.text, 'Bonjour, je regarde votre garantie.');
  assert.equal(said.articles.length, 1);
  assert.equal(said.articles[0].slug, 'garantie-constructeur');
  assert.equal(said.articles[0].url, '/a/garantie-constructeur');
  assert.ok(said.articles[0].title && said.articles[0].summary);
  const echo = await marie.next((f) => f.type === 'message' && f.id === 'a1');
  assert.equal(echo.seq, said.seq);
  assert.equal(echo.from, 'agent');
  // An internal article, a draft-less unknown slug: refused by the server, nothing sent.
  marie.send({ type: 'message', conversation: id, id: 'a2', text: 'procédure', articles: ['verification-identite'] });
  const refused = await marie.next((f) => f.type === 'error' && f.id === 'a2');
  assert.equal(refused.code, 'not_public');
  marie.send({ type: 'message', conversation: id, id: 'a3', text: 'x', articles: ['no-such-article'] });
  assert.equal((await marie.next((f) => f.type === 'error' && f.id === 'a3')).code, 'unknown_article');
  await nothing(c, (f) => f.type === 'agent');
  // Another agent cannot write in it.
  const paul = await agent(main, await login(main, 'paul'));
  paul.send({ type: 'message', conversation: id, id: 'p1', text: 'intrus' });
  assert.equal((await paul.next((f) => f.type === 'error' && f.id === 'p1')).code, 'not_held');
  // A resume (a reload) restores the agent's messages with the name, and the handoff.
  const tab = await connect(main.chatUrl);
  await tab.start({ lang: 'fr', resume: c.token });
  const hist = (await tab.type('history')).messages;
  const joined = hist.find((m) => m.handoff === 'joined');
  assert.deepEqual({ from: joined.from, name: joined.name }, { from: 'system', name: 'Marie Dupont' });
  const mine = hist.find((m) => m.from === 'agent');
  assert.equal(mine.name, 'Marie Dupont');
  assert.equal(mine.articles[0].slug, 'garantie-constructeur');
  tab.close();
  // Leave: the customer reads who left, and the bot answers again.
  marie.send({ type: 'leave', conversation: id });
  assert.deepEqual(await marie.type('released'), { type: 'released', conversation: id, reason: 'left' });
  const left = await c.type('handoff');
  assert.equal(left.state, 'left');
  assert.equal(left.name, 'Marie Dupont');
  const back = await c.say('h4', 'garantie constructeur');
  assert.match(back.reply.text, /garant/i);
  marie.send({ type: 'message', conversation: id, id: 'a4', text: 'encore là ?' });
  assert.equal((await marie.next((f) => f.type === 'error' && f.id === 'a4')).code, 'unknown_conversation');
  for (const x of [c, marie, paul]) x.close();
});

test('two agents race for one conversation: exactly one takes it, the other is told who', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  const paul = await agent(main, await login(main, 'paul'));
  for (let round = 0; round < 3; round++) {
    const c = await waiting(main, { prefix: `r${round}-` });
    const id = await idOf(paul, c);
    marie.frames.length = 0;
    paul.frames.length = 0;
    marie.send({ type: 'take', conversation: id });
    paul.send({ type: 'take', conversation: id });
    const answer = (a) => a.next((f) => (f.type === 'conversation' || f.type === 'error') && f.conversation === id);
    const [m, p] = await Promise.all([answer(marie), answer(paul)]);
    const kinds = [m.type, p.type].sort();
    assert.deepEqual(kinds, ['conversation', 'error'], JSON.stringify([m, p]));
    const loser = m.type === 'error' ? m : p;
    const winner = m.type === 'error' ? 'Paul' : 'Marie Dupont';
    assert.equal(loser.code, 'taken');
    assert.equal(loser.name, winner);
    const joined = await c.type('handoff');
    assert.equal(joined.name, winner);
    await nothing(c, (f) => f.type === 'handoff', 300);
    const holder = m.type === 'error' ? paul : marie;
    holder.send({ type: 'end', conversation: id });
    await holder.type('released');
    await c.waitClosed();
    c.close();
  }
  marie.close();
  paul.close();
});

test('the agent ends it, or opens a case whose transcript says who said what', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  // End.
  const c = await waiting(main, { prefix: 'e' });
  let id = await idOf(marie, c);
  marie.send({ type: 'take', conversation: id });
  await marie.type('conversation');
  marie.send({ type: 'end', conversation: id });
  const ended = await c.type('history');
  assert.equal(ended.messages[0].text, 'Conversation terminée par le conseiller.');
  assert.deepEqual(await c.waitClosed(), { code: 1000, reason: 'conversation ended' });
  assert.deepEqual(await marie.type('released'), { type: 'released', conversation: id, reason: 'ended' });
  // A case opened by the agent from the conversation.
  const d = await waiting(main, { prefix: 'k' });
  id = await idOf(marie, d);
  marie.send({ type: 'take', conversation: id });
  await marie.type('conversation');
  await d.type('handoff');
  d.send({ type: 'message', id: 'k8', text: 'mon siège chauffant ne marche plus' });
  await marie.next((f) => f.type === 'message' && f.from === 'customer');
  marie.send({ type: 'message', conversation: id, id: 'a1', text: "Je transmets à l'atelier." });
  await d.type('agent');
  marie.send({ type: 'case', conversation: id, subject: 'Siège chauffant en panne' });
  const kase = await marie.type('case');
  assert.match(kase.ref, /^KB-\d{4}-\d{6}$/);
  const customerCase = await d.type('case');
  assert.equal(customerCase.ref, kase.ref);
  const shown = caseShow(db, kase.ref);
  assert.equal(shown.subject, 'Siège chauffant en panne');
  const byAgent = shown.transcript.filter((m) => m.from === 'agent');
  assert.deepEqual(byAgent.map((m) => [m.text, m.name, m.login]),
    [["Je transmets à l'atelier.", 'Marie Dupont', 'marie']]);
  assert.ok(shown.transcript.some((m) => m.from === 'customer' && m.text === 'mon siège chauffant ne marche plus'));
  assert.ok(shown.transcript.some((m) => m.from === 'system' && m.text === 'Marie Dupont a rejoint la conversation.'));
  // The customer gave the bot no consent: no contact details in the case.
  assert.deepEqual(shown.contact, { name: null, email: null, phone: null });
  assert.notEqual(shown.conversation_id, d.token, 'never the resume token');
  // The CRM's case.created carries the same transcript: who said what.
  const ev = await delivered(kase.ref);
  assert.deepEqual(ev.data, shown);
  assert.deepEqual(ev.data.transcript.filter((m) => m.from === 'agent').map((m) => [m.text, m.name, m.login]),
    [["Je transmets à l'atelier.", 'Marie Dupont', 'marie']]);
  // The text form and the case page name the agent.
  const text = spawnSync(KB, ['--db', db, 'case', 'show', kase.ref], { encoding: 'utf8' }).stdout;
  assert.match(text, /agent +Marie Dupont \(marie\): Je transmets à l'atelier\./);
  const page = await getText(main.base, `/agent/cases/${kase.ref}?lang=fr`, { headers: { cookie: (await login(main, 'paul')).cookie } });
  assert.equal(page.status, 200);
  assert.match(page.text, /Conseiller · Marie Dupont \(marie\)/);
  // The audit log has the take and the case.
  const audit = spawnSync(KB, ['--db', db, 'audit'], { encoding: 'utf8' }).stdout;
  assert.match(audit, new RegExp(`marie +chat\\.case +${kase.ref}`));
  assert.match(audit, new RegExp(`marie +chat\\.take +${id}`));
  d.close();
  marie.close();
});

test('nobody takes it within --chat-wait: the bot offers a case instead', async () => {
  const zoe = await agent(expiring, await login(expiring, 'zoe'));
  const c = await waiting(expiring, { prefix: 'x' });
  await queue(zoe, (l) => l.length === 1);
  const left = await c.type('handoff', 10000);
  assert.equal(left.state, 'left');
  assert.equal(left.name, null);
  const offer = await c.type('reply', 5000);
  assert.equal(offer.seq, left.seq + 1);
  assert.match(offer.text, /aucun conseiller n'a pu vous répondre à temps/);
  assert.deepEqual(offer.quick_replies, ['Oui', 'Non']);
  await queue(zoe, (l) => l.length === 0);
  zoe.send({ type: 'take', conversation: 'conv_gone' });
  assert.equal((await zoe.type('error')).code, 'unknown_conversation');
  // "Oui": the case flow, to the case; the CRM's event says nobody answered.
  const yes = await c.say('x3', 'Oui');
  assert.match(yes.reply.text, /Êtes-vous d'accord \?/);
  await c.say('x4', 'Oui');
  await c.say('x5', 'Jean Dupont');
  await c.say('x6', 'jean.dupont@example.fr');
  const { kase } = await c.say('x7', 'mon siège chauffant ne marche plus', { withCase: true });
  const ev = await delivered(kase.ref, crmExpiring);
  assert.deepEqual(ev.data.contact, { name: 'Jean Dupont', email: 'jean.dupont@example.fr', phone: null });
  assert.deepEqual(ev.data.transcript.filter((m) => m.from === 'system').map((m) => m.text).slice(0, 2),
    ["En attente d'un conseiller…", "Aucun conseiller n'a pu vous répondre."]);
  assert.equal(ev.data.transcript.filter((m) => m.from === 'agent').length, 0);
  // The history says so after a reload.
  const tab = await connect(expiring.chatUrl);
  await tab.start({ lang: 'fr', resume: c.token });
  const hist = (await tab.type('history')).messages;
  assert.deepEqual(hist.filter((m) => m.handoff).map((m) => [m.handoff, m.name ?? null]),
    [['waiting', null], ['left', null]]);
  for (const x of [c, tab, zoe]) x.close();
});

test('the agents\' channel: anonymous, forged cookie, wrong Origin refused; sessions checked on every action', async () => {
  const url = agentUrl(main);
  const session = await login(main, 'paul');
  const refusedWith = async (headers) => {
    const a = new Client(url, 'kb-agent', { headers });
    await a.waitClosed();
    return a.refused;
  };
  assert.equal(await refusedWith({ origin: main.base }), 401, 'anonymous');
  assert.equal(await refusedWith({ origin: 'http://evil.example', cookie: session.cookie }), 403, 'wrong Origin');
  assert.equal(await refusedWith({ cookie: session.cookie }), 403, 'no Origin');
  assert.equal(await refusedWith({ origin: main.base.replace(/:\d+$/, ':1'), cookie: session.cookie }), 403, 'another port');
  // A forged cookie: the upgrade happens, the session check refuses it.
  const forged = new Client(url, 'kb-agent', { headers: { origin: main.base, cookie: 'kb_session=' + 'A'.repeat(43) } });
  assert.equal((await forged.type('error')).code, 'unauthenticated');
  assert.deepEqual(await forged.waitClosed(), { code: 4401, reason: 'unauthenticated' });
  // An editor may (role agent or more).
  const eve = await agent(main, await login(main, 'eve'));
  assert.equal(eve.hello.agent.login, 'eve');
  eve.close();
  // Bad frames and limits.
  const paul = await agent(main, session);
  paul.send('not json');
  assert.equal((await paul.type('error')).code, 'bad_frame');
  paul.send({ type: 'take' });
  assert.equal((await paul.type('error')).code, 'bad_frame');
  paul.send({ type: 'message', conversation: 'conv_x', id: 'z', text: 'x', articles: ['a', 'b', 'c', 'd'] });
  assert.equal((await paul.type('error')).code, 'bad_frame');
  for (let i = 0; i < 100; i++) paul.send({ type: 'take', conversation: `conv_${i}` });
  await paul.next((f) => f.type === 'error' && f.code === 'rate_limited');
  paul.close();
  const big = await agent(main, session);
  big.send('{"type":"message","text":"' + 'x'.repeat(9000) + '"}');
  assert.equal((await big.next((f) => f.code === 'too_large')).code, 'too_large');
  assert.equal((await big.waitClosed()).code, 1009);
  // Signed out: the next action closes the channel.
  const other = await agent(main, session);
  const out = await fetch(main.base + '/api/v1/session', { method: 'DELETE',
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf } });
  assert.equal(out.status, 204);
  other.send({ type: 'take', conversation: 'conv_x' });
  assert.equal((await other.next((f) => f.code === 'unauthenticated')).code, 'unauthenticated');
  assert.equal((await other.waitClosed()).code, 4401);
  // Disabled: the periodic check closes an idle channel within about 10 s.
  const zoe = await agent(main, await login(main, 'zoe'));
  const r = spawnSync(KB, ['--db', db, 'user', 'disable', 'zoe'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await zoe.next((f) => f.code === 'unauthenticated', 15000)).code, 'unauthenticated');
  assert.equal((await zoe.waitClosed()).code, 4401);
});

test('a restart of kb while one conversation waits and another is held comes back coherent', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  const w = await waiting(main, { prefix: 'sw' });
  const h = await waiting(main, { prefix: 'sh', lang: 'en', page: '/a/maintenance-booking' });
  const wid = await idOf(marie, w), hid = await idOf(marie, h);
  marie.send({ type: 'take', conversation: hid });
  await marie.type('conversation');
  await h.type('handoff');
  marie.send({ type: 'message', conversation: hid, id: 'm1', text: 'Hello, Marie here.' });
  await h.type('agent');
  for (const x of [w, h, marie]) x.close();
  // The session and the conversations are in the database: kb stops and starts again.
  const session = await login(main, 'marie');
  await main.stop({ keep: true });
  main = await startServer({ dir: main.dir, importFirst: false, args: MAIN_ARGS() });
  const again = await agent(main, session);
  assert.ok(again.hello.holding.includes(hid), 'hello names what he holds');
  const q = await queue(again);
  assert.ok(inQueue(q.conversations, wid), 'the waiting one still waits');
  assert.ok(!inQueue(q.conversations, hid));
  const held = await again.next((f) => f.type === 'conversation' && f.conversation === hid);
  assert.equal(held.lang, 'en');
  assert.equal(held.page, '/a/maintenance-booking');
  assert.ok(held.messages.some((m) => m.from === 'agent' && m.text === 'Hello, Marie here.'));
  // The held customer resumes: the agent's message with the name, and the bot still silent.
  const c = new Client(main.chatUrl);
  await c.open();
  await c.start({ lang: 'en', resume: h.token });
  const hist = (await c.type('history')).messages;
  assert.equal(hist.find((m) => m.from === 'agent').name, 'Marie Dupont');
  assert.equal(hist.filter((m) => m.handoff).slice(-1)[0].handoff, 'joined');
  c.send({ type: 'message', id: 'after', text: 'still there?' });
  await c.next((f) => f.type === 'ack' && f.id === 'after');
  const got = await again.next((f) => f.type === 'message' && f.conversation === hid && f.from === 'customer');
  assert.equal(got.text, 'still there?');
  await nothing(c, (f) => f.type === 'reply');
  // The waiting customer resumes: still waiting, and can be taken.
  const d = new Client(main.chatUrl);
  await d.open();
  await d.start({ lang: 'fr', resume: w.token });
  const dh = (await d.type('history')).messages;
  assert.equal(dh.filter((m) => m.handoff).slice(-1)[0].handoff, 'waiting');
  again.send({ type: 'take', conversation: wid });
  await again.next((f) => f.type === 'conversation' && f.conversation === wid);
  assert.equal((await d.type('handoff')).state, 'joined');
  for (const x of [c, d, again]) x.close();
});

test('after the agent leaves, the case the bot opens carries the agent\'s messages (kb case show, the CRM)', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  const c = await waiting(main, { prefix: 'l' });
  const id = await idOf(marie, c);
  marie.send({ type: 'take', conversation: id });
  await marie.type('conversation');
  await c.type('handoff');
  c.send({ type: 'message', id: 'l3', text: 'ma facture est fausse' });
  const ack = await c.next((f) => f.type === 'ack' && f.id === 'l3');
  await marie.next((f) => f.type === 'message' && f.from === 'customer' && f.seq === ack.seq);
  marie.send({ type: 'message', conversation: id, id: 'm1', text: 'Laissez une demande, la comptabilité vous rappelle.',
    articles: ['garantie-constructeur'] });
  const said = await c.type('agent');
  assert.equal(said.seq, ack.seq + 1);
  marie.send({ type: 'leave', conversation: id });
  await marie.type('released');
  assert.equal((await c.type('handoff')).state, 'left');
  // The bot again: the customer leaves a request, to the case.
  const ask = await c.say('l4', WAIT_FR);
  assert.deepEqual(ask.reply.quick_replies, ['Attendre un conseiller', 'Laisser une demande']);
  assert.match((await c.say('l5', 'Laisser une demande')).reply.text, /Êtes-vous d'accord \?/);
  await c.say('l6', 'Oui');
  await c.say('l7', 'Jean Dupont');
  await c.say('l8', 'jean.dupont@example.fr');
  const { kase } = await c.say('l9', 'facture de révision fausse', { withCase: true });
  const shown = caseShow(db, kase.ref);
  const ev = await delivered(kase.ref);
  assert.deepEqual(ev.data, shown, 'the CRM gets what kb case show says');
  const agentLines = ev.data.transcript.filter((m) => m.from === 'agent');
  assert.deepEqual(agentLines.map((m) => [m.seq, m.text, m.name, m.login]),
    [[said.seq, 'Laissez une demande, la comptabilité vous rappelle.', 'Marie Dupont', 'marie']]);
  const handoffs = ev.data.transcript.filter((m) => m.from === 'system').map((m) => m.text);
  assert.ok(handoffs.includes('Marie Dupont a rejoint la conversation.'), JSON.stringify(handoffs));
  assert.ok(handoffs.includes('Marie Dupont a quitté la conversation.'), JSON.stringify(handoffs));
  assert.ok(ev.data.transcript.some((m) => m.from === 'customer' && m.text === 'ma facture est fausse'));
  // The card the agent sent is among the case's articles.
  assert.ok(ev.data.articles.some((a) => a.slug === 'garantie-constructeur'), JSON.stringify(ev.data.articles));
  // Seqs increase one by one over the whole conversation, whoever spoke.
  const seqs = ev.data.transcript.map((m) => m.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => seqs[0] + i));
  c.close();
  marie.close();
});

test('a customer\'s connection cannot act as an agent; markup in messages and names travels as text', async () => {
  const marie = await agent(main, await login(main, 'marie'));
  const c = await waiting(main, { prefix: 'y' });
  const id = await idOf(marie, c);
  // Agents' frames on the customer's websocket: bad_frame, and the conversation still waits.
  for (const f of [{ type: 'take', conversation: id }, { type: 'leave', conversation: id },
    { type: 'agent', seq: 99, text: 'je suis conseiller', name: 'Faux', articles: [] },
    { type: 'handoff', state: 'joined', name: 'Faux' },
    { type: 'case', conversation: id, subject: 'x' }]) {
    c.send(f);
    const e = await c.type('error');
    assert.equal(e.code, 'bad_frame', JSON.stringify(f));
  }
  const q = await (async () => { marie.frames.length = 0; c.send({ type: 'message', id: 'y3', text: 'toujours là' });
    return queue(marie, (l) => l.some((x) => x.conversation === id && x.messages.some((m) => m.text === 'toujours là'))); })();
  assert.ok(inQueue(q.conversations, id), 'still waiting');
  // The customer's websocket path does not lead to the agents' channel, even with the subprotocol.
  const sneaky = new Client(main.chatUrl, 'kb-agent', { headers: { origin: main.base } });
  await sneaky.waitClosed();
  assert.equal(sneaky.refused, 404);
  // Markup: an agent's name and the messages are carried verbatim in JSON, escaped in pages.
  const XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>';
  const zoe = await agent(main, await login(main, 'yves'));
  zoe.send({ type: 'take', conversation: id });
  await zoe.type('conversation');
  const joined = await c.type('handoff');
  assert.equal(joined.name, '<img src=x onerror=alert(1)>');
  c.send({ type: 'message', id: 'y4', text: XSS });
  assert.equal((await zoe.next((f) => f.type === 'message' && f.from === 'customer' && f.id === undefined && f.text === XSS)).text, XSS);
  zoe.send({ type: 'message', conversation: id, id: 'z1', text: XSS });
  assert.equal((await c.type('agent')).text, XSS);
  zoe.send({ type: 'case', conversation: id, subject: XSS });
  const kase = await zoe.type('case');
  const page = await getText(main.base, `/agent/cases/${kase.ref}?lang=fr`, { headers: { cookie: (await login(main, 'marie')).cookie } });
  assert.equal(page.status, 200);
  assert.ok(!page.text.includes('<img src=x'), 'no markup from a name or a message reaches the page');
  assert.ok(!page.text.includes('<script>alert'), 'no script from a message reaches the page');
  assert.ok(page.text.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the name is there, escaped');
  zoe.send({ type: 'end', conversation: id });
  await zoe.type('released');
  for (const x of [c, zoe, marie]) x.close();
});

test('keepalive on the agents\' channel: an agent who answers pings stays; a vanished one is dropped and, after --chat-wait, loses his conversation to the bot', async () => {
  const srv = await serve(['--chat-hours', 'daily 00:00-24:00', '--chat-ping', '1', '--chat-wait', '3s']);
  try {
    const open = async (who, autoPong) => {
      const session = await login(srv, who);
      const a = new Client(agentUrl(srv), 'kb-agent', { headers: { cookie: session.cookie, origin: srv.base }, autoPong });
      a.pings = 0;
      a.ws.on('ping', () => { a.pings++; });
      await a.type('hello', 10000);
      return a;
    };
    const alive = await open('marie', true);
    const mute = await open('paul', false);
    // Paul takes a conversation, then his network goes silent (no pong, no frame).
    const c = await waiting(srv, { prefix: 'v' });
    const id = await idOf(mute, c);
    mute.send({ type: 'take', conversation: id });
    await mute.type('conversation');
    assert.equal((await c.type('handoff')).name, 'Paul');
    const t0 = Date.now();
    const closed = await mute.waitClosed(8000);
    assert.equal(closed.code, 1006, 'dropped without a close frame');
    assert.ok(Date.now() - t0 >= 900, `after ${Date.now() - t0} ms`);
    assert.ok(mute.pings >= 1);
    // Gone for --chat-wait: the bot takes the conversation back, the customer reads who left.
    const left = await c.type('handoff', 10000);
    assert.deepEqual([left.state, left.name], ['left', 'Paul']);
    assert.ok(Date.now() - t0 >= 2900, `released after ${Date.now() - t0} ms`);
    const back = await c.say('v3', 'garantie constructeur');
    assert.match(back.reply.text, /garant/i);
    // Marie answered every ping: still connected, pinged again and again.
    assert.ok(alive.pings >= 2, `pings: ${alive.pings}`);
    assert.equal(alive.closed, null);
    alive.close();
    c.close();
  } finally {
    await srv.stop();
  }
});
