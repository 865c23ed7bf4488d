/* headers_fuzz.c: libFuzzer target for the response-header collector
 * (aur_headers_feed, response.c) and the Lua tables built from it
 * (aur_headers_push, the case-insensitive headers metatable, and the
 * header_list a Response builds from its raw_headers on first read, which must
 * list exactly the fields the collector found, and core.parse_headers of that raw
 * block, which must build the same headers table).
 *
 * Input: byte 0 picks max_header_size (0 = no limit, else byte * 64); the rest
 * is split into lines after each '\n', each line handed over as libcurl's
 * header callback would. Build and run with fuzz/run-headers.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

static void check(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "invariant failed: %s\n", what);
    abort();
  }
}

static int push_and_probe(lua_State *L1) {
  const aur_headers *h = (const aur_headers *)lua_touserdata(L1, 1);
  size_t i;
  aur_headers_push(L1, h);                /* headers */
  /* a Response holding the raw block: its header_list */
  lua_newtable(L1);
  lua_pushlstring(L1, h->raw.data != NULL ? h->raw.data : "", h->raw.len);
  lua_setfield(L1, -2, "raw_headers");
  luaL_setmetatable(L1, AUR_RESPONSE_MT);
  lua_getfield(L1, -1, "header_list");
  check(lua_istable(L1, -1) && aur_rawlen(L1, -1) == h->count, "header_list length");
  for (i = 0; i < h->count; i++) {
    const aur_header_field *f = &h->fields[i];
    size_t n;
    const char *s;
    lua_rawgeti(L1, -1, (int)i + 1);
    lua_rawgeti(L1, -1, 1);
    s = lua_tolstring(L1, -1, &n);
    check(s != NULL && n == f->name_len && memcmp(s, AUR_FIELD_NAME(h, f), n) == 0, "header_list name");
    lua_rawgeti(L1, -2, 2);
    s = lua_tolstring(L1, -1, &n);
    check(s != NULL && n == f->value_len && memcmp(s, AUR_FIELD_VALUE(h, f), n) == 0, "header_list value");
    lua_pop(L1, 3);
  }
  lua_pop(L1, 2);                         /* header_list, response */
  for (i = 0; i < h->count; i++) {
    const aur_header_field *f = &h->fields[i];
    /* the original-case name must find a value through __index */
    lua_pushlstring(L1, AUR_FIELD_NAME(h, f), f->name_len);
    lua_gettable(L1, -2);
    check(lua_type(L1, -1) == LUA_TSTRING, "case-insensitive lookup");
    check(lua_rawlen(L1, -1) >= f->value_len, "joined value length");
    lua_pop(L1, 1);
  }
  lua_pushinteger(L1, 1);
  lua_gettable(L1, -2);                   /* non-string key: nil, no crash */
  check(lua_isnil(L1, -1), "integer key");
  lua_pop(L1, 1);
  /* core.parse_headers of the raw block: the same table, key by key */
  lua_pushcfunction(L1, aur_parse_headers);
  lua_pushlstring(L1, h->raw.data != NULL ? h->raw.data : "", h->raw.len);
  lua_call(L1, 1, 1);
  {
    int headers = lua_gettop(L1) - 1, parsed = lua_gettop(L1), n_headers = 0, n_parsed = 0;
    lua_pushnil(L1);
    while (lua_next(L1, headers) != 0) {
      n_headers++;
      lua_pushvalue(L1, -2);
      lua_rawget(L1, parsed);
      check(lua_rawequal(L1, -1, -2), "parse_headers value");
      lua_pop(L1, 2);
    }
    lua_pushnil(L1);
    while (lua_next(L1, parsed) != 0) {
      n_parsed++;
      lua_pop(L1, 1);
    }
    check(n_headers == n_parsed, "parse_headers keys");
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  aur_headers h;
  size_t pos = 1;
  int rc = AUR_HDR_OK;
  if (size == 0) return 0;
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    aur_response_init(L);
  }
  memset(&h, 0, sizeof h);
  h.limit = (size_t)data[0] * 64;
  while (pos < size && rc == AUR_HDR_OK) {
    const uint8_t *nl = (const uint8_t *)memchr(data + pos, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
    /* a private copy so ASan sees reads past the line */
    char *line = (char *)malloc(len ? len : 1);
    if (line == NULL) break;
    memcpy(line, data + pos, len);
    rc = aur_headers_feed(&h, line, len);
    free(line);
    pos += len;
  }
  check(h.count <= h.cap, "count <= cap");
  if (rc == AUR_HDR_OK && h.limit > 0) check(h.total <= h.limit, "limit respected");
  {
    size_t i;
    for (i = 0; i < h.count; i++) {
      const aur_header_field *f = &h.fields[i];
      check(f->name_len > 0, "non-empty name");
      check(f->name + f->name_len <= h.raw.len, "name in bounds");
      check(f->value + f->value_len <= (f->folded ? h.text.len : h.raw.len), "value in bounds");
      check(memchr(AUR_FIELD_NAME(&h, f), ':', f->name_len) == NULL, "no colon in name");
    }
  }
  if (rc == AUR_HDR_OK) {
    lua_settop(L, 0);
    lua_pushcfunction(L, push_and_probe);
    lua_pushlightuserdata(L, &h);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      if (msg == NULL || strstr(msg, "memory") == NULL) fprintf(stderr, "Lua error: %s\n", msg ? msg : "?");
      check(msg != NULL && strstr(msg, "memory") != NULL, "Lua error other than memory");
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT, 0);
  }
  aur_headers_free(&h);
  return 0;
}
