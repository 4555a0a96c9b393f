#!/usr/bin/env bash
# Build the article-parser fuzzer with clang (libFuzzer + ASan + UBSan) and run it.
# usage: tests/fuzz/run-article-fuzz.sh [SECONDS]   (default 60)
. "$(dirname "$0")/common.sh"
secs=${1:-60}
mkdir -p "$out/corpus-article"
# Seed with the shipped articles.
find content -name '*.md' -exec cp {} "$out/corpus-article/" \; 2>/dev/null || true
clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/fuzz_article.c kb/articles/article.c kb/base/buf.c kb/base/text.c kb/base/err.c kb/base/log.c \
  $(pkg-config --cflags --libs libcmark-gfm yaml-0.1 jansson libutf8proc) -lcmark-gfm-extensions \
  -o "$out/fuzz_article"
"$out/fuzz_article" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 "$out/corpus-article"
