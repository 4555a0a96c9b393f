// tests/integration/scope.test.mjs: scope decides everything. A word that exists only in an
// internal article, and another only in a draft, must never reach an anonymous caller: not
// in results, snippets, spelling corrections, did-you-mean, completions, suggestions,
// related articles, facets, counts, the sitemap, nor the chat's answers. Searched as typed,
// with a typo, and as a prefix, on every anonymous route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENT, kb, startServer, tempDir, getJSON, getText, q } from './lib.mjs';
import { connect } from './chatlib.mjs';

// Words no shipped article has: one internal, one in a draft, one public (the control).
const INTERNAL = 'zorglubisation';
const DRAFT = 'flambardisage';
const PUBLIC = 'garantie';
const CATEGORY_INTERNAL = 'Dossiers confidentiels';

let srv;
before(async () => {
  const dir = tempDir('kb-scope-');
  const content = join(dir, 'content');
  cpSync(CONTENT, content, { recursive: true });
  mkdirSync(join(content, 'articles', 'fr', 'secret'), { recursive: true });
  writeFileSync(join(content, 'articles', 'fr', 'secret', 'interne.md'), `---
title: "Procédure de ${INTERNAL} des véhicules"
slug: procedure-interne-zorglub
lang: fr
category: ${CATEGORY_INTERNAL}
audience: internal
status: published
tags: [${INTERNAL}]
---
La ${INTERNAL} concerne la garantie des véhicules en atelier : ${INTERNAL} complète.
`);
  writeFileSync(join(content, 'articles', 'fr', 'secret', 'brouillon.md'), `---
title: "Le ${DRAFT} de la garantie"
slug: brouillon-flambard
lang: fr
category: Garantie
audience: public
status: draft
---
Le ${DRAFT} n'est pas encore publié : ${DRAFT} de la garantie.
`);
  const db = join(dir, 'kb.db');
  const r = kb(['--db', db, 'import', content]);
  assert.equal(r.status, 0, r.stderr);
  srv = await startServer({ dir, importFirst: false });
  // The words are indexed: an internal search finds the internal one (the control of the
  // control: nothing below passes only because the words are missing).
  const internal = kb(['--db', db, 'search', '--internal', '--lang', 'fr', '--json', INTERNAL]);
  assert.equal(JSON.parse(internal.stdout).results[0].slug, 'procedure-interne-zorglub');
});
after(async () => { await srv.stop(); });

/** Variants of a word an anonymous caller might type: as is, with typos, as prefixes. */
function variants(word) {
  return [word, word.slice(0, 3) + word[4] + word[3] + word.slice(5), // two letters swapped
    word.slice(0, -1), word + 's', word.slice(0, 6), word.slice(0, 8), `${PUBLIC} ${word}`,
    `${PUBLIC} ${word.slice(0, 7)}`];
}

function assertClean(text, what) {
  for (const w of [INTERNAL, DRAFT, 'procedure-interne-zorglub', 'brouillon-flambard', CATEGORY_INTERNAL])
    assert.ok(!text.toLowerCase().includes(w.toLowerCase()), `${what} reveals "${w}"`);
}

test('the JSON API: search, suggest, articles, categories', async () => {
  for (const word of [...variants(INTERNAL), ...variants(DRAFT)]) {
    const s = await getJSON(srv.base, `/api/v1/search?lang=fr&q=${q(word)}`);
    assert.equal(s.status, 200);
    assertClean(s.text, `search "${word}"`);
    const all = await getJSON(srv.base, `/api/v1/search?q=${q(word)}`);
    assertClean(all.text, `search "${word}" (all languages)`);
    const sg = await getJSON(srv.base, `/api/v1/suggest?lang=fr&q=${q(word)}`);
    assertClean(sg.text, `suggest "${word}"`);
  }
  // Counts and facets of a public word do not count the hidden articles.
  const pub = await getJSON(srv.base, `/api/v1/search?lang=fr&q=${q(PUBLIC)}&limit=100`);
  assert.ok(pub.body.total > 0);
  assert.equal(pub.body.total, pub.body.results.length, 'the total counts what the caller sees');
  assertClean(pub.text, 'search for a public word');
  for (const path of ['/api/v1/articles/procedure-interne-zorglub', '/api/v1/articles/brouillon-flambard'])
    assert.equal((await getJSON(srv.base, path)).status, 404);
  const cats = await getJSON(srv.base, '/api/v1/categories?lang=fr');
  assertClean(cats.text, 'categories');
  const garantie = cats.body.categories.find((c) => c.slug === 'garantie');
  const listed = await getText(srv.base, '/c/garantie?lang=fr');
  assert.equal((listed.text.match(/<li><a href="\/a\//g) || []).length, garantie.count,
    'the category count is what the page lists');
});

test('the pages: search, home, topics, articles (related), sitemap', async () => {
  for (const word of [...variants(INTERNAL), ...variants(DRAFT)]) {
    const r = await getText(srv.base, `/search?lang=fr&q=${q(word)}`);
    assert.equal(r.status, 200);
    // The page echoes the query (title, heading, search box): what it adds must not name the
    // hidden words: corrections, did-you-mean, results, facets, counts.
    const parts = ['<p class="corrected">', '<p class="did-you-mean">', '<ol class="result-list"',
      '<nav class="facets"', '<p class="count"'].map((open) => {
      const at = r.text.indexOf(open);
      return at < 0 ? '' : r.text.slice(at, r.text.indexOf('</', at + open.length + 200) + 200);
    });
    for (const part of parts) {
      for (const w of ['procedure-interne-zorglub', 'brouillon-flambard', CATEGORY_INTERNAL])
        assert.ok(!part.includes(w), `page /search "${word}" shows ${w}`);
      if (part.startsWith('<p class="corrected">') || part.startsWith('<p class="did-you-mean">'))
        for (const w of [INTERNAL, DRAFT])
          assert.ok(!part.includes(w), `page /search "${word}" corrects to ${w}`);
    }
  }
  for (const path of ['/?lang=fr', '/c/garantie?lang=fr', '/a/garantie-constructeur', '/a/extension-garantie',
    '/sitemap.xml', '/robots.txt'])
    assertClean((await getText(srv.base, path)).text, path);
  assert.equal((await getText(srv.base, '/a/procedure-interne-zorglub')).status, 404);
  assert.equal((await getText(srv.base, '/a/brouillon-flambard')).status, 404);
  assert.equal((await getText(srv.base, '/c/dossiers-confidentiels?lang=fr')).status, 404);
});

test('the chat: answers from the knowledge base never show a hidden article', async () => {
  const c = await connect(srv.chatUrl);
  await c.start();
  let i = 0;
  for (const word of [...variants(INTERNAL), ...variants(DRAFT)]) {
    const { reply } = await c.say(`s${i++}`, `j'ai une question sur la ${word}`);
    assertClean(JSON.stringify(reply), `chat "${word}"`);
  }
});
