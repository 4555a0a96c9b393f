// tests/integration/chat-rules.test.mjs: the shipped chatbot rules (content/bot/fr and
// content/bot/en) in the live chat: the real server (kb serve) over the shipped content, driven
// through its websocket (protocol: kb/chat/frames.c) as a customer's widget would.
//
// Whole conversations, in French and in English: a question answered from the knowledge base
// (article cards, Oui/Non quick replies), "no" leading to the hand-over (the consent question
// in a message of its own, the name, an email or a phone number, a one-sentence description),
// a real case (the case frame, the same reference in the reply), its status asked by reference,
// and a reference that is not this conversation's. The cases are then read back with
// `kb case show REF --json`. Assertions are about what the customer sees and what the case holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { kb, startServer } from './lib.mjs';

const CONSENT_FR = "Pour transmettre votre demande à un conseiller, j'enregistre votre nom, vos " +
  "coordonnées et notre conversation. Êtes-vous d'accord ?";
const CONSENT_EN = 'To pass your request on to an adviser, I record your name, your contact ' +
  'details and our conversation. Do you agree?';
const REF = /KB-\d{4}-\d{6}/;

let server;
before(async () => { server = await startServer(); });
after(async () => { if (server) assert.equal(await server.stop(), 0, server.stderr); });

/** A customer's widget: one websocket, one conversation. Frames are read strictly in order, so
 * an unexpected frame (a case frame nobody expected, an error) fails the next expectation. */
class Customer {
  static async connect(lang) {
    const c = new Customer();
    c.ws = new WebSocket(server.chatUrl);
    c.frames = [];
    c.waiting = null;
    c.ws.on('message', (data) => {
      c.frames.push(JSON.parse(data.toString()));
      if (c.waiting) { const w = c.waiting; c.waiting = null; w(); }
    });
    await new Promise((resolve, reject) => { c.ws.once('open', resolve); c.ws.once('error', reject); });
    c.ws.send(JSON.stringify({ type: 'start', lang }));
    const started = await c.next();
    assert.equal(started.type, 'started', JSON.stringify(started));
    c.n = 0;
    return c;
  }

  /** The next frame from the server (10 s at most). */
  async next() {
    const deadline = Date.now() + 10000;
    while (!this.frames.length) {
      const left = deadline - Date.now();
      assert.ok(left > 0, 'no frame from the server within 10 s');
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => { clearTimeout(t); resolve(); };
      });
    }
    return this.frames.shift();
  }

  /** Sends a message; resolves to the bot's reply frame (and the case frame when one is
   * expected, which must follow the reply). */
  async say(text, { expectCase = false } = {}) {
    const id = `m-${++this.n}`;
    this.ws.send(JSON.stringify({ type: 'message', id, text }));
    const ack = await this.next();
    assert.deepEqual([ack.type, ack.id], ['ack', id], `ack of "${text}": ${JSON.stringify(ack)}`);
    const reply = await this.next();
    assert.equal(reply.type, 'reply', `reply to "${text}": ${JSON.stringify(reply)}`);
    assert.equal(reply.seq, ack.seq + 1);
    assert.ok(Array.isArray(reply.quick_replies) && Array.isArray(reply.articles));
    assert.doesNotMatch(reply.text, /ERR:|<call>|undefined/, `reply to "${text}"`);
    if (!expectCase) return reply;
    const kase = await this.next();
    assert.equal(kase.type, 'case', `case frame after "${text}": ${JSON.stringify(kase)}`);
    return { reply, kase };
  }

  close() {
    this.ws.send(JSON.stringify({ type: 'end' }));
    this.ws.close();
  }
}

/** The references of every case, as `kb case list --json` prints them. */
function caseRefs() {
  const r = kb(['--db', server.db, 'case', 'list', '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).cases.map((k) => k.ref).sort();
}

/** The case as `kb case show REF --json` prints it. The option goes before REF: `case show`
 * parses its options with getopt's "+" (stop at the first operand), so `show REF --json`, the
 * order its usage line gives, is refused with "takes one reference". */
function caseShow(ref) {
  const r = kb(['--db', server.db, 'case', 'show', '--json', ref]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

let refFr, refEn;

test('fr: knowledge-base answer, "non", consent, name, contact, description, a real case', async () => {
  const c = await Customer.connect('fr');

  const answer = await c.say('Comment activer les services connectés ?');
  assert.match(answer.text, /^Comment activer les services connectés .* — .*\(\/a\/application-connectee\)\nCela répond-il à votre question \?$/s);
  assert.deepEqual(answer.quick_replies, ['Oui', 'Non']);
  assert.ok(answer.articles.length >= 1 && answer.articles.length <= 3, JSON.stringify(answer.articles));
  assert.equal(answer.articles[0].slug, 'application-connectee');
  assert.equal(answer.articles[0].url, '/a/application-connectee');
  for (const a of answer.articles) {
    assert.ok(a.title && a.summary, JSON.stringify(a));
  }

  const consent = await c.say('Non');
  assert.equal(consent.text, CONSENT_FR, 'the consent question is a message of its own');
  assert.deepEqual(consent.quick_replies, ['Oui', 'Non']);
  assert.deepEqual(consent.articles, []);

  assert.equal((await c.say('Oui')).text, 'Merci. Quel est votre nom ?');

  const askContact = await c.say('Jean Dupont');
  assert.match(askContact.text, /^Merci Jean Dupont\. .*adresse e-mail ou votre numéro de téléphone\.$/);

  const invalid = await c.say("c'est jean.dupont chez example");
  assert.match(invalid.text, /ni une adresse e-mail ni un numéro de téléphone/);
  assert.match(invalid.text, /jean\.dupont@exemple\.fr ou 06 12 34 56 78/, 'a helpful example');
  assert.match(invalid.text, /annuler/);

  const subject = await c.say('Mon adresse : jean.dupont@example.fr');
  assert.match(subject.text, /^C'est noté : jean\.dupont@example\.fr\. En une phrase, quel est l'objet de votre demande \?/);

  const { reply, kase } = await c.say('Ma facture est fausse', { expectCase: true });
  assert.match(kase.ref, new RegExp(`^${REF.source}$`));
  assert.equal(kase.seq, reply.seq + 1, 'the seq of the system message "Dossier … ouvert."');
  assert.match(reply.text, /^C'est fait : votre demande est transmise à un conseiller sous la référence (KB-\d{4}-\d{6})\./);
  assert.equal(reply.text.match(REF)[0], kase.ref, 'the reply gives the reference of the case frame');
  assert.match(reply.text, /48 heures ouvrées/);
  refFr = kase.ref;

  const status = await c.say(`Où en est mon dossier ${refFr} ?`);
  assert.equal(status.text, `Votre dossier ${refFr} est actuellement : nouveau (pas encore pris en charge).`);

  // a well-formed reference that no case has
  const none = await c.say('et le dossier KB-2001-000001 ?');
  assert.equal(none.text, 'Je ne trouve pas le dossier KB-2001-000001 dans cette conversation ; un ' +
    'conseiller peut le retrouver au 09 70 80 90 00, du lundi au vendredi de 8 h à 19 h et le ' +
    'samedi de 9 h à 17 h.');
  c.close();

  const stored = caseShow(refFr);
  assert.equal(stored.ref, refFr);
  assert.equal(stored.status, 'new');
  assert.equal(stored.lang, 'fr');
  assert.equal(stored.subject, 'Ma facture est fausse');
  assert.deepEqual(stored.contact, { name: 'Jean Dupont', email: 'jean.dupont@example.fr', phone: null });
  assert.equal(stored.consent.text, CONSENT_FR, 'the consent recorded is the exact question answered');
  assert.match(stored.consent.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const said = stored.transcript.map((m) => `${m.from}: ${m.text}`);
  for (const line of ['customer: Comment activer les services connectés ?', 'customer: Non',
    `bot: ${CONSENT_FR}`, 'customer: Oui', 'customer: Jean Dupont',
    'customer: Mon adresse : jean.dupont@example.fr', 'customer: Ma facture est fausse'])
    assert.ok(said.includes(line), `the transcript holds "${line}":\n${said.join('\n')}`);
  assert.ok(stored.articles.some((a) => a.slug === 'application-connectee'), 'articles shown');
});

test('en: knowledge-base answer, "no", consent, a phone number, a real case', async () => {
  const c = await Customer.connect('en');

  const answer = await c.say('Can I schedule charging of my electric car remotely?');
  assert.match(answer.text, /\(\/a\/remote-charging\)\nDid that answer your question\?$/);
  assert.deepEqual(answer.quick_replies, ['Yes', 'No']);
  assert.equal(answer.articles[0].slug, 'remote-charging');

  const consent = await c.say('No');
  assert.equal(consent.text, CONSENT_EN);
  assert.deepEqual(consent.quick_replies, ['Yes', 'No']);

  assert.equal((await c.say('Yes')).text, 'Thank you. What is your name?');
  assert.match((await c.say('My name is Jane Smith')).text,
    /^Thank you, Jane Smith\. How can an adviser get back to you\?/);
  const noted = await c.say('Call me on +44 7700 900123 please');
  assert.match(noted.text, /^Noted: \+44 7700 900123\. In one sentence, what is your request about\?/);

  const { reply, kase } = await c.say('The scheduled charging does not start at midnight', { expectCase: true });
  assert.match(kase.ref, new RegExp(`^${REF.source}$`));
  assert.notEqual(kase.ref, refFr);
  assert.equal(reply.text.match(REF)?.[0], kase.ref);
  assert.match(reply.text, /^Done: your request has been passed to an adviser under reference KB-/);
  refEn = kase.ref;

  const status = await c.say(`where is my case ${refEn.toLowerCase()}?`);
  assert.equal(status.text, `Your case ${refEn} is currently: new (not yet picked up).`);

  // the French customer's case is not this conversation's: no status, an honest answer
  assert.ok(refFr, 'the French conversation ran first');
  const other = await c.say(`And what about ${refFr}?`);
  assert.equal(other.text, `I can't find case ${refFr} in this conversation; an adviser can look ` +
    'it up on 0800 000 4242, Monday to Friday 8am–7pm and Saturday 9am–5pm.');
  assert.doesNotMatch(other.text, /new|being handled/);
  c.close();

  const stored = caseShow(refEn);
  assert.equal(stored.lang, 'en');
  assert.equal(stored.subject, 'The scheduled charging does not start at midnight');
  assert.deepEqual(stored.contact, { name: 'Jane Smith', email: null, phone: '+44 7700 900123' });
  assert.equal(stored.consent.text, CONSENT_EN);
  const said = stored.transcript.map((m) => `${m.from}: ${m.text}`);
  assert.ok(said.includes(`bot: ${CONSENT_EN}`) && said.includes('customer: Call me on +44 7700 900123 please'),
    said.join('\n'));
});

test('fr: nothing found: said so, then a person is offered; declining records nothing', async () => {
  const c = await Customer.connect('fr');
  const none = await c.say('xyzzy');
  assert.match(none.text, /^Je n'ai pas trouvé de réponse .* Voulez-vous que je transmette votre demande à un conseiller \?$/);
  assert.deepEqual(none.articles, []);
  assert.deepEqual(none.quick_replies, ['Oui', 'Non']);
  const consent = await c.say('Oui');
  assert.equal(consent.text, CONSENT_FR);
  const declined = await c.say('Non');
  assert.match(declined.text, /je n'enregistre rien .*09 70 80 90 00/);
  assert.deepEqual(declined.quick_replies, []);
  // back to normal answers, and no case was opened
  assert.match((await c.say('Quels sont vos horaires ?')).text, /09 70 80 90 00/);
  c.close();
  assert.deepEqual(caseRefs(), [refFr, refEn].sort(), 'only the cases of the conversations above');
});

test('en: cancelling in the middle of the hand-over opens no case', async () => {
  const c = await Customer.connect('en');
  assert.equal((await c.say('I want to speak to a human')).text, CONSENT_EN);
  assert.equal((await c.say('yes')).text, 'Thank you. What is your name?');
  assert.match((await c.say('Sam')).text, /email address or your phone number/);
  const invalid = await c.say('not telling you');
  assert.match(invalid.text, /can't find an email address or a phone number/);
  const cancelled = await c.say('cancel');
  assert.match(cancelled.text, /^All right, I've cancelled it: nothing is passed on\./);
  // the flow is over: "yes" is not taken as a description
  assert.match((await c.say('yes')).text, /How can I help you/);
  c.close();
  assert.deepEqual(caseRefs(), [refFr, refEn].sort());
});
