#!/usr/bin/env bash
# Bot benchmark: kb against rivescript-js (npm) in the same run, on the same work:
#   big   replies/s on a brain of 2,000 generated triggers (gen.mjs)
#   rsts  replies/s replaying the whole RiveScript Test Suite (each test's brain built,
#         sorted and chatted with, as the suite runner does)
#   memory per user session: 10,000 users x 5 messages on the big brain
# usage: tests/bench/bot/run.sh [ROUNDS]   (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=${1:-5}
[ -d "$here/node_modules/rivescript" ] && [ -d "$here/node_modules/js-yaml" ] ||
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here" && node gen.mjs "$work" "$root/../shared/data/rsts")
gcc -O2 -std=c17 -D_GNU_SOURCE -I"$root" "$here/bench.c" "$root"/bot/{brain,parse,sort,match,reply,user,cli}.c \
  "$root"/kb/{buf,text,err,log}.c \
  $(pkg-config --cflags --libs jansson libutf8proc libsodium) -lpthread -lm -o "$work/bench"
"$work/bench" "$work" "$rounds" > "$work/kb.txt"
(cd "$here" && node --expose-gc bench.mjs "$work" "$rounds") > "$work/js.txt"
v() { awk -v k="$2" '$1 == k {print $2}' "$1"; }
for k in big rsts; do
  a=$(v "$work/kb.txt" $k); b=$(v "$work/js.txt" $k)
  awk -v k=$k -v a="$a" -v b="$b" 'BEGIN { printf "%-5s kb %8d replies/s   rivescript-js %7d replies/s   ratio %.1fx\n", k, a, b, a / b }'
done
echo "memory per user session (10,000 users, 5 messages each): kb $(v "$work/kb.txt" session) B" \
  "(RSS growth $(v "$work/kb.txt" session_rss) B), rivescript-js heap $(v "$work/js.txt" session) B"
