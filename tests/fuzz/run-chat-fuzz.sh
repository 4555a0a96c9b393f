#!/usr/bin/env bash
# Build the chat-frame fuzzer (customers' and agents' frames) with clang (libFuzzer + ASan + UBSan) and run it.
# usage: tests/fuzz/run-chat-fuzz.sh [SECONDS]   (default 60)
. "$(dirname "$0")/common.sh"
secs=${1:-60}
mkdir -p "$out/corpus-chat"
# Seed with the frames of the protocol.
i=0
for f in '{"type":"start","lang":"fr","resume":"abc","after":12,"page":"/a/x"}' \
         '{"type":"message","id":"c-1","text":"Où est ma voiture ?"}' '{"type":"end"}' \
         '{"type":"start","lang":"en"}' '[1]' '{"type":"message","id":"a","text":"\u00e9\ud83d\ude00"}' \
         '{"type":"take","conversation":"conv_abc"}' '{"type":"leave","conversation":"conv_a"}' \
         '{"type":"message","conversation":"conv_a","id":"a-1","text":"Bonjour","articles":["garantie"]}' \
         '{"type":"case","conversation":"conv_a","subject":"Siège"}'; do
  printf '%s' "$f" > "$out/corpus-chat/seed$i"; i=$((i + 1))
done
clang -g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/fuzz_chat.c kb/chat/frames.c kb/base/buf.c kb/base/text.c kb/base/err.c kb/base/log.c \
  $(pkg-config --cflags --libs jansson libutf8proc) \
  -o "$out/fuzz_chat"
"$out/fuzz_chat" -max_total_time="$secs" -max_len=9000 -print_final_stats=1 "$out/corpus-chat"
