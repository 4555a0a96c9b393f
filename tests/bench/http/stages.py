#!/usr/bin/python3
"""Where the CPU of one search goes: reads `perf script -F comm,tid,ip,sym` (call graphs,
inlined frames included) of kb serve under wrk, and gives each sample to one stage: the
innermost stage function found on its call chain (so that snippets, called from the hits,
count as snippets, and the facet spy, called by Xapian's matcher, as facets). Samples that
reach no stage function are the HTTP server's own work (libmicrohttpd, the kernel's TCP).
usage: perf script ... | stages.py [CPU_US_PER_REQUEST]"""
import re
import sys

# (stage, pattern on the frame's symbol), innermost match wins; the order only breaks ties
# between patterns matching the same frame.
STAGES = [
    ('facets (match spy, counts)', r'category_spy|fill_facets'),
    ('Xapian matcher (get_mset: postings, weights, table reads)', r'Enquire::get_mset|Enquire::Internal::get_mset'),
    ('snippets (search_snippet)', r'search_snippet\b|search_snippet_words'),
    ('hits: display data (search_doc_display, copies)', r'fill_hits|search_doc_display'),
    ('typo correction (plan_query: vocabulary, fixes)', r'plan_query|fix_of|search_vocab_'),
    ('query building (analyse, stems, synonyms, Xapian::Query)', r'namespace\)::build\b|^build\b|analyse|lang_query|keep_rarest|field_query|word_query'),
    ('parse (clean, split, languages)', r'clean_query|split_words|query_langs'),
    ('search: rest (Enquire set-up, result)', r'search_run_once|search_result_free|search_run\b'),
    ('JSON: building the object', r'kb_http_search_json'),
    ('JSON: encoding (json_dump)', r'kb_resp_json|json_dump'),
    ('search log, metrics, rate limit', r'kb_usage_search|kb_metrics_search|kb_http_allow'),
    ('reader reopen check', r'kb_worker_index|search_index_reopen'),
    ('HTTP handler: route, validation, headers, response', r'access_handler'),
]
COMPILED = [(name, re.compile(p)) for name, p in STAGES]


def stage_of(frames):
    for sym in frames:  # innermost first
        for name, rx in COMPILED:
            if rx.search(sym):
                return name
    return 'HTTP server: libmicrohttpd, kernel TCP, scheduling'


def main():
    cpu_us = float(sys.argv[1]) if len(sys.argv) > 1 else None
    counts, total, frames = {}, 0, None
    for line in sys.stdin:
        if not line.strip():
            if frames is not None:
                s = stage_of(frames)
                counts[s] = counts.get(s, 0) + 1
                total += 1
            frames = None
            continue
        if not line.startswith((' ', '\t')):
            frames = []
            continue
        parts = line.split(None, 1)
        if frames is not None:
            frames.append(parts[1].strip() if len(parts) > 1 else '')
    if frames:
        s = stage_of(frames)
        counts[s] = counts.get(s, 0) + 1
        total += 1
    if not total:
        print('no samples')
        return
    for name, _ in STAGES + [('HTTP server: libmicrohttpd, kernel TCP, scheduling', '')]:
        n = counts.get(name, 0)
        us = f'  {cpu_us * n / total:6.1f} us' if cpu_us else ''
        print(f'  {100.0 * n / total:5.1f}%{us}  {name}')
    print(f'  ({total} samples)')


main()
