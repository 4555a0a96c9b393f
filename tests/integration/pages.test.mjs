// tests/integration/pages.test.mjs: the FAQ pages as a customer gets them without JavaScript:
// content, languages, forms, structured data, security headers, sitemap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, getText, q } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

function assertSecure(res) {
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
}

/** Inline scripts are forbidden except the JSON-LD data block. */
function assertNoInlineScript(html) {
  for (const m of html.matchAll(/<script\b([^>]*)>/g))
    assert.ok(/\bsrc=/.test(m[1]) || /application\/ld\+json/.test(m[1]), `inline script: ${m[0]}`);
}

test('home page in French: search form, topics, most viewed', async () => {
  const r = await getText(srv.base, '/?lang=fr');
  assert.equal(r.status, 200);
  assertSecure(r);
  assertNoInlineScript(r.text);
  // Nothing before the doctype (text there, such as a template comment that a tag inside it
  // closed early, puts browsers in quirks mode).
  assert.match(r.text, /^<!doctype html>\n<html lang="fr">/);
  assert.match(r.text, /<form class="search-form" action="\/search" method="get"/);
  assert.match(r.text, /name="q"/);
  assert.match(r.text, /Comment pouvons-nous vous aider \?/);
  assert.match(r.text, /href="\/c\/garantie\?lang=fr"/);
  assert.match(r.text, /Questions les plus consultées/);
  assert.doesNotMatch(r.text, /Procédures internes/);
});

test('home page in English', async () => {
  const r = await getText(srv.base, '/?lang=en');
  assert.match(r.text, /<html lang="en">/);
  assert.match(r.text, /How can we help you\?/);
  assert.match(r.text, /Most viewed questions/);
  assert.match(r.text, /href="\/c\/warranty\?lang=en"/);
});

test('article page: breadcrumbs, body, table, translation, related, feedback, JSON-LD', async () => {
  const r = await getText(srv.base, '/a/plan-entretien');
  assert.equal(r.status, 200);
  assertSecure(r);
  assertNoInlineScript(r.text);
  assert.match(r.text, /<nav class="breadcrumbs"[^>]*>.*Accueil.*Après-vente/s);
  assert.match(r.text, /<h1>À quelle fréquence faut-il faire l&#39;entretien de mon véhicule \?<\/h1>/);
  assert.match(r.text, /<table>/);
  assert.match(r.text, /href="\/a\/maintenance-schedule" hreflang="en"/);
  assert.match(r.text, /Articles liés/);
  assert.match(r.text, /Cet article vous a-t-il aidé \?/);
  assert.match(r.text, /<button type="submit" name="helpful" value="yes">Oui<\/button>/);
  const ld = r.text.match(/<script type="application\/ld\+json">(.*?)<\/script>/s);
  assert.ok(ld, 'JSON-LD present');
  const data = JSON.parse(ld[1]);
  assert.equal(data['@type'], 'FAQPage');
  assert.equal(data.mainEntity[0]['@type'], 'Question');
  assert.equal(data.mainEntity[0].name, "À quelle fréquence faut-il faire l'entretien de mon véhicule ?");
  assert.match(data.mainEntity[0].acceptedAnswer.text, /<table>/);
});

test('the page language follows the article', async () => {
  const r = await getText(srv.base, '/a/maintenance-schedule?lang=fr');
  assert.match(r.text, /<html lang="en">/);
  assert.match(r.text, /Was this article helpful\?/);
});

test('feedback form without JavaScript: 303 then thanks; a form without its token is refused', async () => {
  // The page sets the form's token in a cookie (double submit) and in the form.
  const page = await getText(srv.base, '/a/garantie-constructeur');
  const cookie = page.headers.get('set-cookie');
  assert.match(cookie, /^kb_csrf=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Strict$/);
  const token = page.text.match(/name="csrf" value="([0-9a-f]{32})"/)[1];
  assert.equal(cookie.slice(8, 40), token);
  const post = (body, headers = {}) => getText(srv.base, '/a/garantie-constructeur/feedback', {
    method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  // Another site's form has neither the cookie nor its value: refused.
  assert.equal((await post('helpful=no')).status, 403);
  assert.equal((await post(`helpful=no&csrf=${token}`)).status, 403);
  assert.equal((await post(`helpful=no&csrf=${'0'.repeat(32)}`, { cookie: `kb_csrf=${token}` })).status, 403);
  const r = await post(`helpful=no&csrf=${token}`, { cookie: `kb_csrf=${token}` });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), '/a/garantie-constructeur?thanks=1');
  const t = await getText(srv.base, '/a/garantie-constructeur?thanks=1');
  assert.match(t.text, /Merci pour votre avis !/);
  // The counts are the editors': no page or API shows them.
  const api = await fetch(srv.base + '/api/v1/articles/garantie-constructeur').then((x) => x.json());
  assert.equal(api.feedback, undefined);
});

test('search page: ranked results, highlighted snippets, facets, pagination', async () => {
  const r = await getText(srv.base, '/search?q=' + q('véhicule') + '&lang=fr');
  assert.equal(r.status, 200);
  assertSecure(r);
  assert.match(r.text, /Résultats pour « véhicule »/);
  assert.match(r.text, /<mark>véhicule<\/mark>/i);
  assert.match(r.text, /Filtrer par thème/);
  assert.match(r.text, /<a rel="next" href="\/search\?q=v%C3%A9hicule&amp;lang=fr&amp;page=2">/);
  assert.match(r.text, /<meta name="robots" content="noindex">/);
  const first = r.text.match(/<li class="result"><h3><a href="\/a\/([a-z0-9-]+)\?s=\d+\.[0-9a-f]{16}">/);
  assert.ok(first);
  const p2 = await getText(srv.base, '/search?q=' + q('véhicule') + '&lang=fr&page=2');
  assert.match(p2.text, /<a rel="prev"/);
  assert.match(p2.text, /<ol class="result-list" start="11">/);
});

test('search page: a corrected query says so, and searches the words as typed on request', async () => {
  // "garentie vehicule": the misspelt word is corrected beside a known one.
  const r = await getText(srv.base, '/search?q=' + q('garentie vehicule') + '&lang=fr');
  assert.equal(r.status, 200);
  assert.match(r.text, /<h1>Résultats pour « garantie vehicule »<\/h1>/);
  assert.match(r.text, new RegExp('<p class="corrected">Résultats pour <strong>garantie vehicule</strong>\u00a0; ' +
    'rechercher plutôt <a href="/search\\?q=garentie%20vehicule&amp;lang=fr&amp;verbatim=1">garentie vehicule</a></p>'));
  assert.doesNotMatch(r.text, /Vouliez-vous dire/, 'a corrected query is not asked about again');
  const firsts = [...r.text.matchAll(/<li class="result"><h3><a href="\/a\/([a-z0-9-]+)\?/g)].map((m) => m[1]);
  assert.ok(firsts.slice(0, 3).includes('garantie-constructeur'), firsts.join(' '));
  // Facets keep the query as typed (corrected again), without verbatim.
  assert.match(r.text, /href="\/search\?q=garentie%20vehicule&amp;lang=fr&amp;category=Garantie"/);

  // The link: the words as typed, verbatim; the heading says so, nothing is found, and the
  // spelling is offered.
  const v = await getText(srv.base, '/search?q=' + q('garentie vehicule') + '&lang=fr&verbatim=1');
  assert.equal(v.status, 200);
  assert.match(v.text, /<h1>Résultats pour « garentie vehicule »<\/h1>/);
  assert.doesNotMatch(v.text, /class="corrected"/);
  assert.match(v.text, /<input id="q" name="q" type="search" value="garentie vehicule"/);
  const one = await getText(srv.base, '/search?q=garentie&lang=fr&verbatim=1');
  assert.doesNotMatch(one.text, /class="corrected"/);
  assert.match(one.text, /Vouliez-vous dire <a href="\/search\?q=garantie&amp;lang=fr">garantie<\/a>/);
  assert.match(one.text, /Aucun article ne correspond à votre recherche/);

  // English wording (French puts a no-break space before the semicolon).
  const en = await getText(srv.base, '/search?q=warrenty&lang=en');
  assert.match(en.text, new RegExp('<p class="corrected">Results for <strong>warranty</strong>; search instead for ' +
    '<a href="/search\\?q=warrenty&amp;lang=en&amp;verbatim=1">warrenty</a></p>'));

  // A query without a typo says nothing; verbatim is 0 or 1.
  const plain = await getText(srv.base, '/search?q=garantie&lang=fr');
  assert.doesNotMatch(plain.text, /class="corrected"|Vouliez-vous dire/);
  for (const bad of ['2', 'yes', '-1']) {
    const b = await getText(srv.base, '/search?q=garentie&lang=fr&verbatim=' + bad);
    assert.equal(b.status, 400, bad);
  }
  const none = await getText(srv.base, '/search?q=zzzzqqq&lang=fr');
  assert.match(none.text, /Aucun article ne correspond à votre recherche/);
});

test('search page: the corrected query and the words as typed are escaped', async () => {
  const r = await getText(srv.base, '/search?q=' + q('garentie <b>"x"</b>') + '&lang=fr');
  assert.equal(r.status, 200);
  // Searched: its words (the markup's letters are words); offered: the text as typed.
  assert.match(r.text, /<p class="corrected">Résultats pour <strong>garantie b x b<\/strong>/);
  assert.match(r.text, /verbatim=1">garentie &lt;b&gt;&quot;x&quot;&lt;\/b&gt;<\/a><\/p>/);
  assert.doesNotMatch(r.text, /<b>"x"<\/b>/);
});

test('category page lists its public articles', async () => {
  const r = await getText(srv.base, '/c/garantie?lang=fr');
  assert.equal(r.status, 200);
  assert.match(r.text, /<h1>Garantie<\/h1>/);
  assert.match(r.text, /href="\/a\/garantie-constructeur"/);
  assert.match(r.text, /href="\/a\/extension-garantie"/);
  const internal = await getText(srv.base, '/c/procedures-internes?lang=fr');
  assert.equal(internal.status, 404);
});

test('sitemap lists public articles only; robots points to it', async () => {
  const r = await getText(srv.base, '/sitemap.xml');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /application\/xml/);
  assert.match(r.text, /<urlset xmlns="http:\/\/www\.sitemaps\.org\/schemas\/sitemap\/0\.9">/);
  assert.match(r.text, /\/a\/rendez-vous-revision<\/loc>/);
  assert.doesNotMatch(r.text, /objection-prix|brouillon-nouveau-modele|identity-checks/);
  const robots = await getText(srv.base, '/robots.txt');
  assert.match(robots.text, /Sitemap: http:\/\/127\.0\.0\.1:\d+\/sitemap\.xml/);
});

test('static files, traversal and unknown pages', async () => {
  const css = await getText(srv.base, '/static/kb.css');
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  const js = await getText(srv.base, '/static/kb.js');
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  for (const p of ['/static/../kb/cli/main.c', '/static/%2e%2e/README.md', '/static/.hidden']) {
    const r = await getText(srv.base, p);
    assert.equal(r.status, 404, p);
  }
  const r = await getText(srv.base, '/a/does-not-exist');
  assert.equal(r.status, 404);
  assert.match(r.text, /Page introuvable/);
  assert.equal((await getText(srv.base, '/a/objection-prix')).status, 404);
  assert.equal((await getText(srv.base, '/a/brouillon-nouveau-modele')).status, 404);
});
