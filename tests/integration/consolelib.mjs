// tests/integration/consolelib.mjs: what the console's tests share: the shipped content plus
// articles that carry markup in their title and body (to check that nothing renders it) and
// an internal article only an agent may find, agents and an editor from `kb user add`,
// sessions from POST /api/v1/session, and API calls as one of them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KB, CONTENT, tempDir, getJSON, getText } from './lib.mjs';

export const PW = 'correct horse battery staple';
export const XSS_SCRIPT = '<script>window.__xss = 1</script>';
export const XSS_IMG = '"><img src=x onerror="window.__xss=2">';
// A word no other article has: the internal article's, for visibility checks.
export const SECRET_WORD = 'zorglubium';

/** The shipped content in a fresh folder, plus the console's test articles. */
export function consoleContent(dir = tempDir('kb-console-')) {
  const content = join(dir, 'content');
  mkdirSync(content, { recursive: true });
  cpSync(join(CONTENT, 'articles'), join(content, 'articles'), { recursive: true });
  cpSync(join(CONTENT, 'synonyms'), join(content, 'synonyms'), { recursive: true });
  const extra = join(content, 'articles', 'en', 'console-tests');
  mkdirSync(extra, { recursive: true });
  writeFileSync(join(extra, 'xss.md'), [
    '---',
    `title: 'Markup ${XSS_SCRIPT} ${XSS_IMG.replace(/'/g, "''")} in a title'`,
    'slug: markup-article',
    'lang: en',
    'category: Console tests',
    'tags: [markup]',
    'audience: public',
    '---',
    `The body holds markup too: ${XSS_SCRIPT} and ${XSS_IMG} and <b onmouseover="x()">bold</b>.`,
    '',
    '[a link](javascript:window.__xss=3) and the word markup.',
    ''].join('\n'));
  writeFileSync(join(extra, 'internal.md'), [
    '---',
    'title: "Internal pricing grid for the Zorglubium trim"',
    'slug: zorglubium-pricing',
    'lang: en',
    'category: Sales playbook',
    'tags: [sales, zorglubium-trim]',
    'audience: internal',
    'see_also: [markup-article]',
    '---',
    `The ${SECRET_WORD} trim is sold with a 4% dealer margin.`,
    '',
    'Second paragraph: never quote the margin to a customer.',
    ''].join('\n'));
  return { dir, content, db: join(dir, 'kb.db') };
}

export function addUsers(db, users) {
  for (const [login, role, name] of users) {
    const r = spawnSync(KB, ['--db', db, 'user', 'add', login, '--role', role, '--name', name],
      { input: PW + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
}

/** A session: {cookie, csrf}. */
export async function login(base, name) {
  const r = await fetch(base + '/api/v1/session', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: name, password: PW }),
  });
  assert.equal(r.status, 201, name);
  const body = await r.json();
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf_token };
}

/** A JSON API call as `who` ({cookie, csrf} session, {token}, or null for anonymous). */
export function apiAs(base, who, path, { method = 'GET', body, csrf = true } = {}) {
  const headers = {};
  if (who && who.token) headers.authorization = `Bearer ${who.token}`;
  else if (who) {
    headers.cookie = who.cookie;
    if (csrf === true) headers['x-csrf-token'] = who.csrf;
    else if (typeof csrf === 'string') headers['x-csrf-token'] = csrf;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  return getJSON(base, path, {
    method, headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A page (or a form post) as `who`, redirects not followed. */
export function pageAs(base, who, path, form) {
  const headers = who ? { cookie: who.cookie } : {};
  if (form === undefined) return getText(base, path, { headers });
  return getText(base, path, {
    method: 'POST', body: new URLSearchParams(form).toString(),
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
  });
}
