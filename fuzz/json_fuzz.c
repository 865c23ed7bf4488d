/* libFuzzer target: JSON decode, then encode, then decode and encode again.
 * Whatever decodes must encode, and re-encoding its decoding gives the same
 * length (object key order may differ: the encoder follows lua_next).
 * Every input is decoded three times: in one piece, with every container over
 * 8 bytes walked element by element (the path of long documents), and in one
 * piece without the member-name cache of arrays of objects; all three decodings
 * must encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

static lua_State *L;

static void setup(void) {
  L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  lua_newtable(L);
  aur_open_json(L);
  lua_setglobal(L, "core");
}

/* core.json_decode(s) then core.json_encode; returns the encoding (on the stack) or NULL. */
static const char *roundtrip(const char *s, size_t n, size_t *out_len) {
  lua_getglobal(L, "core");
  lua_getfield(L, -1, "json_decode");
  lua_pushlstring(L, s, n);
  if (lua_pcall(L, 1, 2, 0) != 0) abort();          /* decode never raises on a string */
  if (lua_isnil(L, -2)) return NULL;
  lua_pop(L, 1);
  lua_getfield(L, -2, "json_encode");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 2, 0) != 0) abort();          /* nor does encode */
  if (lua_isnil(L, -2)) {
    /* only non-finite numbers (1e999) may fail to encode */
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || (strstr(msg, "cannot encode inf") == NULL && strstr(msg, "cannot encode -inf") == NULL && strstr(msg, "cannot encode NaN") == NULL)) abort();
    return NULL;
  }
  return lua_tolstring(L, -2, out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n1, n2, n3, n4;
  const char *first, *second, *walked, *uncached;
  int top;
  if (L == NULL) setup();
  top = lua_gettop(L);
  aur_json_split_bytes = (size_t)-1;
  first = roundtrip((const char *)data, size, &n1);
  aur_json_split_bytes = 8;
  walked = roundtrip((const char *)data, size, &n3);
  aur_json_split_bytes = (size_t)-1;
  aur_json_key_cache = 0;
  uncached = roundtrip((const char *)data, size, &n4);
  aur_json_key_cache = 1;
  aur_json_split_bytes = AUR_JSON_SPLIT_BYTES;
  if ((first == NULL) != (walked == NULL) || (first == NULL) != (uncached == NULL)) abort();
  if (first != NULL && (n1 != n3 || memcmp(first, walked, n1) != 0)) abort();
  if (first != NULL && (n1 != n4 || memcmp(first, uncached, n1) != 0)) abort();
  if (first != NULL) {
    second = roundtrip(first, n1, &n2);
    if (second == NULL || n1 != n2) abort();
  }
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
