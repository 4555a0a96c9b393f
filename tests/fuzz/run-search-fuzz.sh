#!/usr/bin/env bash
# Build the search fuzzer with clang (libFuzzer + ASan + UBSan) and run it: any query text
# against a small index (search/, the C++ over Xapian, instrumented too).
# usage: tests/fuzz/run-search-fuzz.sh [SECONDS]   (default 60)
. "$(dirname "$0")/common.sh"
secs=${1:-60}
mkdir -p "$out/search-obj" "$out/corpus-search"
# Seeds: three parameter bytes (the third: prefix, verbatim, scope, stretch), then a query
# (hostile ones from the integration tests' spirit, typos, prefixes, words of the internal
# and the draft article one edit away).
i=0
for q in "réviser ma voiture" "garentie" "sav" "prêt immobilier" "main d'oeuvre" \
         '"(NEAR*- DROP TABLE' "recalls" "Werkstatttermin" "ŒUVRE cœur" "a OR b AND NOT c" \
         "garentie vehicule" "rapel constructeur" "garantie constr" "remmise maximal" \
         "brouillonn secrte" "vehicul electriqe" "a b c d e f g h" "aaaaaaaaaaaaaaaaaaaaaaaaaa" \
         "pourquoi la garantie" "comment ? de la le" "qui quoi quand garentie"; do
  for flags in '\x00' '\x01' '\x02' '\x09' '\x0e' '\x10'; do
    printf "\x12\x01$flags%s" "$q" > "$out/corpus-search/seed$i"; i=$((i + 1))
  done
done
printf '\x12\x01\x11\xff\xfe\xc3 \xe9t\xc3' > "$out/corpus-search/seed$i"
san="-g -O1 -fsanitize=fuzzer-no-link,address,undefined"
flags="$san -D_GNU_SOURCE -I. $(pkg-config --cflags xapian-core jansson libutf8proc)"
objs=()
for f in search/index.cc search/generations.cc search/writer.cc search/query.cc \
         search/snippet.cc search/lang.cc search/vocab.cc; do
  o="$out/search-obj/$(basename "$f").o"
  clang++ -std=c++17 $flags -c "$f" -o "$o"; objs+=("$o")
done
for f in search/words.c kb/base/text.c kb/base/buf.c kb/base/err.c kb/base/log.c; do
  o="$out/search-obj/$(basename "$f").o"
  clang -std=c17 $flags -c "$f" -o "$o"; objs+=("$o")
done
clang -std=c17 $flags -c tests/fuzz/fuzz_search.c -o "$out/search-obj/fuzz_search.o"
clang++ -g -fsanitize=fuzzer,address,undefined "$out/search-obj/fuzz_search.o" "${objs[@]}" \
  $(pkg-config --libs xapian-core jansson libutf8proc) -lpthread -lm -o "$out/fuzz_search"
"$out/fuzz_search" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 \
  "$out/corpus-search"
