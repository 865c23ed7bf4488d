/* core.c: luaopen_aurous_core, the module table of the C core.
 * Two parts live in shared objects of their own, loaded the first time one of
 * their names is looked up: the HTTP objects (core.session, core.transfer,
 * core.curl_version, core.header_list, core.transfer_template,
 * core.parse_headers; aurous.core.http,
 * linked to libcurl) and the crypto functions (core.hmac_sha256_hex,
 * core.constant_time_equal, core.random_bytes; aurous.core.crypto, linked to
 * OpenSSL's libcrypto). Binding those libraries
 * costs more than the rest of `require "aurous"`, and a script that only
 * encodes JSON never pays for them. */
#include <string.h>
#include "core.h"

#define AUROUS_CORE_VERSION "0.1.0"

int luaopen_aurous_core(lua_State *L);

/* Which module holds each lazily loaded name. */
static const struct { const char *name, *module; } lazy_names[] = {
  {"session", "aurous.core.http"},
  {"transfer", "aurous.core.http"},
  {"curl_version", "aurous.core.http"},
  {"parse_headers", "aurous.core.http"},
  {"header_list", "aurous.core.http"},
  {"transfer_template", "aurous.core.http"},
  {"hmac_sha256_hex", "aurous.core.crypto"},
  {"constant_time_equal", "aurous.core.crypto"},
  {"random_bytes", "aurous.core.crypto"},
  {NULL, NULL}
};

/* module.__index(module, key): for a lazy name, require its module, copy the
 * module's fields into this one (so this runs once per module), and answer. A
 * field the program already set here (a wrapper of core.transfer, say) is kept. */
static int core_index(lua_State *L) {
  const char *key, *module = NULL;
  int i;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  key = lua_tostring(L, 2);
  for (i = 0; lazy_names[i].name != NULL; i++)
    if (strcmp(key, lazy_names[i].name) == 0) module = lazy_names[i].module;
  if (module == NULL) return 0;
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "%s did not return a table", module);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    lua_rawget(L, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 1);
    } else {
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  lua_rawget(L, 1);
  return 1;
}

int luaopen_aurous_core(lua_State *L) {
  lua_newtable(L);
  lua_pushliteral(L, AUROUS_CORE_VERSION);
  lua_setfield(L, -2, "version");
  aur_open_json(L);
  aur_open_clock(L);
  lua_newtable(L);
  lua_pushcfunction(L, core_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}
