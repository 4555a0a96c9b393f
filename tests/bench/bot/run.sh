#!/usr/bin/env bash
# Bot benchmark: replies/s of kb vs rivescript-js on the same generated brain and inputs.
# usage: tests/bench/bot/run.sh [ROUNDS]   (needs `npm ci` in tests/bench/bot)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
rounds=${1:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node "$here/gen.mjs" "$work"
gcc -O2 -std=c17 -D_GNU_SOURCE -I"$root" "$here/bench.c" "$root/bot/rivescript.c" \
  "$root/bot/cli.c" "$root"/kb/{buf,text,err,log}.c \
  $(pkg-config --cflags --libs jansson libutf8proc) -lpthread -lm -o "$work/bench"
c=$("$work/bench" "$work" "$rounds")
js=$(cd "$here" && node bench.mjs "$work" "$rounds")
echo "kb bot:        $c replies/s"
echo "rivescript-js: $js replies/s"
awk -v a="$c" -v b="$js" 'BEGIN { printf "ratio:         %.1fx\n", a / b }'
