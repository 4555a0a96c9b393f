#!/usr/bin/env bash
# Build the RiveScript fuzzer with clang (libFuzzer + ASan + UBSan) and run it.
# usage: tests/fuzz/run-bot-fuzz.sh [SECONDS]   (default 60)
. "$(dirname "$0")/common.sh"
secs=${1:-60}
mkdir -p "$out/corpus-bot"
# Seed with the RSTS sources and shipped rules.
find ../shared/data/rsts content -name '*.yml' -o -name '*.rive' 2>/dev/null |
  while read -r f; do cp "$f" "$out/corpus-bot/" 2>/dev/null || true; done
clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/fuzz_bot.c bot/brain.c bot/parse.c bot/sort.c bot/match.c bot/reply.c bot/user.c kb/base/buf.c kb/base/text.c kb/base/err.c kb/base/log.c \
  $(pkg-config --cflags --libs jansson libutf8proc libsodium) -lpthread -lm \
  -o "$out/fuzz_bot"
"$out/fuzz_bot" -max_total_time="$secs" -max_len=65536 -timeout=10 -print_final_stats=1 \
  "$out/corpus-bot"
