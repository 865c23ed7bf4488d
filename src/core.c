/* core.c: luaopen_aurous_core, the module table of the C core.
 * The HTTP objects (core.session, core.transfer, core.curl_version) live in a
 * second shared object, aurous.core.http, loaded the first time one of them is
 * looked up: loading libcurl and its libraries costs more than the rest of
 * `require "aurous"`, and a script that only verifies webhooks or encodes JSON
 * never pays it. */
#include <string.h>
#include "core.h"

#define AUROUS_CORE_VERSION "0.1.0"

int luaopen_aurous_core(lua_State *L);

/* module.__index(module, key): for the HTTP names, require "aurous.core.http",
 * copy its fields into the module (so this runs once), and answer. */
static int core_index(lua_State *L) {
  static const char *const http_names[] = {"session", "transfer", "curl_version", NULL};
  const char *key = lua_tostring(L, 2);
  int i, is_http = 0;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  for (i = 0; http_names[i] != NULL; i++) is_http |= strcmp(key, http_names[i]) == 0;
  if (!is_http) return 0;
  lua_getglobal(L, "require");
  lua_pushliteral(L, "aurous.core.http");
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "aurous.core.http did not return a table");
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, 1);
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
  aur_open_crypto(L);
  aur_open_clock(L);
  lua_newtable(L);
  lua_pushcfunction(L, core_index);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}
