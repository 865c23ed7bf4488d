# aurous-lua. The README's two commands: `make demo` and `make test`.
# Each installs the Debian packages it needs when they are missing.

LUA      ?= lua5.4
# pkg-config name of each interpreter's headers
PC_lua5.4 := lua5.4
PC_lua5.3 := lua5.3
PC_lua5.1 := lua5.1
PC_luajit := luajit
LUA_PC   := $(PC_$(LUA))

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Werror -pedantic -D_POSIX_C_SOURCE=200809L
SANFLAGS ?=
BUILD    := build/$(LUA)$(if $(SANFLAGS),-san,)
# three shared objects: aurous.core (JSON, clock), aurous.core.http (libcurl)
# and aurous.core.crypto (libcrypto); core.c loads the last two on first use so
# that `require` stays fast
CORE_SRCS := src/core.c src/clock.c src/json_validate.c src/json_decode.c src/json_encode.c
HTTP_SRCS := src/http_module.c src/session.c src/transfer.c src/response.c
CRYPTO_SRCS := src/crypto.c
HDRS     := $(wildcard src/*.h)
# json_decode.c's cJSON hooks read a thread-local pointer for every node: TLS
# descriptors (x86-64, where the compiler takes the flag) make that a load
# instead of a __tls_get_addr call, and stay valid in a dlopen'ed module
TLSFLAGS := $(shell echo 'int x;' | $(CC) $(CFLAGS) -mtls-dialect=gnu2 -x c -c -o /dev/null - 2>/dev/null && echo -mtls-dialect=gnu2)
CORE     := $(BUILD)/aurous/core.so
HTTP     := $(BUILD)/aurous/core/http.so
CRYPTO   := $(BUILD)/aurous/core/crypto.so

# Debian packages, by need
PKGS_BUILD := gcc make pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libcjson-dev libssl-dev python3
PKGS_TEST  := $(PKGS_BUILD) lua-busted valgrind clang lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev \
              luajit libluajit-5.1-dev luarocks lua-check cppcheck neovim lua-ldoc lua-markdown \
              love xvfb xauth

.PHONY: all build deps deps-test test demo valgrind asan docs lint rock clean bench

all: build

build: $(CORE) $(HTTP) $(CRYPTO)

$(CORE): $(CORE_SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TLSFLAGS) $(SANFLAGS) $(WARN) -fPIC -shared -o $@ $(CORE_SRCS) \
	  $$(pkg-config --cflags $(LUA_PC) libcjson) $$(pkg-config --libs libcjson)

$(HTTP): $(HTTP_SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $(WARN) -fPIC -shared -o $@ $(HTTP_SRCS) \
	  $$(pkg-config --cflags $(LUA_PC) libcurl) $$(pkg-config --libs libcurl)

$(CRYPTO): $(CRYPTO_SRCS) $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $(WARN) -fPIC -shared -o $@ $(CRYPTO_SRCS) \
	  $$(pkg-config --cflags $(LUA_PC) libcrypto) $$(pkg-config --libs libcrypto)

deps:
	@scripts/ensure-packages $(PKGS_BUILD)

deps-test:
	@scripts/ensure-packages $(PKGS_TEST)

# Every suite, every interpreter; ends with one line "N passed, N failed".
test: deps-test
	@scripts/test-all

demo: deps
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@scripts/with-mock $(LUA) examples/quickstart.lua

valgrind: deps-test
	@$(MAKE) --no-print-directory build LUA=lua5.4
	@scripts/run-valgrind

asan: deps-test
	@scripts/run-asan

docs: deps-test
	@scripts/docs

lint: deps-test
	@scripts/lint

# installs into ./luarocks (a local tree); drop --tree to install system-wide
rock: deps
	luarocks --lua-version=5.4 make --tree luarocks aurous-scm-1.rockspec

bench: deps-test
	@scripts/run-bench

clean:
	rm -rf build doc luarocks aurous src/*.o
