#!/usr/bin/python3
"""Relevance benchmark: hit@1, hit@3 and MRR@10 of kb against three references on the same
corpora and questions, in one run.

  kb           kb import, then kb serve and GET /api/v1/search?lang=fr (the product as shipped)
  fts5         SQLite FTS5, unicode61 remove_diacritics 2, bm25(), OR of the words
  xapian       plain Xapian: French stemmer, default BM25, QueryParser with OR
  lunr         real lunr.js 2 with lunr-languages' French pipeline (trimmer, stop words,
               accent folding, stemmer), title and body fields, title boost 3 (lunr.mjs;
               npm ci in this folder first)

Question sets are TSV files (query, expected slug) on one corpus each: SETS below says which.
With --typos, every question is asked again with one typing error (typo() below) and each
system's MRR@10 with and without typos is printed, their ratio, and the share of questions
whose first result did not change. The run ends with one table of every set and system.

usage: tests/bench/relevance/run.py [--kb build/kb/cli/kb] [--sets fit|holdout|all|NAME,...]
                                   [--all-sets] [--tsv FILE --corpus DIR]... [--typos]
                                   [--seed N] [--failures] [--synonyms FILE]
                                   [--lunr-boost N] [--kb-env NAME=VALUE]...
Runs with Debian's python3 (/usr/bin/python3) and python3-xapian (apt-get install python3-xapian).
"""
import argparse
import csv
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))

CORPORA = {
    'service-public': os.path.join(ROOT, '..', 'shared', 'data', 'service-public-fr'),
    'faq-telecom': os.path.join(HERE, 'faq-telecom'),
    'faq-shop': os.path.join(HERE, 'faq-shop'),
}

# Every question set of this folder: (file, corpus, role). The engine's weights are fitted on
# the "fit" sets together (fit.py), each also reported left out of the fit; the "holdout"
# sets are never used to choose anything (README.md).
SETS = [
    ('questions.tsv', 'service-public', 'fit'),
    ('questions-holdout.tsv', 'service-public', 'fit'),
    ('questions-editor.tsv', 'service-public', 'fit'),
    ('questions-editor2.tsv', 'service-public', 'fit'),
    ('questions-faq-telecom.tsv', 'faq-telecom', 'fit'),
    ('questions-faq-shop.tsv', 'faq-shop', 'fit'),
    ('questions-faq-telecom-holdout.tsv', 'faq-telecom', 'holdout'),
    ('questions-faq-shop-holdout.tsv', 'faq-shop', 'holdout'),
]


def pick_sets(spec):
    """[(path, corpus dir)] for --sets: fit, holdout, all, or file names (comma-separated)."""
    out = []
    for item in spec.split(','):
        for name, corpus, role in SETS:
            if item in ('all', role, name, name[:-4]):
                out.append((os.path.join(HERE, name), CORPORA[corpus]))
    if not out:
        sys.exit(f'no question set called {spec!r}; sets: ' + ', '.join(s[0] for s in SETS))
    return out


def load_corpus(corpus):
    """(slug, title, body) of every article: front matter stripped, Markdown kept as text."""
    docs = []
    for name in sorted(os.listdir(corpus)):
        if not name.endswith('.md'):
            continue
        text = open(os.path.join(corpus, name), encoding='utf-8').read()
        m = re.match(r'^---\n(.*?)\n---\n(.*)$', text, re.S)
        front, body = (m.group(1), m.group(2)) if m else ('', text)
        slug = re.search(r'^slug:\s*(\S+)', front, re.M)
        title = re.search(r'^title:\s*"?(.*?)"?\s*$', front, re.M)
        docs.append((slug.group(1) if slug else name[:-3], title.group(1) if title else '', body))
    return docs


# A French keyboard (AZERTY): letter rows, each shifted right of the one above by about half
# a key, so the key at (r, c) touches (r, c +- 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1)
# and (r + 1, c).
AZERTY = ['azertyuiop', 'qsdfghjklm', 'wxcvbn']


def azerty_neighbours():
    pos = {ch: (r, c) for r, row in enumerate(AZERTY) for c, ch in enumerate(row)}
    near = {}
    for a, (r, c) in pos.items():
        near[a] = sorted(b for b, (r2, c2) in pos.items()
                         if (r2 == r and abs(c2 - c) == 1) or (r2 == r - 1 and c2 in (c, c + 1))
                         or (r2 == r + 1 and c2 in (c - 1, c)))
    return near


NEAR = azerty_neighbours()
TYPO_KINDS = ('swap', 'drop', 'double', 'neighbour')


def typo(query, seed):
    """query with one typing error in one of its words of at least 4 letters, drawn at random
    (uniformly: the word, the kind of error, its place): two neighbouring letters swapped, a
    letter dropped, a letter doubled, or a letter replaced by a neighbouring key of an AZERTY
    keyboard (accented letters count as their base letter there). The draw depends only on
    the seed and the question, so runs and systems see the same typos. Returns (text, kind);
    the query unchanged and None when it has no such word."""
    rng = random.Random(zlib.crc32(f'{seed}\0{query}'.encode()))
    words = [m for m in re.finditer(r'[^\W\d_]+', query) if len(m.group()) >= 4]
    if not words:
        return query, None
    for _ in range(100):
        m = rng.choice(words)
        w = m.group()
        kind = rng.choice(TYPO_KINDS)
        i = rng.randrange(len(w))
        if kind == 'swap':
            i = rng.randrange(len(w) - 1)
            if w[i].lower() == w[i + 1].lower():
                continue
            new = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        elif kind == 'drop':
            new = w[:i] + w[i + 1:]
        elif kind == 'double':
            new = w[:i + 1] + w[i:]
        else:
            base = strip_accent(w[i].lower())
            if base not in NEAR:
                continue
            sub = rng.choice(NEAR[base])
            new = w[:i] + (sub.upper() if w[i].isupper() else sub) + w[i + 1:]
        return query[:m.start()] + new + query[m.end():], kind
    return query, None


def strip_accent(ch):
    import unicodedata
    return unicodedata.normalize('NFD', ch)[0]


def fts5_system(docs):
    db = sqlite3.connect(':memory:')
    db.execute('CREATE VIRTUAL TABLE d USING fts5(slug UNINDEXED, title, body, '
               'tokenize="unicode61 remove_diacritics 2")')
    db.executemany('INSERT INTO d VALUES (?, ?, ?)', docs)

    def search(query):
        words = re.findall(r'\w+', query)
        if not words:
            return []
        match = ' OR '.join('"' + w.replace('"', '""') + '"' for w in words)
        rows = db.execute('SELECT slug FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT 10', (match,))
        return [r[0] for r in rows]
    return search


def xapian_system(docs):
    import xapian
    db = xapian.WritableDatabase('', xapian.DB_BACKEND_INMEMORY)
    tg = xapian.TermGenerator()
    tg.set_stemmer(xapian.Stem('french'))
    for slug, title, body in docs:
        doc = xapian.Document()
        tg.set_document(doc)
        tg.index_text(title)
        tg.index_text(body)
        doc.set_data(slug)
        db.add_document(doc)
    qp = xapian.QueryParser()
    qp.set_stemmer(xapian.Stem('french'))
    qp.set_stemming_strategy(xapian.QueryParser.STEM_SOME)
    qp.set_default_op(xapian.Query.OP_OR)
    qp.set_database(db)
    enquire = xapian.Enquire(db)

    def search(query):
        try:
            enquire.set_query(qp.parse_query(query))
        except xapian.QueryParserError:
            return []
        return [m.document.get_data().decode() for m in enquire.get_mset(0, 10)]
    return search


def lunr_system(docs, tmp, boost):
    """Real lunr.js through lunr.mjs (one node process per corpus, a query per line)."""
    if not shutil.which('node') or not os.path.isdir(os.path.join(HERE, 'node_modules', 'lunr')):
        raise FileNotFoundError('lunr')
    path = os.path.join(tmp, f'lunr-docs-{len(os.listdir(tmp))}.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump([{'slug': s, 'title': t, 'body': b} for s, t, b in docs], f)
    proc = subprocess.Popen(['node', os.path.join(HERE, 'lunr.mjs'), path, str(boost)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            encoding='utf-8')

    def search(query):
        proc.stdin.write(query.replace('\n', ' ') + '\n')
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())
    search.close = lambda: (proc.stdin.close(), proc.wait())
    return search


def kb_import(kb, corpus, tmp, synonyms=None):
    """A kb database of corpus in a new folder of tmp (kb import); its path."""
    work = tempfile.mkdtemp(dir=tmp)
    db = os.path.join(work, 'kb.db')
    if synonyms:
        # kb reads synonyms from <imported folder>/synonyms/<lang>.txt: import a copy of the
        # corpus with the file beside it.
        copy = os.path.join(work, 'corpus')
        shutil.copytree(corpus, copy)
        os.makedirs(os.path.join(copy, 'synonyms'), exist_ok=True)
        shutil.copy(synonyms, os.path.join(copy, 'synonyms', 'fr.txt'))
        corpus = copy
    subprocess.run([kb, '--db', db, 'import', corpus], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return db


class KbServer:
    """kb serve on a free loopback port over db, with extra environment env (the search
    tuning hooks of search/query.cc); search() asks the JSON API as an anonymous caller."""

    def __init__(self, kb, db, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([kb, '--db', db, 'serve', '--port', '0', '--chat-port', '0',
                                      '--threads', '1', '--search-log-days', '1'],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env=e)
        port = None
        for line in self.proc.stdout:
            m = re.match(r'listening on http://[^:]+:(\d+)', line)
            if m:
                port = int(m.group(1))
                break
        if not port:
            self.proc.kill()
            raise RuntimeError('kb serve did not start')
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)

    def ask(self, query, **params):
        q = urllib.parse.urlencode(dict({'q': query, 'lang': 'fr', 'limit': 10}, **params))
        self.conn.request('GET', '/api/v1/search?' + q)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f'{r.status} for {query!r}: {body[:200]!r}')
        return json.loads(body)

    def close(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait()


def kb_system(kb, db, env=None):
    server = KbServer(kb, db, env)

    def search(query):
        res = server.ask(query)
        search.took_ms.append(res['took_ms'])
        if res.get('corrected_query'):
            search.corrected += 1
        return [r['slug'] for r in res['results']]
    search.took_ms = []
    search.corrected = 0
    search.close = server.close
    return search


def score(search, questions):
    """hit@1, hit@3, MRR@10, the misses of the top 3, and each question's ranking."""
    hit1 = hit3 = mrr = 0.0
    misses = []
    rankings = []
    for query, expected in questions:
        ranked = search(query)[:10]
        rankings.append(ranked)
        rank = ranked.index(expected) + 1 if expected in ranked else 0
        hit1 += rank == 1
        hit3 += 1 <= rank <= 3
        mrr += 1.0 / rank if rank else 0.0
        if not 1 <= rank <= 3:
            misses.append((query, expected, rank, ranked[:3]))
    n = len(questions)
    return hit1 / n, hit3 / n, mrr / n, misses, rankings


def load_questions(path):
    with open(path, encoding='utf-8') as f:
        return [(r[0], r[1]) for r in csv.reader(f, delimiter='\t')][1:]


def typed_questions(questions, seed):
    """The questions with one typo each (typo()), and how many of each kind."""
    typos = [(typo(q, seed), e) for q, e in questions]
    kinds = {}
    for (_, kind), _ in typos:
        kinds[kind] = kinds.get(kind, 0) + 1
    return [(t, e) for (t, _), e in typos], kinds


def run_set(path, systems, args):
    """Scores of every system on one set: {system: {'mrr', 'h1', 'h3', 'typos', 'ratio',
    'same'}} (the last three with --typos)."""
    questions = load_questions(path)
    print(f'\n== {os.path.basename(path)}: {len(questions)} questions on '
          f'{len(set(e for _, e in questions))} articles')
    results = {}
    print(f'{"system":8} {"hit@1":>7} {"hit@3":>7} {"MRR@10":>7}')
    clean_ms, clean_corrected = [], 0
    for name, search in systems:
        if name == 'kb':
            search.took_ms.clear()
            search.corrected = 0
        h1, h3, mrr, misses, rankings = score(search, questions)
        if name == 'kb':
            clean_corrected = search.corrected
            clean_ms = list(search.took_ms)
        results[name] = {'mrr': mrr, 'h1': h1, 'h3': h3, 'misses': misses, 'rankings': rankings}
        print(f'{name:8} {h1:7.3f} {h3:7.3f} {mrr:7.3f}')
    if 'kb' in results:
        best_name, best = max(((k, v['mrr']) for k, v in results.items() if k != 'kb'),
                              key=lambda kv: kv[1])
        print(f'kb MRR@10 / best reference ({best_name}) = {results["kb"]["mrr"] / best:.3f} '
              f'({(results["kb"]["mrr"] / best - 1) * 100:+.1f}%)')
        if args.failures:
            for query, expected, rank, top in results['kb']['misses']:
                print(f'  miss: {query!r} expected {expected} at {rank or ">10"}; top3 {top}')
    if not args.typos:
        return results
    typed, kinds = typed_questions(questions, args.seed)
    print(f'-- with one typo per question (seed {args.seed}; '
          + ', '.join(f'{k} {v}' for k, v in sorted(kinds.items(), key=str)) + ')')
    print(f'{"system":8} {"MRR@10":>7} {"typos":>7} {"ratio":>7} {"first unchanged":>16}')
    for name, search in systems:
        if name == 'kb':
            search.took_ms.clear()
            search.corrected = 0
        _, _, mrr, _, rankings = score(search, typed)
        clean = results[name]
        same = sum((a[:1] == b[:1]) for a, b in zip(clean['rankings'], rankings)) / len(questions)
        ratio = mrr / clean['mrr'] if clean['mrr'] else 0.0
        clean.update(typos=mrr, ratio=ratio, same=same)
        print(f'{name:8} {clean["mrr"]:7.3f} {mrr:7.3f} {ratio:7.3f} {same:16.3f}')
        if name == 'kb':
            typo_ms = search.took_ms
            print(f'kb: {search.corrected} of {len(questions)} queries corrected with typos, '
                  f'{clean_corrected} without; '
                  f'took_ms median {statistics.median(clean_ms):.2f} clean, '
                  f'{statistics.median(typo_ms):.2f} with typos (mean {statistics.mean(clean_ms):.2f}, '
                  f'{statistics.mean(typo_ms):.2f})')
            if args.failures:
                for (t, e), a, b in zip(typed, clean['rankings'], rankings):
                    if a[:1] != b[:1]:
                        print(f'  changed: {t!r} first {b[:1]} instead of {a[:1]} (expected {e})')
    return results


def summary(table, typos):
    """The Markdown table of every set and system (README.md)."""
    print('\n| set | system | hit@1 | MRR@10 |' + (' with typos | ratio | first result unchanged |'
                                                    if typos else ''))
    print('|---|---|---|---|' + ('---|---|---|' if typos else ''))
    for path, nq, results in table:
        first = True
        for name, r in results.items():
            label = f'{os.path.basename(path)} ({nq})' if first else ''
            first = False
            line = f'| {label} | {name} | {r["h1"]:.3f} | {r["mrr"]:.3f} |'
            if typos:
                line += f' {r["typos"]:.3f} | {r["ratio"]:.3f} | {r["same"]:.3f} |'
            print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--kb', help='path to the kb binary (omit to run the references only)')
    ap.add_argument('--sets', help='question sets of this folder: fit, holdout, all, or names '
                    '(comma-separated; default questions)')
    ap.add_argument('--all-sets', action='store_true', help='every set of this folder (--sets all)')
    ap.add_argument('--tsv', action='append', help='another question set (repeatable), on --corpus')
    ap.add_argument('--corpus', default=CORPORA['service-public'],
                    help='the corpus of the --tsv sets (default service-public)')
    ap.add_argument('--typos', action='store_true', help='ask each question again with one typo')
    ap.add_argument('--seed', type=int, default=1, help='seed of the typos (default 1)')
    ap.add_argument('--failures', action='store_true', help="list kb's misses of the top 3 (and, "
                    'with --typos, the questions whose first result changed)')
    ap.add_argument('--synonyms', help='a synonyms file for kb (content/synonyms/fr.txt format) on '
                    'the service-public corpus; the references have none')
    ap.add_argument('--lunr-boost', type=float, default=3,
                    help="lunr's title boost (default 3: the best of 1, 3, 10, 30 on the fit sets)")
    ap.add_argument('--kb-env', action='append', default=[], metavar='NAME=VALUE',
                    help="environment of kb serve (the search tuning hooks, search/query.cc)")
    args = ap.parse_args()
    sets = []
    if args.all_sets:
        sets += pick_sets('all')
    if args.sets:
        sets += pick_sets(args.sets)
    sets += [(os.path.abspath(t), os.path.abspath(args.corpus)) for t in args.tsv or []]
    if not sets:
        sets = pick_sets('questions')
    env = dict(kv.split('=', 1) for kv in args.kb_env)
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        built = {}  # corpus -> systems
        warned = set()
        for path, corpus in sets:
            corpus = os.path.realpath(corpus)
            if corpus not in built:
                docs = load_corpus(corpus)
                print(f'\ncorpus {os.path.basename(corpus)}: {len(docs)} articles')
                systems = [('fts5', fts5_system(docs))]
                for name, make in (('xapian', lambda: xapian_system(docs)),
                                   ('lunr', lambda: lunr_system(docs, tmp, args.lunr_boost))):
                    try:
                        systems.append((name, make()))
                    except (ImportError, FileNotFoundError):
                        if name not in warned:
                            warned.add(name)
                            print({'xapian': 'python3-xapian missing: apt-get install python3-xapian',
                                   'lunr': f'lunr missing: (cd {HERE} && npm ci)'}[name],
                                  file=sys.stderr)
                if args.kb:
                    syn = args.synonyms if corpus == os.path.realpath(CORPORA['service-public']) else None
                    db = kb_import(os.path.abspath(args.kb), corpus, tmp, syn)
                    systems.append(('kb', kb_system(os.path.abspath(args.kb), db, env)))
                built[corpus] = systems
            results = run_set(path, built[corpus], args)
            table.append((path, len(load_questions(path)), results))
        for systems in built.values():
            for _, search in systems:
                if hasattr(search, 'close'):
                    search.close()
    summary(table, args.typos)


if __name__ == '__main__':
    main()
