#!/usr/bin/env bash
# Scale benchmark: N articles replicated from service-public (default 50,000): kb import
# rate, in-process search latency (with the FTS5 reference on the same queries), and the
# server's RSS after serving searches.  usage: tests/bench/scale/run.sh [N] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${1:-50000}
build=${2:-build-bench}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" kb/cli/kb tests/bench/search-latency >/dev/null
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
server=
/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n"
start=$(date +%s.%N)
"$build/kb/cli/kb" --db "$tmp/kb.db" import "$tmp/corpus" 2>/dev/null | tail -1
end=$(date +%s.%N)
python3 -c "print(f'kb import: $n articles in {$end - $start:.1f} s = {$n / ($end - $start):.0f} articles/s (parse, store, index)')"
"$build/tests/bench/search-latency" "$tmp/kb.db" "$tmp/queries.txt"
# Questions as customers type them (the relevance benchmark's editor sets: keywords and
# informal sentences of 2-25 words), on the same index.
tail -q -n +2 tests/bench/relevance/questions-editor.tsv tests/bench/relevance/questions-editor2.tsv |
  cut -f1 > "$tmp/questions.txt"
echo -n "customer questions: "
"$build/tests/bench/search-latency" "$tmp/kb.db" "$tmp/questions.txt"
/usr/bin/python3 tests/bench/scale/fts5-reference.py "$tmp/corpus" "$tmp/queries.txt"
"$build/kb/cli/kb" --db "$tmp/kb.db" serve --port 0 --threads 2 > "$tmp/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 50); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$tmp/serve.out")
head -n 3000 "$tmp/queries.txt" | while read -r q; do
  curl -s -o /dev/null -G --data-urlencode "q=$q" "$base/api/v1/search"
done
echo "kb serve RSS after 3000 searches: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$server/status)"
