#!/usr/bin/env bash
# Two kb builds alternated on the chat beside an import: for each of PAIRS rounds, each build
# serves a fresh database of the shipped content, load.mjs sends 1,000 messages/s over 2,000
# conversations for 35 s, and 16 s in `kb import` adds 5,000 service-public articles to it.
# Prints, per run, the import's time and the latency from send to reply over the whole run.
# A before/after taken minutes apart, run by run, on a VM whose other tenants move single
# runs a lot (tests/bench/chat/README.md).
# usage: tests/bench/chat/import-ab.sh KB_A KB_B [PAIRS (3)]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
a=$(realpath "$1"); b=$(realpath "$2"); pairs=${3:-3}
[ -d "$here/node_modules/ws" ] || (cd "$here" && npm ci --no-audit --no-fund >/dev/null) || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$root/tests/bench/scale/make-corpus.py" "$root/../shared/data/service-public-fr" \
  "$tmp/corpus/articles" 5000 10 >/dev/null
one() { # one KB LABEL
  local d; d=$(mktemp -d "$tmp/run.XXXX")
  "$1" --db "$d/kb.db" import "$root/content" >/dev/null 2>&1
  "$1" --db "$d/kb.db" serve --port 0 --chat-port 0 --threads 2 --chat-workers 2 \
    --chat-conn-max 20000 --chat-new-max 1000000 --chat-rate 100 --chat-burst 20 \
    > "$d/serve.out" 2> "$d/serve.err" &
  local pid=$!
  for _ in $(seq 100); do grep -q 'chat on' "$d/serve.out" 2>/dev/null && break; sleep 0.1; done
  local url; url=$(grep -o 'ws://[^ ]*' "$d/serve.out")
  node "$here/load.mjs" --url "$url" --conversations 2000 --rate 1000 --seconds 35 --ramp 500 \
    --pid "$pid" --label "$2" > "$d/load.txt" 2>&1 &
  local lp=$!
  sleep 16
  local s e; s=$(date +%s.%N)
  "$1" --db "$d/kb.db" import "$tmp/corpus" >/dev/null 2>&1
  e=$(date +%s.%N)
  wait "$lp"
  echo "$2: import $(/usr/bin/python3 -c "print(round($e - $s, 1))") s; $(grep 'latency send -> reply' "$d/load.txt")"
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -rf "$d"
}
for r in $(seq "$pairs"); do
  one "$a" "A $r"
  one "$b" "B $r"
done
