// tests/integration/lib.mjs: start the real `kb` binary on a free loopback port over a fresh
// database, and small HTTP helpers. Every test file imports the shipped content/ (or its own
// fixture folder) so that assertions are about what a user of that content would see.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const KB = process.env.KB_BIN;
export const CONTENT = process.env.KB_CONTENT;
if (!KB || !CONTENT) throw new Error('KB_BIN and KB_CONTENT must be set (meson test sets them)');

/** Run the kb CLI synchronously; returns {status, stdout, stderr}. */
export function kb(args, opts = {}) {
  const r = spawnSync(KB, args, { encoding: 'utf8', timeout: 60000, ...opts });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(name = 'kb-it-') {
  return mkdtempSync(join(tmpdir(), name));
}

/** Import `content` into a fresh database and serve it; resolves to a server handle. */
export async function startServer({ content = CONTENT, dir = tempDir(), importFirst = true,
  args = [], env = {} } = {}) {
  const db = join(dir, 'kb.db');
  if (importFirst) {
    const r = kb(['--db', db, 'import', content]);
    if (r.status !== 0) throw new Error(`import failed (${r.status}): ${r.stderr}`);
  }
  const child = spawn(KB, ['--db', db, 'serve', '--port', '0', '--chat-port', '0',
    '--threads', '2', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  let chatUrl;
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const c = out.match(/chat on (ws:\/\/[\d.]+:\d+\/chat)/);
      const m = out.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m && c) { clearTimeout(timer); chatUrl = c[1]; resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
  const health = await fetch(base + '/healthz');
  if (health.status !== 200) throw new Error('healthz not ready');
  return {
    base, chatUrl, db, dir, child,
    get stderr() { return stderr; },
    /** Stop with SIGTERM (or signal); resolves to the exit code (0 for a clean shutdown).
     * The folder is removed unless keep (to start a server on the same database again). */
    stop({ keep = false, signal = 'SIGTERM' } = {}) {
      return new Promise((resolve, reject) => {
        const done = (code, sig) => {
          if (!keep) rmSync(dir, { recursive: true, force: true });
          // A clean shutdown exits 0: a sanitizer's report (leak, race) at exit does not.
          if (signal === 'SIGTERM' && code !== 0)
            reject(new Error(`kb serve exited ${code ?? sig} on SIGTERM: ${stderr.slice(-4000)}`));
          else
            resolve(code ?? sig);
        };
        if (child.exitCode !== null || child.signalCode !== null) { done(child.exitCode, child.signalCode); return; }
        child.once('exit', done);
        child.kill(signal);
      });
    },
  };
}

export async function getJSON(base, path, init) {
  const res = await fetch(base + path, init);
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  return { status: res.status, headers: res.headers, body, text };
}

export async function getText(base, path, init) {
  const res = await fetch(base + path, { redirect: 'manual', ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export const q = (s) => encodeURIComponent(s);
