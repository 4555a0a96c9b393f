// tests/integration/bot.test.mjs: the shipped chatbot rules (content/bot/fr and content/bot/en)
// as a customer meets them, through `kb bot --utf8` in scripted mode (one reply line per
// input line, newlines of a reply become spaces). One conversation per call; assertions are
// about what the customer reads.
//
// `kb bot` registers the host functions (kb/chat/host.c) over a database of the shipped
// content, so the rules search the knowledge base; it has no conversation, so case_open opens
// nothing (the rules must then say so honestly) and case_status answers unknown. The cases
// themselves are the live chat's (tests/integration/chat-rules.test.mjs). Quick replies are
// not part of the text and are not seen here.
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

/** Plays a conversation (array of customer lines) against one language's rules. */
function chat(lang, lines) {
  const r = kb(['--db', db(), 'bot', '--rules', join(CONTENT, 'bot', lang), '--utf8'],
    { input: lines.join('\n') + '\n' });
  assert.equal(r.status, 0, r.stderr);
  const replies = r.stdout.split('\n');
  assert.equal(replies.pop(), '', 'output ends with a newline');
  assert.equal(replies.length, lines.length, `one reply per line:\n${r.stdout}`);
  for (const [i, rep] of replies.entries())
    assert.doesNotMatch(rep, /ERR:|^$|<call>|\bundefined\b|\{@|\{topic/, `reply to "${lines[i]}"`);
  return replies;
}

const ESCALATE_FR = /Voulez-vous que je transmette votre demande à un conseiller \?$/;
const ESCALATE_EN = /Shall I pass your request on to an adviser\?$/;
const CONSENT_FR = "Pour transmettre votre demande à un conseiller, j'enregistre votre nom, vos " +
  "coordonnées et notre conversation. Êtes-vous d'accord ?";
const CONSENT_EN = 'To pass your request on to an adviser, I record your name, your contact ' +
  'details and our conversation. Do you agree?';
const NO_CASE_FR = /^Je suis désolée : je n'ai pas pu enregistrer votre demande, aucun dossier n'a été ouvert\. Un conseiller peut vous aider au 09 70 80 90 00/;
const NO_CASE_EN = /^I'm sorry: I couldn't record your request, and no case has been opened\. An adviser can help you on 0800 000 4242/;
const REF = /KB-\d{4}-\d{6}/;

test('the rules check clean, without warnings', () => {
  const r = kb(['check', CONTENT]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /bot rules have errors/);
  assert.doesNotMatch(r.stderr, /\.rive:\d+: (error|warning)/);
});

// ---- French -----------------------------------------------------------------------------

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
    'tous les combien faire la révision ?', "je dois annuler mon rendez-vous d'entretien"]);
  assert.match(r[0], /entretien .* ou pour un essai/);
  assert.match(r[1], /Quel est le modèle de votre véhicule/);
  assert.match(r[2], /Aurore Électra.*Dans quelle ville/);
  assert.match(r[3], /votre Aurore Électra près de Bordeaux/);
  assert.match(r[3], /24 heures avant/);
  assert.match(r[4], /20 000 km/);
  assert.match(r[5], /^Vous pouvez déplacer ou annuler votre rendez-vous/, 'cancelling a booking is no new booking');
  const day = chat('fr', ["je voudrais un rendez-vous d'entretien samedi", 'annuler', 'horaires']);
  assert.match(day[0], /Je vous guide pour ce rendez-vous d'entretien/, 'a day named does not win over the booking');
  assert.match(day[1], /on laisse le rendez-vous de côté/);
  assert.match(day[2], /appel non surtaxé/);
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
    'Je veux faire une réclamation', 'non', 'Ma voiture est-elle encore sous garantie ?',
    "Garantie d'une voiture d'occasion ?", 'Je veux saisir le médiateur']);
  assert.match(r[0], /3 ans ou 100 000 km/);
  assert.match(r[1], /7 ans et 150 000 km/);
  assert.match(r[2], /12 rue des Ateliers, 69007 Lyon/);
  assert.match(r[2], ESCALATE_FR);
  assert.match(r[3], /^D'accord\. Si besoin, un conseiller vous répond au 09 70 80 90 00/);
  assert.match(r[4], /le premier atteint/);
  assert.match(r[5], /Aurore Certifié/);
  assert.match(r[6], /Médiateur de l'automobile/);
});

test('fr: an unhappy customer is offered a person, "oui" leads to consent', () => {
  const r = chat('fr', ['Je suis très mécontent du garage', 'oui']);
  assert.match(r[0], /mécontentement/);
  assert.match(r[0], ESCALATE_FR);
  assert.equal(r[1], CONSENT_FR);
});

// The trigger order follows the Working Draft ([*] is no word when sorting): weights keep
// the most specific answer first.
test('fr: the most specific answer wins', () => {
  const [delay, finance, refused, byMail, assistance] = chat('fr', [
    'quel délai pour une réponse à ma réclamation', 'numéro pour mon crédit, mes mensualités',
    'ma garantie a été refusée après la lettre de rappel', 'je veux parler à un conseiller par mail',
    'je suis en panne, ma garantie a été refusée']);
  assert.equal(delay, 'Vous recevez un numéro de dossier sous 48 heures, puis une réponse ' +
    'complète sous 15 jours ouvrés au plus tard.');
  assert.match(finance, /^Pour votre contrat de financement, Aurore Finance répond au 09 70 80 90 20/);
  assert.match(refused, /^En cas de refus de prise en charge/);
  assert.match(refused, ESCALATE_FR);
  assert.equal(byMail, CONSENT_FR);
  assert.match(assistance, /^Appelez l'assistance Aurore au 09 70 80 90 10/, 'a breakdown comes first');
  const [mail, address, letter, csHours] = chat('fr', ['quelle est votre adresse mail',
    'quelle est votre adresse postale', "j'ai reçu une lettre pour un rappel",
    'je veux les horaires du service client']);
  assert.match(mail, /formulaire de votre espace client/);
  assert.match(address, /12 rue des Ateliers/);
  assert.match(letter, /campagne de rappel/);
  assert.match(csHours, /^Le service client vous répond par téléphone/, 'hours named: no request for a person');
  const [refund, financeFirst] = chat('fr', ['je veux être remboursé des frais de dépannage',
    "quel est le numéro d'Aurore Finance ?"]);
  assert.match(refund, /^Chaque dossier est étudié au cas par cas/, 'money asked after a breakdown, not the number');
  assert.match(financeFirst, /09 70 80 90 20/);
});

test('fr: escalation asks consent alone, then name, contact and subject, and says honestly that no case was opened', () => {
  const r = chat('fr', ['je veux parler à un conseiller', 'oui', 'Je m’appelle Jean Dupont',
    "c'est jean.dupont chez example", "je n'ai pas d'email", '06 12 34 56 78', 'Ma facture est fausse']);
  assert.equal(r[0], CONSENT_FR, 'the consent question is a message of its own');
  assert.equal(r[1], 'Merci. Quel est votre nom ?');
  assert.match(r[2], /^Merci Jean Dupont\. Comment un conseiller peut-il vous recontacter \?/);
  assert.match(r[3], /ni une adresse e-mail ni un numéro de téléphone/);
  assert.match(r[3], /jean\.dupont@exemple\.fr ou 06 12 34 56 78/);
  assert.match(r[4], /L'un ou l'autre suffit/);
  assert.match(r[5], /^C'est noté : 06 12 34 56 78\. En une phrase, quel est l'objet de votre demande \?/);
  // kb bot has no conversation: case_open returns "" and sets case_error
  assert.match(r[6], NO_CASE_FR);
  assert.doesNotMatch(r[6], REF);
  assert.doesNotMatch(r[6], /C'est fait|transmise/);
  // the flow is over: the next message is a normal one
  assert.match(chat('fr', ['je veux parler à un conseiller', 'oui', 'Jean', '0612345678', 'facture', 'horaires'])[5],
    /09 70 80 90 00 \(appel non surtaxé\)/);
});

test('fr: "bonjour" before a request for a person keeps the consent question alone', () => {
  assert.equal(chat('fr', ["Bonjour, je voudrais parler à quelqu'un"])[0], CONSENT_FR);
  assert.equal(chat('fr', ['conseiller'])[0], CONSENT_FR);
  assert.equal(chat('fr', ['Un conseiller peut-il me rappeler ?'])[0], CONSENT_FR);
  // how to reach one: the number, then an offer
  const r = chat('fr', ['comment joindre un conseiller ?', 'oui']);
  assert.match(r[0], /09 70 80 90 00/);
  assert.match(r[0], ESCALATE_FR);
  assert.equal(r[1], CONSENT_FR);
});

test('fr: declining consent or cancelling at any step records nothing', () => {
  const no = chat('fr', ['je veux parler à un conseiller', 'non', 'horaires']);
  assert.match(no[1], /^D'accord, je n'enregistre rien et je ne transmets rien\. .*09 70 80 90 00/);
  assert.match(no[2], /appel non surtaxé/, 'back to normal answers');
  const cancelled = /^D'accord, j'annule : aucune demande n'est transmise\./;
  const steps = ['je veux parler à un conseiller', 'oui', 'Jean Dupont', '06 12 34 56 78'];
  for (let at = 1; at <= steps.length; at++) {
    const r = chat('fr', [...steps.slice(0, at), 'annuler', 'oui']);
    assert.match(r[at], cancelled, `annuler after "${steps[at - 1]}"`);
    assert.match(r[at + 1], /Que puis-je faire pour vous/, '"oui" is no longer an answer to the flow');
  }
  // a question instead of an answer to the consent question leaves the flow
  assert.match(chat('fr', ['je veux parler à un conseiller', 'quels sont vos horaires ?'])[1], /appel non surtaxé/);
});

test('fr: the fallback answers from the knowledge base and asks whether it helped', () => {
  const r = chat('fr', ['Comment activer les services connectés ?', 'oui']);
  assert.match(r[0], /^Comment activer les services connectés .* — .*\(\/a\/application-connectee\) Cela répond-il à votre question \?$/);
  assert.match(r[1], /^Parfait, ravie d'avoir pu vous aider/);
  const n = chat('fr', ['Comment activer les services connectés ?', 'non', 'oui', 'Jean', 'jean@example.fr']);
  assert.equal(n[1], CONSENT_FR, '"non": a person is offered, starting with consent');
  assert.equal(n[2], 'Merci. Quel est votre nom ?');
  // another question instead of oui/non is answered normally
  assert.match(chat('fr', ['Comment activer les services connectés ?', 'vos horaires ?'])[1], /appel non surtaxé/);
});

test('fr: nothing found in the knowledge base: said so, and a person is offered', () => {
  const r = chat('fr', ['xyzzy', 'oui']);
  assert.match(r[0], /^Je n'ai pas trouvé de réponse à cette question dans notre centre d'aide\./);
  assert.match(r[0], ESCALATE_FR);
  assert.equal(r[1], CONSENT_FR);
  assert.match(chat('fr', ['xyzzy', 'non'])[1], /^D'accord\. Si besoin, un conseiller vous répond au 09 70 80 90 00/);
});

test('fr: case status by reference, honest when the case is unknown', () => {
  const r = chat('fr', ['Où en est mon dossier ?', 'je ne l’ai pas', 'où en est mon dossier KB-2026-000042 ?',
    'kb-2026-000042']);
  assert.match(r[0], /référence de votre dossier/);
  assert.match(r[1], /KB-2026-000042/);
  // kb bot has no conversation: case_status answers unknown
  assert.equal(r[2], 'Je ne trouve pas le dossier KB-2026-000042 dans cette conversation ; un ' +
    'conseiller peut le retrouver au 09 70 80 90 00, du lundi au vendredi de 8 h à 19 h et le ' +
    'samedi de 9 h à 17 h.');
  assert.equal(r[3], r[2]);
});

// ---- English ----------------------------------------------------------------------------

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
    'I need to book a service', 'it is a Electra', 'I need to cancel my service booking']);
  assert.match(r[0], /Which model would you like to try/);
  assert.match(r[1], /Aurore Horizon.*Which town/);
  assert.match(r[2], /test drive in the Aurore Horizon near Leeds/);
  assert.match(r[2], /one working day/);
  assert.match(r[3], /What model is your car/);
  assert.match(r[4], /your Aurore Electra near Leeds/);
  assert.match(r[5], /free of charge up to 24 hours before/);
});

test('en: recall, warranty, complaint', () => {
  const r = chat('en', ['I got a recall letter', 'yes', 'no',
    "What's the warranty?", 'I want to make a complaint', 'no', 'Can I extend the warranty?']);
  assert.match(r[0], /Have you received a recall letter\?$/);
  assert.match(r[1], /not to drive the vehicle/);
  assert.match(r[2], /campaign code/);
  assert.match(r[3], /3 years or 60,000 miles/);
  assert.match(r[4], /Coventry CV1 2AB/);
  assert.match(r[4], ESCALATE_EN);
  assert.match(r[5], /^All right\. If you need one, an adviser answers on 0800 000 4242/);
  assert.match(r[6], /Serenity/);
});

test('en: the most specific answer wins', () => {
  const [refused, byEmail, delay, finance, hoursCs] = chat('en', [
    'my warranty was refused after the recall letter', 'i want to speak to an adviser by email',
    'how long for an answer to my complaint', 'number for my loan payments',
    'customer service hours']);
  assert.match(refused, /^If a warranty claim is refused/);
  assert.match(refused, ESCALATE_EN);
  assert.equal(byEmail, CONSENT_EN);
  assert.equal(delay, 'You receive a case number within 48 hours, then a full answer within 15 ' +
    'working days at most.');
  assert.match(finance, /Aurore Finance is on 0800 000 4444/);
  assert.match(hoursCs, /^Customer service answers the phone on 0800 000 4242/, '"service" is no service booking here');
  const [hoursWanted, number] = chat('en', ['I want the customer service opening hours', 'customer service number']);
  assert.match(hoursWanted, /^Customer service answers the phone/, 'hours named: no request for a person');
  assert.match(number, /^You can call customer service on 0800 000 4242/);
  const [refund, financeFirst] = chat('en', ['I want a refund for the towing', "what's the Aurore Finance number?"]);
  assert.match(refund, /^Each case is assessed individually/, 'money asked after a breakdown, not the number');
  assert.match(financeFirst, /0800 000 4444/);
});

test('en: escalation asks consent alone, then name, contact and subject, and says honestly that no case was opened', () => {
  const r = chat('en', ['I want to speak to an adviser', 'yes', "My name's Jane Smith", 'not telling',
    '07700 900123', 'The paint is peeling']);
  assert.equal(r[0], CONSENT_EN);
  assert.equal(r[1], 'Thank you. What is your name?');
  assert.match(r[2], /^Thank you, Jane Smith\. How can an adviser get back to you\?/);
  assert.match(r[3], /can't find an email address or a phone number.*07700 900123/);
  assert.match(r[4], /^Noted: 07700 900123\. In one sentence, what is your request about\?/);
  assert.match(r[5], NO_CASE_EN);
  assert.doesNotMatch(r[5], REF);
  assert.doesNotMatch(r[5], /Done|passed to an adviser under/);
  const no = chat('en', ['can someone call me back?', 'no']);
  assert.equal(no[0], CONSENT_EN);
  assert.match(no[1], /^All right, I won't record or pass on anything\./);
  const cancel = chat('en', ['I want to speak to a human', 'yes', 'Jane', 'cancel']);
  assert.match(cancel[3], /^All right, I've cancelled it: nothing is passed on\./);
});

test('en: the fallback answers from the knowledge base and asks whether it helped', () => {
  const r = chat('en', ['can I schedule charging of my electric car remotely', 'no']);
  assert.match(r[0], /\(\/a\/remote-charging\) Did that answer your question\?$/);
  assert.equal(r[1], CONSENT_EN);
  assert.match(chat('en', ['can I schedule charging of my electric car remotely', 'yes'])[1], /^Great, glad I could help/);
  const none = chat('en', ['xyzzy', 'yes']);
  assert.match(none[0], /^I couldn't find an answer to that in our help centre\./);
  assert.match(none[0], ESCALATE_EN);
  assert.equal(none[1], CONSENT_EN);
});

test('en: case status by reference, honest when the case is unknown', () => {
  const r = chat('en', ['where is my case KB-2026-000042?', 'Where is my case?']);
  assert.equal(r[0], "I can't find case KB-2026-000042 in this conversation; an adviser can look " +
    'it up on 0800 000 4242, Monday to Friday 8am–7pm and Saturday 9am–5pm.');
  assert.match(r[1], /What is your case reference\?/);
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
