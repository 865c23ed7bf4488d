#!/bin/sh
# Builds fuzz/webhook_fuzz.c (an embedded lua5.4 running lua/aurous/webhooks.lua on
# the real core, all of src/*.c) with libFuzzer + ASan + UBSan and runs it.
#   fuzz/run-webhook.sh [seconds]   (default 30)
# New inputs go to build/fuzz/corpus-webhook; fuzz/corpus/webhook is the seed.
set -eu
cd "$(dirname "$0")/.."
secs="${1:-30}"
out=build/fuzz
mkdir -p "$out/corpus-webhook"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc fuzz/webhook_fuzz.c src/*.c \
  $(pkg-config --cflags lua5.4 libcurl libcjson libcrypto) \
  $(pkg-config --libs lua5.4 libcurl libcjson libcrypto) \
  -o "$out/webhook_fuzz"
AUROUS_LUA_DIR="$PWD/lua" exec "$out/webhook_fuzz" -max_total_time="$secs" -max_len=4096 -timeout=10 \
  -artifact_prefix="$out/" "$out/corpus-webhook" fuzz/corpus/webhook
