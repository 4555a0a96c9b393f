// tests/integration/cli.test.mjs: the kb command line as editors and scripts use it: import
// and re-import, revisions, archiving, malformed files, check, search, rebuild, and the
// start-up repair of a crash between the SQLite and Xapian commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CONTENT, kb, startServer, getJSON, tempDir, q } from './lib.mjs';

function fixture() {
  const dir = tempDir();
  const content = join(dir, 'content');
  cpSync(CONTENT, content, { recursive: true });
  return { dir, content, db: join(dir, 'kb.db') };
}

const searchJSON = (db, lang, text) => {
  const r = kb(['--db', db, 'search', '--lang', lang, '--json', text]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

test('import, re-import, change, delete', () => {
  const f = fixture();
  let r = kb(['--db', f.db, 'import', f.content]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^51 files: 51 created, 0 updated, 0 unchanged, 0 archived, 0 failed/);
  r = kb(['--db', f.db, 'import', f.content]);
  assert.match(r.stdout, /51 files: 0 created, 0 updated, 51 unchanged, 0 archived, 0 failed/);

  const path = join(f.content, 'articles/fr/garantie/extension-garantie.md');
  writeFileSync(path, '---\ntitle: "Prolonger la garantie Sérénité jusqu\'à 7 ans"\n' +
    'slug: extension-garantie\nlang: fr\ncategory: Garantie\n---\nLa garantie Sérénité.\n');
  r = kb(['--db', f.db, 'import', f.content]);
  assert.match(r.stdout, /0 created, 1 updated, 50 unchanged/);
  const res = searchJSON(f.db, 'fr', 'prolonger garantie');
  assert.equal(res.results[0].slug, 'extension-garantie');
  assert.equal(res.results[0].title, "Prolonger la garantie Sérénité jusqu'à 7 ans");

  unlinkSync(join(f.content, 'articles/en/recalls/vehicle-recall.md'));
  r = kb(['--db', f.db, 'import', f.content]);
  assert.match(r.stdout, /1 archived/);
  const after = searchJSON(f.db, 'en', 'recall');
  assert.ok(!after.results.some((h) => h.slug === 'vehicle-recall'));
  rmSync(f.dir, { recursive: true, force: true });
});

test('a malformed file is reported with file and line; the others import', () => {
  const f = fixture();
  const bad = join(f.content, 'articles/fr/garantie');
  writeFileSync(join(bad, 'casse-yaml.md'), '---\ntitle: "pas fermé\ntags: [a\n---\nx\n');
  writeFileSync(join(bad, 'sans-titre.md'), '---\nslug: sans-titre\n---\nx\n');
  writeFileSync(join(bad, 'sans-fin.md'), '---\ntitle: Sans fin\nbody sans séparateur\n');
  const r = kb(['--db', f.db, 'import', f.content]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /garantie\/casse-yaml\.md:\d+: front matter/);
  assert.match(r.stderr, /garantie\/sans-titre\.md:1: missing 'title'/);
  assert.match(r.stderr, /garantie\/sans-fin\.md:1: missing front matter/);
  assert.match(r.stdout, /54 files: 51 created, 0 updated, 0 unchanged, 0 archived, 3 failed/);
  assert.equal(searchJSON(f.db, 'fr', 'sav').results[0].slug, 'contact-service-apres-vente');

  const c = kb(['check', f.content]);
  assert.equal(c.status, 1);
  assert.match(c.stdout, /54 files checked: 51 ok, 3 with errors/);
  assert.match(c.stderr, /sans-titre\.md:1: missing 'title'/);
  const fresh = join(f.dir, 'unused.db');
  kb(['--db', fresh, 'check', f.content]);
  assert.ok(!existsSync(fresh), 'check writes nothing');
  rmSync(f.dir, { recursive: true, force: true });
});

test('check of the shipped content is clean', () => {
  const r = kb(['check', CONTENT]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /51 files checked: 51 ok, 0 with errors, 0 warnings/);
});

test('search from the terminal prints the API ranking', () => {
  const f = fixture();
  kb(['--db', f.db, 'import', f.content]);
  const res = searchJSON(f.db, 'fr', 'réviser ma voiture');
  assert.equal(res.results[0].slug, 'rendez-vous-revision');
  const plain = kb(['--db', f.db, 'search', '--lang', 'en', 'recalls']);
  assert.match(plain.stdout, / 1\. vehicle-recall /);
  const internal = kb(['--db', f.db, 'search', '--internal', '--lang', 'fr', '--json',
    'niveaux approbation dédommagement']);
  assert.equal(JSON.parse(internal.stdout).results[0].slug, 'niveaux-approbation-geste-commercial');
  // A corrected query says so, as the search page does; --verbatim searches it as typed.
  const fixed = kb(['--db', f.db, 'search', '--lang', 'fr', 'garentie vehicule']);
  assert.match(fixed.stdout, /^results for: garantie vehicule; search instead for: garentie vehicule \(--verbatim\)\n/);
  const typed = kb(['--db', f.db, 'search', '--lang', 'fr', '--verbatim', 'garentie']);
  assert.match(typed.stdout, /^did you mean: garantie\n0 results/);
  assert.equal(searchJSON(f.db, 'fr', 'garentie').corrected_query, 'garantie');
  const usage = kb(['--db', f.db, 'search']);
  assert.equal(usage.status, 2);
  assert.equal(kb(['--help']).status, 0);
  assert.equal(kb(['search', '--help']).status, 0);
  assert.equal(kb(['frobnicate']).status, 2);
  rmSync(f.dir, { recursive: true, force: true });
});

test('index --rebuild restores a lost index', () => {
  const f = fixture();
  kb(['--db', f.db, 'import', f.content]);
  rmSync(f.db + '.index', { recursive: true, force: true });
  const r = kb(['--db', f.db, 'index', '--rebuild']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^51 articles indexed/);
  assert.equal(searchJSON(f.db, 'fr', 'sav').results[0].slug, 'contact-service-apres-vente');
  rmSync(f.dir, { recursive: true, force: true });
});

test('a change committed to SQLite but not to Xapian is replayed at start-up', async (t) => {
  if (spawnSync('sqlite3', ['-version']).status !== 0) { t.skip('sqlite3 CLI missing'); return; }
  const f = fixture();
  kb(['--db', f.db, 'import', f.content]);
  // What a crash between the two commits leaves: the article changed, its queue row pending.
  const sql = "UPDATE articles SET title = 'Titre réparé au démarrage' " +
    "WHERE slug = 'credit-auto';" +
    "INSERT INTO index_queue(article_id, queued_at) " +
    "SELECT id, 0 FROM articles WHERE slug = 'credit-auto';";
  assert.equal(spawnSync('sqlite3', [f.db, sql]).status, 0);
  const srv = await startServer({ dir: f.dir, importFirst: false });
  try {
    const r = await getJSON(srv.base, '/api/v1/search?q=' + q('réparé démarrage') + '&lang=fr');
    assert.equal(r.body.results[0].slug, 'credit-auto');
    assert.equal(r.body.results[0].title, 'Titre réparé au démarrage');
    const h = await getJSON(srv.base, '/healthz');
    assert.equal(h.body.index_queue, 0);
  } finally {
    await srv.stop();
  }
});

test('a store of schema 3 (plain text kept in a column) is upgraded: pages show the source', async (t) => {
  if (spawnSync('sqlite3', ['-version']).status !== 0) { t.skip('sqlite3 CLI missing'); return; }
  const f = fixture();
  assert.equal(kb(['--db', f.db, 'import', f.content]).status, 0);
  // What kb before schema 4 left: a text column, here stale, no chat tables, user_version 3.
  const sql = "ALTER TABLE articles ADD COLUMN text TEXT NOT NULL DEFAULT '';" +
    'DROP TABLE article_flags; DROP TABLE agent_pins; DROP TABLE agent_recent;' +
    'DROP TABLE article_links;' +
    'DROP TRIGGER article_counts_insert; DROP TRIGGER article_counts_update;' +
    'DROP TRIGGER article_counts_delete; DROP TABLE article_counts;' +
    'DROP INDEX articles_top; DROP INDEX articles_category;' +
    "UPDATE articles SET text = 'Texte périmé';" +
    'DROP TABLE case_articles; DROP TABLE case_history; DROP TABLE case_notes;' +
    'DROP TABLE case_inbox_search; DROP TABLE case_inbox;' +
    'DROP TABLE crm_endpoints; DROP TABLE outbox_attempts; DROP TABLE outbox; DROP TABLE cases;' +
    'DROP TABLE messages; DROP TABLE conversations; DROP TABLE bot_rules;' +
    'DROP INDEX search_clicks_search; DROP TABLE audit; DROP TABLE api_tokens;' +
    'DROP TABLE sessions; DROP TABLE users;' +
    'PRAGMA user_version = 3;';
  assert.equal(spawnSync('sqlite3', [f.db, sql]).status, 0);
  const srv = await startServer({ dir: f.dir, importFirst: false });
  try {
    const a = await getJSON(srv.base, '/api/v1/articles/extension-garantie');
    assert.equal(a.status, 200);
    assert.match(a.body.text, /garantie/);
    assert.doesNotMatch(a.body.text, /périmé/);
    assert.match(a.body.html, /<p>/);
    const cols = spawnSync('sqlite3', [f.db, 'PRAGMA user_version; SELECT count(*) FROM ' +
      "pragma_table_info('articles') WHERE name = 'text';"], { encoding: 'utf8' });
    assert.deepEqual(cols.stdout.trim().split('\n'), ['11', '0'], cols.stderr);
  } finally {
    await srv.stop();
  }
});

test('kb bot scripts one line per input line, French accents and apostrophes included', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'fr.rive'), [
    '! version = 2.0', '',
    '+ bonjour', '- Bonjour ! Comment puis-je vous aider ?', '',
    "+ j'ai perdu *", '- Vous avez perdu <star> ? Je regarde.', '',
    '+ où est mon véhicule', "- Votre véhicule est à l'atelier.", '',
    '+ *', "- Je n'ai pas compris.", ''].join('\n'));
  const r = spawnSync(process.env.KB_BIN, ['bot', '--rules', dir, '--utf8'],
    { input: "bonjour\nJ'ai perdu ma clé\nOÙ est mon véhicule ?\n\nxyz\n", encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\n'), ['Bonjour ! Comment puis-je vous aider ?',
    'Vous avez perdu ma clé ? Je regarde.', "Votre véhicule est à l'atelier.",
    "Je n'ai pas compris.", "Je n'ai pas compris.", '']);
  // kb check validates a content folder's bot rules too.
  const content = join(dir, 'content');
  mkdirSync(join(content, 'bot', 'fr'), { recursive: true });
  writeFileSync(join(content, 'bot', 'fr', 'ok.rive'), '! version = 2.0\n+ salut\n- Salut !\n');
  assert.equal(kb(['check', content]).status, 0);
  rmSync(dir, { recursive: true, force: true });
});

test('kb bot answers from the knowledge base with <call>kb_search</call>, set_lang switches', () => {
  const f = fixture();
  assert.equal(kb(['--db', f.db, 'import', f.content]).status, 0);
  const rules = join(f.dir, 'rules');
  mkdirSync(rules);
  writeFileSync(join(rules, 'kb.rive'), [
    '! version = 2.0', '! var lang = fr',
    '+ parle anglais', '- <call>set_lang en</call>OK.',
    '+ langue', '- <get lang>',
    '+ ouvre un dossier', '- <call>case_open test</call>',
    '+ *', '- <call>kb_search <star></call> [<get kb_found>]', ''].join('\n'));
  const r = spawnSync(process.env.KB_BIN, ['--db', f.db, 'bot', '--rules', rules, '--utf8'],
    { input: 'comment réviser ma voiture\nzzzqqq\nparle anglais\nlangue\n' +
      'what about recalls\nouvre un dossier\n', encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^Comment prendre rendez-vous pour la révision .* — .*\(\/a\/rendez-vous-revision\) \[yes\]$/);
  assert.equal(lines[1], '[no]');
  assert.equal(lines[2], 'OK.');
  assert.equal(lines[3], 'en');
  assert.match(lines[4], /\(\/a\/vehicle-recall\) \[yes\]$/);
  // kb bot has no conversation to open a case for: nothing is opened, no reference given.
  assert.equal(lines[5], '');
  rmSync(f.dir, { recursive: true, force: true });
});

test('kb check reports rule errors with file and line, and warns about dead triggers', () => {
  const dir = tempDir();
  const content = join(dir, 'content');
  mkdirSync(join(content, 'bot', 'fr'), { recursive: true });
  writeFileSync(join(content, 'bot', 'fr', 'a.rive'), [
    '! version = 2.0', '+ bonjour', '- Bonjour !', '+ bonjour', '- Re-bonjour !',
    '+ (où|ou) est mon véhicule', '- Au garage.', '- orphan', '+ horaires (', '- jamais', ''].join('\n'));
  writeFileSync(join(content, 'bot', 'fr', 'b.rive'), '+ merci\n- De rien.\n');
  const r = kb(['check', content]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /a\.rive:4: warning: duplicate trigger "bonjour"/);
  assert.match(r.stderr, /a\.rive:9: error: trigger "horaires \(": unbalanced brackets/);
  assert.doesNotMatch(r.stderr, /b\.rive/);
  // The same rules still chat: the good lines loaded.
  const chat = spawnSync(process.env.KB_BIN, ['bot', '--rules', join(content, 'bot', 'fr'), '--utf8'],
    { input: 'bonjour\nmerci\nou est mon vehicule\n', encoding: 'utf8' });
  assert.equal(chat.stdout.split('\n')[0], 'Bonjour !');
  assert.equal(chat.stdout.split('\n')[1], 'De rien.');
  rmSync(dir, { recursive: true, force: true });
});

test('kb import and kb index --nice: 0 to 19 or idle, anything else is a usage error', () => {
  const f = fixture();
  for (const args of [['import', '--nice', '20', f.content], ['import', '--nice', 'x', f.content],
    ['index', '--nice', '-1']]) {
    const r = kb(['--db', f.db, ...args]);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, /--nice \(or KB_NICE\) is 0 to 19 or idle/);
  }
  const env = kb(['--db', f.db, 'import', f.content], { env: { ...process.env, KB_NICE: '99' } });
  assert.equal(env.status, 2);
  assert.equal(kb(['--db', f.db, 'import', '--nice', '0', f.content]).status, 0);
  assert.equal(kb(['--db', f.db, 'index', '--nice', '19']).status, 0);
  const idle = kb(['--db', f.db, 'import', '--nice', 'idle', f.content]);
  assert.equal(idle.status, 0, idle.stderr);
  assert.doesNotMatch(idle.stderr, /cannot lower/);
  assert.equal(kb(['--db', f.db, 'index', '--nice', 'idle']).status, 0);
  assert.equal(kb(['--db', f.db, 'import', f.content], { env: { ...process.env, KB_NICE: 'idle' } }).status, 0);
});
