#!/usr/bin/python3
"""Relevance benchmark: hit@1, hit@3 and MRR@10 of kb against two baselines on the same
corpus and questions, in one run.

  kb           kb import + kb search --lang fr --json (the product, as shipped)
  fts5         SQLite FTS5, unicode61 remove_diacritics 2, bm25(), OR of the words
  xapian       plain Xapian: French stemmer, default BM25, QueryParser with OR

With --typos, every question is asked again with one typing error (typo() below) and each
system's MRR@10 with and without typos is printed, their ratio, and the share of questions
whose first result did not change.

usage: tests/bench/relevance/run.py [--kb build/kb/cli/kb] [--corpus DIR] [--tsv FILE]...
                                   [--all-sets] [--typos] [--seed N] [--failures]
                                   [--synonyms FILE]
Runs with Debian's python3 (/usr/bin/python3) and python3-xapian (apt-get install python3-xapian).
"""
import argparse
import csv
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
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))


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


def kb_system(kb, corpus, tmp, synonyms=None):
    db = os.path.join(tmp, 'kb.db')
    if synonyms:
        # kb reads synonyms from <imported folder>/synonyms/<lang>.txt: import a copy of the
        # corpus with the file beside it.
        copy = os.path.join(tmp, 'corpus')
        shutil.copytree(corpus, copy)
        os.makedirs(os.path.join(copy, 'synonyms'), exist_ok=True)
        shutil.copy(synonyms, os.path.join(copy, 'synonyms', 'fr.txt'))
        corpus = copy
    subprocess.run([kb, '--db', db, 'import', corpus], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def search(query):
        out = subprocess.run([kb, '--db', db, 'search', '--lang', 'fr', '--json', query],
                             check=True, capture_output=True, text=True).stdout
        res = json.loads(out)
        search.took_ms.append(res['took_ms'])
        if res.get('corrected_query'):
            search.corrected += 1
        return [r['slug'] for r in res['results']]
    search.took_ms = []
    search.corrected = 0
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


def run_set(path, systems, args):
    questions = load_questions(path)
    print(f'\n== {os.path.basename(path)}: {len(questions)} questions on '
          f'{len(set(e for _, e in questions))} articles')
    results = {}
    print(f'{"system":8} {"hit@1":>7} {"hit@3":>7} {"MRR@10":>7}')
    for name, search in systems:
        if name == 'kb':
            search.took_ms.clear()
            search.corrected = 0
        h1, h3, mrr, misses, rankings = score(search, questions)
        if name == 'kb':
            clean_corrected = search.corrected
        results[name] = (mrr, misses, rankings)
        print(f'{name:8} {h1:7.3f} {h3:7.3f} {mrr:7.3f}')
    clean_ms = list(systems[-1][1].took_ms) if systems[-1][0] == 'kb' else []
    if 'kb' in results:
        best = max(v[0] for k, v in results.items() if k != 'kb')
        print(f'kb MRR@10 / best baseline = {results["kb"][0] / best:.3f} '
              f'({(results["kb"][0] / best - 1) * 100:+.1f}%)')
        if args.failures:
            for query, expected, rank, top in results['kb'][1]:
                print(f'  miss: {query!r} expected {expected} at {rank or ">10"}; top3 {top}')
    if not args.typos:
        return
    typos = [(typo(q, args.seed), e) for q, e in questions]
    kinds = {}
    for (_, kind), _ in typos:
        kinds[kind] = kinds.get(kind, 0) + 1
    typed = [(t, e) for (t, _), e in typos]
    print(f'-- with one typo per question (seed {args.seed}; '
          + ', '.join(f'{k} {v}' for k, v in sorted(kinds.items(), key=str)) + ')')
    print(f'{"system":8} {"MRR@10":>7} {"typos":>7} {"ratio":>7} {"first unchanged":>16}')
    for name, search in systems:
        if name == 'kb':
            search.took_ms.clear()
            search.corrected = 0
        _, _, mrr, _, rankings = score(search, typed)
        clean = results[name]
        same = sum((a[:1] == b[:1]) for a, b in zip(clean[2], rankings)) / len(questions)
        ratio = mrr / clean[0] if clean[0] else 0.0
        print(f'{name:8} {clean[0]:7.3f} {mrr:7.3f} {ratio:7.3f} {same:16.3f}')
        if name == 'kb':
            typo_ms = search.took_ms
            print(f'kb: {search.corrected} of {len(questions)} queries corrected with typos, '
                  f'{clean_corrected} without; '
                  f'took_ms median {statistics.median(clean_ms):.2f} clean, '
                  f'{statistics.median(typo_ms):.2f} with typos (mean {statistics.mean(clean_ms):.2f}, '
                  f'{statistics.mean(typo_ms):.2f})')
            if args.failures:
                for (t, e), a, b in zip(typed, clean[2], rankings):
                    if a[:1] != b[:1]:
                        print(f'  changed: {t!r} first {b[:1]} instead of {a[:1]} (expected {e})')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--kb', help='path to the kb binary (omit to run the baselines only)')
    ap.add_argument('--corpus', default=os.path.join(ROOT, '..', 'shared', 'data', 'service-public-fr'))
    ap.add_argument('--tsv', action='append', help='a question set (repeatable; default questions.tsv)')
    ap.add_argument('--all-sets', action='store_true', help='the four question sets of this folder')
    ap.add_argument('--typos', action='store_true', help='ask each question again with one typo')
    ap.add_argument('--seed', type=int, default=1, help='seed of the typos (default 1)')
    ap.add_argument('--failures', action='store_true', help="list kb's misses of the top 3 (and, "
                    'with --typos, the questions whose first result changed)')
    ap.add_argument('--synonyms', help='a synonyms file for kb (content/synonyms/fr.txt format); '
                    'the baselines have none')
    args = ap.parse_args()
    sets = args.tsv or []
    if args.all_sets:
        sets += [os.path.join(HERE, f) for f in ('questions.tsv', 'questions-holdout.tsv',
                                                 'questions-editor.tsv', 'questions-editor2.tsv')]
    if not sets:
        sets = [os.path.join(HERE, 'questions.tsv')]
    docs = load_corpus(args.corpus)
    print(f'corpus of {len(docs)} articles')
    systems = [('fts5', fts5_system(docs))]
    try:
        systems.append(('xapian', xapian_system(docs)))
    except ImportError:
        print('python3-xapian missing: apt-get install python3-xapian', file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        if args.kb:
            systems.append(('kb', kb_system(os.path.abspath(args.kb), args.corpus, tmp,
                                            args.synonyms)))
        for path in sets:
            run_set(path, systems, args)


if __name__ == '__main__':
    main()
