// The lunr.js reference of the relevance benchmark (run.py starts it): real lunr 2 with
// lunr-languages' French pipeline (trimmer, stop words, accent folding, Snowball stemmer),
// as a help centre would set it up: two fields, title and body, the title boosted.
//
// usage: node lunr.mjs DOCS.json TITLE_BOOST < queries > rankings
//   DOCS.json: [{"slug","title","body"}, ...]; then one query per line on stdin, and one
//   line per query on stdout: a JSON array of the 10 best slugs.
//
// A query is lunr.tokenizer's words (split on white space and hyphens), each an optional
// clause (lunr's default: OR) that goes through the search pipeline (trimmer, accent
// folding, stemmer); nothing of lunr's query syntax (field:, ^, ~, +, -, *) is interpreted,
// so that no customer text is an error. Scoring is lunr's own: BM25 per field (k1 1.2,
// b 0.75), summed over fields with the field boosts.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const lunr = require('lunr');
require('lunr-languages/lunr.stemmer.support')(lunr);
require('lunr-languages/lunr.fr')(lunr);

const docs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const boost = Number(process.argv[3] || '3');
const idx = lunr(function () {
  this.use(lunr.fr);
  this.ref('slug');
  this.field('title', { boost });
  this.field('body');
  for (const d of docs) this.add(d);
});

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  const words = lunr.tokenizer(line).map((t) => t.toString()).filter((w) => w.length > 0);
  let hits = [];
  if (words.length > 0) {
    hits = idx.query((q) => {
      for (const w of words) q.term(w, { presence: lunr.Query.presence.OPTIONAL });
    });
  }
  process.stdout.write(JSON.stringify(hits.slice(0, 10).map((h) => h.ref)) + '\n');
}
