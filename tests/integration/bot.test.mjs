// tests/integration/bot.test.mjs: the shipped chatbot rules (content/bot/fr and content/bot/en)
// as a customer meets them, through `kb bot --utf8` in scripted mode (one reply line per
// input line). One conversation per test; assertions are about what the customer reads.
//
// `kb bot` registers the host functions (kb/chat/host.c) when it has a database (an import of
// the shipped content); it has no conversation, so case_open opens nothing and case_status
// answers unknown: cases are the chat's (tests/integration/chat.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CONTENT, kb, tempDir } from './lib.mjs';

let database;
/** A database of the shipped content, imported once. */
function db() {
  if (!database) {
    database = join(tempDir(), 'kb.db');
    const r = kb(['--db', database, 'import', CONTENT]);
    assert.equal(r.status, 0, r.stderr);
  }
  return database;
}

/** Plays a conversation (array of customer lines) against one language's rules; with
 * withKb, the rules can search the knowledge base. */
function chat(lang, lines, withKb = false) {
  const r = kb(['--db', withKb ? db() : '/nonexistent/kb.db', 'bot', '--rules',
    join(CONTENT, 'bot', lang), '--utf8'], { input: lines.join('\n') + '\n' });
  assert.equal(r.status, 0, r.stderr);
  const replies = r.stdout.split('\n');
  assert.equal(replies.pop(), '', 'output ends with a newline');
  assert.equal(replies.length, lines.length, `one reply per line:\n${r.stdout}`);
  for (const [i, rep] of replies.entries())
    assert.doesNotMatch(rep, /ERR: No Reply|ERR: Deep Recursion|^$/, `reply to "${lines[i]}"`);
  return replies;
}

const ESCALATE_FR = /Voulez-vous que je transmette votre demande à un conseiller \?$/;
const ESCALATE_EN = /Shall I pass your request on to an adviser\?$/;

test('the rules check clean', () => {
  const r = kb(['check', CONTENT]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /bot rules have errors/);
});

test('fr: greeting, hours, thanks, goodbye', () => {
  const [hello, hours, sunday, thanks, bye] = chat('fr', [
    'Bonjour', 'Quels sont vos horaires ?', 'Vous êtes ouverts le dimanche ?', 'merci', 'Au revoir']);
  assert.match(hello, /Alma/);
  assert.match(hello, /Aurore Automobiles/);
  assert.match(hours, /09 70 80 90 00/);
  assert.match(hours, /du lundi au vendredi de 8 h à 19 h et le samedi de 9 h à 17 h/);
  assert.match(hours, /du lundi au samedi de 8 h à 20 h/);
  assert.match(sunday, /dimanche .* fermés/);
  assert.match(sunday, /09 70 80 90 10/);
  assert.match(thanks, /plaisir|je vous en prie/i);
  assert.match(bye, /bonne route/i);
});

test('fr: with or without accents, capitals and apostrophes', () => {
  const r = chat('fr', [
    'Où est mon véhicule ?', 'OU EST MON VEHICULE', 'ou est ma voiture',
    'Je suis tombé en panne', 'je suis tombe en panne', 'à quelle heure puis-je vous appeler',
    'a quelle heure appeler', 'Réclamation', 'reclamation']);
  assert.match(r[0], /espace client/);
  assert.equal(r[1], r[0]);
  assert.equal(r[2], r[0]);
  assert.match(r[3], /09 70 80 90 10/);
  assert.equal(r[4], r[3]);
  assert.match(r[5], /du lundi au vendredi de 8 h à 19 h/);
  assert.equal(r[6], r[5]);
  assert.match(r[7], /15 jours ouvrés/);
  assert.equal(r[8], r[7]);
  // elisions with the straight and the typographic apostrophe (each opens the booking flow)
  for (const line of ["Je veux faire l'entretien", 'je veux faire l’entretien', 'JE VEUX FAIRE L’ENTRETIEN'])
    assert.match(chat('fr', [line])[0], /modèle de votre véhicule/, line);
});

test('fr: test drive flow asks the model and the city and remembers them', () => {
  const r = chat('fr', [
    'Bonjour, je voudrais essayer une voiture', 'la Horizon', 'à Saint-Malo',
    'je voudrais faire un autre essai', 'oui', 'je veux prendre rendez-vous pour la révision',
    'une Clio']);
  assert.match(r[0], /Quel modèle souhaitez-vous essayer/);
  assert.match(r[1], /Aurore Horizon.*Dans quelle ville/);
  assert.match(r[2], /essai du modèle Aurore Horizon, près de Saint-malo/i);
  assert.match(r[2], /permis/);
  assert.match(r[3], /toujours essayer le modèle Aurore Horizon/);
  assert.match(r[4], /près de Saint-malo/i, 'the city is not asked again');
  assert.match(r[5], /Quel est le modèle de votre véhicule/);
  assert.match(r[6], /votre Clio près de Saint-malo/i, 'the city carries over to the workshop');
  assert.match(r[6], /09 70 80 90 00/);
});

test('fr: electric test drive mentions the weekend; cancel leaves the flow', () => {
  const r = chat('fr', ['je voudrais tester l’Électra', 'Lyon', 'essai', 'annuler', 'horaires']);
  assert.match(r[0], /Aurore Électra.*Dans quelle ville/);
  assert.match(r[1], /week-end complet/);
  assert.match(r[1], /près de Lyon/);
  assert.match(r[3], /on laisse l'essai de côté/);
  assert.match(r[4], /09 70 80 90 00/, 'back in the normal topic after cancelling');
});

test('fr: maintenance booking flow, then a bare "rendez-vous" asks which kind', () => {
  const r = chat('fr', [
    'je voudrais prendre rendez-vous', 'pour l’entretien', "c'est une Electra", 'Bordeaux',
    'tous les combien faire la révision ?']);
  assert.match(r[0], /entretien .* ou pour un essai/);
  assert.match(r[1], /Quel est le modèle de votre véhicule/);
  assert.match(r[2], /Aurore Électra.*Dans quelle ville/);
  assert.match(r[3], /votre Aurore Électra près de Bordeaux/);
  assert.match(r[3], /24 heures avant/);
  assert.match(r[4], /20 000 km/);
});

test('fr: recall guidance with follow-up questions', () => {
  const r = chat('fr', ["J'ai reçu une lettre de rappel", 'oui', 'oui']);
  assert.match(r[0], /toujours gratuite/);
  assert.match(r[0], /Avez-vous reçu un courrier de rappel \?$/);
  assert.match(r[1], /ne plus utiliser le véhicule/);
  assert.match(r[2], /09 70 80 90 10/);
  const s = chat('fr', ['campagne de rappel', 'oui', 'non', 'oui', 'Horizon', 'Nantes']);
  assert.match(s[2], /code de campagne/);
  assert.match(s[3], /modèle de votre véhicule/);
  assert.match(s[5], /votre Aurore Horizon près de Nantes/);
});

test('fr: warranty, extension and complaint answers agree with the articles', () => {
  const r = chat('fr', ['Que couvre la garantie ?', 'Puis-je prolonger la garantie ?',
    'Je veux faire une réclamation', 'non']);
  assert.match(r[0], /3 ans ou 100 000 km/);
  assert.match(r[1], /7 ans et 150 000 km/);
  assert.match(r[2], /12 rue des Ateliers, 69007 Lyon/);
  assert.match(r[2], ESCALATE_FR);
  assert.match(r[3], /reformuler|09 70 80 90 00/);
});

test('fr: escalation asks for the subject, then opens a case', () => {
  const r = chat('fr', ['je veux parler à un conseiller', 'oui', 'Ma facture est fausse']);
  assert.match(r[0], ESCALATE_FR);
  assert.match(r[1], /objet de votre demande/);
  assert.match(r[2], /^C'est fait : votre demande est transmise à un conseiller sous la référence/);
  assert.match(r[2], /48 heures ouvrées/);
});

test('fr: kb bot has no conversation: case_open opens nothing and gives no reference', () => {
  const r = chat('fr', ['je veux parler à un conseiller', 'oui', 'Ma facture est fausse']);
  assert.doesNotMatch(r[2], /KB-\d{4}-\d{6}|ERR:/);
});

test('fr: unknown questions go to the knowledge base, then escalation', () => {
  const r = chat('fr', ['Comment activer les services connectés ?', 'oui']);
  assert.match(r[0], ESCALATE_FR);
  assert.match(r[1], /^C'est fait : votre demande est transmise/, '"oui" after the offer opens a case');
  const n = chat('fr', ['Comment activer les services connectés ?', 'non']);
  assert.match(n[1], /reformuler/);
});

test('fr: the fallback answers from the knowledge base, then offers a hand-over', () => {
  const r = chat('fr', ['Comment activer les services connectés ?', 'non'], true);
  assert.doesNotMatch(r[0], /<call>/);
  assert.doesNotMatch(r[0], /\[ERR: Object Not Found\]/, 'kb bot registers kb_search');
  assert.match(r[0], /^Comment activer les services connectés .* — .*\(\/a\/application-connectee\)/);
  assert.match(r[0], ESCALATE_FR);
  assert.match(r[1], /Ravie d'avoir pu vous aider/, 'kb_found=yes: "non" closes politely');
});

test('en: the fallback answers from the knowledge base in English', () => {
  const r = chat('en', ['can I schedule charging of my electric car remotely'], true);
  assert.match(r[0], /\(\/a\/remote-charging\)/);
  assert.match(r[0], ESCALATE_EN);
});

test('fr: case status by reference', () => {
  const r = chat('fr', ['Où en est mon dossier ?', 'je ne l’ai pas', 'où en est mon dossier KB-2026-000042 ?']);
  assert.match(r[0], /référence de votre dossier/);
  assert.match(r[1], /KB-2026-000042/);
  assert.doesNotMatch(r[2], /référence de votre dossier/);
});

test('fr: case status calls case_status with the reference (unknown without a conversation)', () => {
  const r = chat('fr', ['où en est mon dossier kb-2026-000042']);
  assert.equal(r[0], 'unknown');
});

test('en: greeting, hours, breakdown, thanks, goodbye', () => {
  const [hello, hours, breakdown, thanks, bye] = chat('en', [
    'Hello', "What're your opening hours?", "My car won't start", 'thanks', 'bye']);
  assert.match(hello, /Alma/);
  assert.match(hours, /0800 000 4242/);
  assert.match(hours, /Monday to Friday 8am–7pm and Saturday 9am–5pm/);
  assert.match(breakdown, /0800 000 4343/);
  assert.match(thanks, /welcome|pleasure/);
  assert.match(bye, /driving/);
});

test('en: test drive and service booking remember the model and the town', () => {
  const r = chat('en', ["I'd like a test drive", 'the Horizon', 'near Leeds',
    'I need to book a service', 'it is a Electra']);
  assert.match(r[0], /Which model would you like to try/);
  assert.match(r[1], /Aurore Horizon.*Which town/);
  assert.match(r[2], /test drive in the Aurore Horizon near Leeds/);
  assert.match(r[2], /one working day/);
  assert.match(r[3], /What model is your car/);
  assert.match(r[4], /your Aurore Electra near Leeds/);
});

test('en: recall, warranty, complaint, escalation', () => {
  const r = chat('en', ['I got a recall letter', 'yes', 'no',
    "What's the warranty?", 'I want to make a complaint', 'yes', 'the paint is peeling']);
  assert.match(r[0], /Have you received a recall letter\?$/);
  assert.match(r[1], /not to drive the vehicle/);
  assert.match(r[2], /campaign code/);
  assert.match(r[3], /3 years or 60,000 miles/);
  assert.match(r[4], /Coventry CV1 2AB/);
  assert.match(r[4], ESCALATE_EN);
  assert.match(r[5], /what is your request about/);
  assert.match(r[6], /^Done: your request has been passed to an adviser/);
});

test('en: unknown questions go to the knowledge base, then escalation', () => {
  const r = chat('en', ['How do I pair the app?', 'no']);
  assert.match(r[0], ESCALATE_EN);
  assert.match(r[1], /rephrase/);
});

test('language switch replies in the other language', () => {
  assert.match(chat('fr', ['Do you speak English?'])[0], /continue in English/);
  assert.match(chat('en', ['Parlez-vous français ?'])[0], /continuons en français/);
});

// Engine behaviour the rules rely on.
test('fr: substitutions apply before punctuation glued to the word', () => {
    assert.match(chat('fr', ['je veux faire l’entretien?'])[0], /modèle de votre véhicule/);
  });

test('fr: <formal> capitalises accented initials in --utf8 mode', () => {
    assert.match(chat('fr', ['essai horizon', 'Évry'])[1], /près de Évry/);
  });
