#!/usr/bin/python3
"""Relevance benchmark: hit@1, hit@3 and MRR@10 of kb against two baselines on the same
corpus and questions, in one run.

  kb           kb import + kb search --lang fr --json (the product, as shipped)
  fts5         SQLite FTS5, unicode61 remove_diacritics 2, bm25(), OR of the words
  xapian       plain Xapian: French stemmer, default BM25, QueryParser with OR

usage: tests/bench/relevance/run.py [--kb build/kb/cli/kb] [--corpus DIR] [--tsv FILE] [--failures]
                                   [--synonyms FILE]
Runs with Debian's python3 (/usr/bin/python3) and python3-xapian (apt-get install python3-xapian).
"""
import argparse
import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

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
        return [r['slug'] for r in json.loads(out)['results']]
    return search


def score(search, questions):
    hit1 = hit3 = mrr = 0.0
    misses = []
    for query, expected in questions:
        ranked = search(query)[:10]
        rank = ranked.index(expected) + 1 if expected in ranked else 0
        hit1 += rank == 1
        hit3 += 1 <= rank <= 3
        mrr += 1.0 / rank if rank else 0.0
        if not 1 <= rank <= 3:
            misses.append((query, expected, rank, ranked[:3]))
    n = len(questions)
    return hit1 / n, hit3 / n, mrr / n, misses


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--kb', help='path to the kb binary (omit to run the baselines only)')
    ap.add_argument('--corpus', default=os.path.join(ROOT, '..', 'shared', 'data', 'service-public-fr'))
    ap.add_argument('--tsv', default=os.path.join(HERE, 'questions.tsv'))
    ap.add_argument('--failures', action='store_true', help="list kb's misses of the top 3")
    ap.add_argument('--synonyms', help='a synonyms file for kb (content/synonyms/fr.txt format); '
                    'the baselines have none')
    args = ap.parse_args()
    with open(args.tsv, encoding='utf-8') as f:
        questions = [(r[0], r[1]) for r in csv.reader(f, delimiter='\t')][1:]
    docs = load_corpus(args.corpus)
    print(f'{len(questions)} questions on {len(set(e for _, e in questions))} articles, '
          f'corpus of {len(docs)} articles')
    systems = [('fts5', fts5_system(docs))]
    try:
        systems.append(('xapian', xapian_system(docs)))
    except ImportError:
        print('python3-xapian missing: apt-get install python3-xapian', file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        if args.kb:
            systems.append(('kb', kb_system(os.path.abspath(args.kb), args.corpus, tmp,
                                            args.synonyms)))
        results = {}
        print(f'{"system":8} {"hit@1":>7} {"hit@3":>7} {"MRR@10":>7}')
        for name, search in systems:
            h1, h3, mrr, misses = score(search, questions)
            results[name] = (mrr, misses)
            print(f'{name:8} {h1:7.3f} {h3:7.3f} {mrr:7.3f}')
    if 'kb' in results:
        best = max(v[0] for k, v in results.items() if k != 'kb')
        print(f'kb MRR@10 / best baseline = {results["kb"][0] / best:.3f} '
              f'({(results["kb"][0] / best - 1) * 100:+.1f}%)')
        if args.failures:
            for query, expected, rank, top in results['kb'][1]:
                print(f'  miss: {query!r} expected {expected} at {rank or ">10"}; top3 {top}')


if __name__ == '__main__':
    main()
