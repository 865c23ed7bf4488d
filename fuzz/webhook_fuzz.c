/* webhook_fuzz.c: libFuzzer target for webhook verification: lua/aurous/webhooks.lua
 * (parse_header, verify) running on the real core (HMAC, constant-time compare,
 * JSON decode), all inside an embedded lua5.4.
 *
 * Input: byte 0 = flags, byte 1 = header length (0-255, cut to what is left);
 * then the header bytes, then the raw body.
 *   flags & 1: sign the body with the secret first; the fuzzed header is appended
 *              (",…") so that a valid v1 is present: verify must then return the
 *              decoded event, or a decode error for a body that is not JSON
 *   flags & 2: pass the secret in a list beside a second, wrong one
 *   flags & 4: tolerance 0 (else 300); `now` is always the signed timestamp
 *   flags & 8: call verify with a wrong-typed argument (documented argument errors)
 *
 * Invariants: parse_header and verify never raise for string arguments; verify
 * returns a value, or nil and an aurous error object; a raise or a broken invariant
 * aborts. Build and run with fuzz/run-webhook.sh (from the repository root, so
 * that lua/?.lua resolves; AUROUS_LUA_DIR overrides). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "compat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_aurous_core(lua_State *L);
int luaopen_aurous_core_crypto(lua_State *L);

static lua_State *L;

static const char DRIVER[] =
  "local webhooks = require('aurous.webhooks')\n"
  "local errors = require('aurous.errors')\n"
  "local SECRET, OTHER, T = 'whsec_fuzz_secret_0123', 'whsec_other', 1700000000\n"
  "return function(flags, header, body)\n"
  "  local function bit(n) return math.floor(flags / n) % 2 == 1 end\n"
  "  -- parse_header: (integer, {hex…}) or (nil, message)\n"
  "  local t, sigs = webhooks.parse_header(header)\n"
  "  if t then\n"
  "    assert(math.type(t) == 'integer' and t >= 0, 'timestamp')\n"
  "    assert(type(sigs) == 'table' and #sigs > 0, 'signatures')\n"
  "    for _, s in ipairs(sigs) do assert(s:match('^%x+$') and s == s:lower(), 'hex') end\n"
  "  else\n"
  "    assert(type(sigs) == 'string', 'parse message')\n"
  "  end\n"
  "  local signed = bit(1)\n"
  "  if signed then\n"
  "    local good = webhooks.sign(body, SECRET, T)\n"
  "    header = header == '' and good or (good .. ',' .. header)\n"
  "  end\n"
  "  local secrets = bit(2) and { OTHER, SECRET } or SECRET\n"
  "  local opts = { tolerance = bit(4) and 0 or 300, now = T }\n"
  "  local event, err\n"
  "  if bit(8) then\n"
  "    local which = #body % 4\n"
  "    if which == 0 then event, err = webhooks.verify(nil, header, secrets, opts)\n"
  "    elseif which == 1 then event, err = webhooks.verify(body, header, {}, opts)\n"
  "    elseif which == 2 then event, err = webhooks.verify(body, header, secrets, 'x')\n"
  "    else event, err = webhooks.verify(body, header, secrets, { tolerance = -1 }) end\n"
  "    assert(event == nil and errors.is(err) and err.type == 'invalid_argument', 'argument error')\n"
  "    return\n"
  "  end\n"
  "  event, err = webhooks.verify(body, header, secrets, opts)\n"
  "  if event == nil then\n"
  "    assert(errors.is(err), 'error object')\n"
  "    assert(type(tostring(err)) == 'string', 'tostring')\n"
  "    if signed then\n"
  "      -- a valid signature is present: only a bad header element or the body can fail\n"
  "      assert(err.type == 'decode' or err.code == 'malformed_signature', 'signed: ' .. tostring(err))\n"
  "    end\n"
  "  else\n"
  "    assert(err == nil, 'no error beside an event')\n"
  "  end\n"
  "end\n";

static void setup(void) {
  const char *dir = getenv("AUROUS_LUA_DIR");
  char path[1024];
  L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  /* the real core, linked in, as package.preload['aurous.core'] (and its crypto part) */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_aurous_core);
  lua_setfield(L, -2, "aurous.core");
  lua_pushcfunction(L, luaopen_aurous_core_crypto);
  lua_setfield(L, -2, "aurous.core.crypto");
  lua_pop(L, 1);
  if (dir == NULL) dir = "lua";
  snprintf(path, sizeof path, "%s/?.lua;%s/?/init.lua", dir, dir);
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  if (luaL_loadbuffer(L, DRIVER, sizeof DRIVER - 1, "=webhook_fuzz") != 0 ||
      lua_pcall(L, 0, 1, 0) != 0) {
    fprintf(stderr, "webhook_fuzz: setup failed: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_setglobal(L, "fuzz_one");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t hlen;
  static unsigned long runs;
  if (L == NULL) setup();
  if (size < 2) return 0;
  hlen = data[1];
  if (hlen > size - 2) hlen = size - 2;
  lua_settop(L, 0);
  lua_getglobal(L, "fuzz_one");
  lua_pushinteger(L, data[0]);
  lua_pushlstring(L, (const char *)data + 2, hlen);
  lua_pushlstring(L, (const char *)data + 2 + hlen, size - 2 - hlen);
  if (lua_pcall(L, 3, 0, 0) != 0) {
    fprintf(stderr, "webhook_fuzz: raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (++runs % 1024 == 0) lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
