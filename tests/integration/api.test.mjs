// tests/integration/api.test.mjs: the JSON API contract (other tools rely on it exactly), on
// the shipped content: ranking, stemming, synonyms, spelling, filters, paging, audiences.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, getJSON, getText, q } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { assert.equal(await srv.stop(), 0, 'clean shutdown'); });

const search = (params) => getJSON(srv.base, '/api/v1/search?' + params);
const slugs = (body) => body.results.map((r) => r.slug);
const INTERNAL = ['qualifier-reclamation', 'niveaux-approbation-geste-commercial',
  'escalade-responsable-regional', 'appel-rappel-constructeur', 'verification-identite',
  'objection-prix', 'objection-autonomie-electrique', 'comparatif-concurrence',
  'complaint-qualification', 'goodwill-approval-levels', 'price-objection', 'identity-checks'];

test('search response has exactly the contract fields, best first', async () => {
  const r = await search('q=' + q('réviser ma voiture') + '&lang=fr');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(r.body.results[0].slug, 'rendez-vous-revision');
  for (const hit of r.body.results) {
    assert.deepEqual(Object.keys(hit).sort(),
      ['audience', 'category', 'lang', 'score', 'slug', 'snippet', 'title', 'url']);
    assert.equal(hit.audience, 'public', 'an anonymous caller sees public articles only');
    assert.equal(hit.url, '/a/' + hit.slug);
    assert.equal(hit.lang, 'fr');
  }
  const scores = r.body.results.map((h) => h.score);
  assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'scores descending');
  assert.equal(typeof r.body.total, 'number');
  assert.equal(typeof r.body.facets.category, 'object');
  assert.ok('did_you_mean' in r.body);
  assert.equal(typeof r.body.took_ms, 'number');
});

test('scores and took_ms are printed with at most 9 significant digits', async () => {
  const r = await getText(srv.base, '/api/v1/search?q=' + q('garantie véhicule') + '&lang=fr');
  assert.equal(r.status, 200);
  const text = r.text;
  const reals = [...text.matchAll(/"(score|took_ms)":(-?[0-9.eE+-]+)/g)].map((m) => m[2]);
  assert.ok(reals.length >= 2, 'scores and took_ms present');
  for (const v of reals) {
    const digits = v.split(/[eE]/)[0].replace(/[-.]/g, '').replace(/^0+/, '');
    assert.ok(digits.length <= 9, `${v} has more than 9 significant digits`);
  }
});

test('English stemming: recalls finds the recall article', async () => {
  const r = await search('q=recalls&lang=en');
  assert.equal(r.body.results[0].slug, 'vehicle-recall');
});

test('accents and case never matter', async () => {
  const a = await search('q=VEHICULE%20ELECTRIQUE&lang=fr');
  const b = await search('q=' + q('véhicule électrique') + '&lang=fr');
  assert.ok(a.body.results.length > 0);
  assert.deepEqual(slugs(a.body), slugs(b.body));
});

test('typos are corrected from the index vocabulary', async () => {
  const r = await search('q=garentie&lang=fr');
  assert.equal(r.body.did_you_mean, 'garantie');
  assert.equal(r.body.corrected_query, 'garantie');
  assert.ok(slugs(r.body).includes('garantie-constructeur'));
  const ok = await search('q=garantie&lang=fr');
  assert.equal(ok.body.did_you_mean, null);
  assert.equal(ok.body.corrected_query, null);
});

test('verbatim=1 searches the words as typed: no correction, the spelling still offered', async () => {
  const two = await search('q=' + q('garentie vehicule') + '&lang=fr');
  assert.equal(two.body.corrected_query, 'garantie vehicule');
  assert.ok(slugs(two.body).slice(0, 3).includes('garantie-constructeur'), slugs(two.body).join(' '));
  const typed = await search('q=' + q('garentie vehicule') + '&lang=fr&verbatim=1');
  assert.equal(typed.status, 200);
  assert.equal(typed.body.corrected_query, null);
  // "vehicule" alone: the articles on vehicles, not the warranty's first.
  assert.ok(typed.body.total > 0);
  assert.notDeepEqual(slugs(typed.body), slugs(two.body));
  const one = await search('q=garentie&lang=fr&verbatim=1');
  assert.equal(one.body.corrected_query, null);
  assert.equal(one.body.did_you_mean, 'garantie');
  assert.equal(one.body.total, 0);
  assert.deepEqual(one.body.results, []);
  const zero = await search('q=garentie&lang=fr&verbatim=0');
  assert.equal(zero.body.corrected_query, 'garantie');
  for (const bad of ['2', 'true', '']) {
    const b = await search('q=garentie&lang=fr&verbatim=' + bad);
    if (bad === '') {
      assert.equal(b.status, 200, 'an empty parameter is absent');
      continue;
    }
    assert.equal(b.status, 400, bad);
    assert.equal(b.body.error.code, 'invalid_parameter');
  }
});

test('synonyms: sav finds the after-sales contact article', async () => {
  const r = await search('q=sav&lang=fr');
  assert.equal(r.body.results[0].slug, 'contact-service-apres-vente');
});

test('alternative questions are searchable', async () => {
  const r = await search('q=' + q('combien vaut ma voiture') + '&lang=fr');
  assert.equal(r.body.results[0].slug, 'reprise-vehicule');
});

test('category filter narrows results and matches the facet count', async () => {
  const all = await search('q=' + q('véhicule') + '&lang=fr&limit=50');
  const facet = all.body.facets.category['Garantie'];
  assert.ok(facet >= 2);
  const only = await search('q=' + q('véhicule') + '&lang=fr&category=Garantie&limit=50');
  assert.equal(only.body.total, facet);
  assert.ok(only.body.results.every((h) => h.category === 'Garantie'));
});

test('limit and offset paginate without overlap', async () => {
  const p1 = await search('q=' + q('véhicule') + '&lang=fr&limit=3');
  const p2 = await search('q=' + q('véhicule') + '&lang=fr&limit=3&offset=3');
  assert.equal(p1.body.results.length, 3);
  assert.equal(p2.body.results.length, 3);
  for (const s of slugs(p2.body)) assert.ok(!slugs(p1.body).includes(s));
  const all = await search('q=' + q('véhicule') + '&lang=fr&limit=6');
  assert.deepEqual(slugs(all.body), [...slugs(p1.body), ...slugs(p2.body)]);
});

test('internal and draft articles never reach anonymous callers', async () => {
  for (const words of ['procédure réclamation approbation dédommagement identité objection prix',
    'complaint approval identity objection price procedure', 'nouveau modèle lumen']) {
    for (const lang of ['fr', 'en']) {
      const r = await search('q=' + q(words) + '&lang=' + lang + '&limit=100');
      for (const s of slugs(r.body)) {
        assert.ok(!INTERNAL.includes(s), `internal ${s} leaked`);
        assert.notEqual(s, 'brouillon-nouveau-modele');
      }
    }
  }
  for (const s of [...INTERNAL, 'brouillon-nouveau-modele']) {
    const a = await getJSON(srv.base, '/api/v1/articles/' + s);
    assert.equal(a.status, 404, s);
    assert.equal(a.body.error.code, 'not_found');
  }
});

test('suggest completes the word being typed', async () => {
  const r = await getJSON(srv.base, '/api/v1/suggest?q=rappe&lang=fr');
  assert.equal(r.status, 200);
  assert.ok(r.body.suggestions.length >= 1);
  assert.ok(r.body.suggestions.some((s) => s.slug === 'rappel-vehicule'));
  for (const s of r.body.suggestions) assert.equal(s.url, '/a/' + s.slug);
});

test('article by slug with html, table and translations', async () => {
  const r = await getJSON(srv.base, '/api/v1/articles/plan-entretien');
  assert.equal(r.status, 200);
  assert.equal(r.body.title, "À quelle fréquence faut-il faire l'entretien de mon véhicule ?");
  assert.match(r.body.html, /<table>/);
  assert.deepEqual(r.body.translations.map((t) => t.slug), ['maintenance-schedule']);
  assert.ok(r.body.questions.length >= 2);
});

test('categories with counts', async () => {
  const r = await getJSON(srv.base, '/api/v1/categories?lang=fr');
  const g = r.body.categories.find((c) => c.name === 'Garantie');
  assert.equal(g.count, 2);
  assert.equal(g.slug, 'garantie');
  assert.ok(!r.body.categories.some((c) => c.name === 'Procédures internes'));
});

test('feedback is recorded; bad bodies and unknown articles are refused', async () => {
  const post = (slug, body) => getJSON(srv.base, `/api/v1/articles/${slug}/feedback`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const ok = await post('garantie-constructeur', JSON.stringify({ helpful: true }));
  assert.equal(ok.status, 201);
  assert.equal(ok.body.recorded, true);
  // Counted for the editors (written by the writer thread), never shown to readers.
  const art = await getJSON(srv.base, '/api/v1/articles/garantie-constructeur');
  assert.equal(art.body.feedback, undefined);
  assert.doesNotMatch(art.text, /helpful_yes|helpful_no/);
  await waitFor(() => sql(srv.db, "SELECT helpful_yes FROM articles WHERE slug = 'garantie-constructeur'") === '1');
  const bad = await post('garantie-constructeur', '{"helpful": "maybe"');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'invalid_body');
  assert.equal(typeof bad.body.error.message, 'string');
  const missing = await post('no-such-article', JSON.stringify({ helpful: false }));
  assert.equal(missing.status, 404);
  const internal = await post('objection-prix', JSON.stringify({ helpful: false }));
  assert.equal(internal.status, 404);
});

test('metrics count requests and searches; healthz; unknown endpoints', async () => {
  const before = await fetch(srv.base + '/metrics').then((r) => r.text());
  const count = (t) => Number((t.match(/^kb_search_queries_total (\d+)/m) || [])[1]);
  await search('q=garantie&lang=fr');
  const after = await fetch(srv.base + '/metrics');
  assert.match(after.headers.get('content-type'), /^text\/plain/);
  const text = await after.text();
  assert.match(text, /kb_http_requests_total\{route="api_search",code="2xx"\} \d+/);
  assert.equal(count(text), count(before) + 1);
  const h = await getJSON(srv.base, '/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'ok');
  assert.ok(h.body.indexed >= 50);
  const nope = await getJSON(srv.base, '/api/v1/nope');
  assert.equal(nope.status, 404);
  assert.equal(nope.body.error.code, 'not_found');
});

function sql(db, q) {
  return spawnSync('sqlite3', [db, q], { encoding: 'utf8' }).stdout.trim();
}

async function waitFor(pred, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 50));
  }
}
