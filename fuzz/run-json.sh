#!/bin/sh
# Builds fuzz/json_fuzz.c with libFuzzer + ASan + UBSan and runs it.
#   fuzz/run-json.sh [seconds]   (default 30)
# New inputs go to build/fuzz/corpus-json; fuzz/corpus/json is the seed.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-30}"
out=build/fuzz
mkdir -p "$out/corpus-json"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc fuzz/json_fuzz.c src/json_validate.c src/json_decode.c src/json_encode.c \
  $(pkg-config --cflags lua5.4 libcjson) $(pkg-config --libs lua5.4 libcjson) \
  -o "$out/json_fuzz"
exec "$out/json_fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 \
  -artifact_prefix="$out/" "$out/corpus-json" fuzz/corpus/json
