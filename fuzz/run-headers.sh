#!/bin/sh
# Builds fuzz/headers_fuzz.c with libFuzzer + ASan + UBSan and runs it.
#   fuzz/run-headers.sh [seconds]   (default 30)
# New inputs go to build/fuzz/corpus-headers; fuzz/corpus/headers is the seed.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-30}"
out=build/fuzz
mkdir -p "$out/corpus-headers"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc fuzz/headers_fuzz.c src/response.c \
  $(pkg-config --cflags lua5.4 libcurl) $(pkg-config --libs lua5.4 libcurl) \
  -o "$out/headers_fuzz"
exec "$out/headers_fuzz" -max_total_time="$secs" -max_len=4096 -timeout=10 \
  -artifact_prefix="$out/" "$out/corpus-headers" fuzz/corpus/headers
