/* core.c: luaopen_aurous_core, the module table of the C core. */
#include <curl/curl.h>
#include "core.h"

#define AUROUS_CORE_VERSION "0.1.0"

int luaopen_aurous_core(lua_State *L);

int luaopen_aurous_core(lua_State *L) {
  /* curl_global_init is refcounted by libcurl itself; call it once per load. */
  static int curl_ready = 0;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "aurous.core: curl_global_init failed");
    curl_ready = 1;
  }
  lua_newtable(L);
  lua_pushliteral(L, AUROUS_CORE_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  aur_open_json(L);
  aur_open_crypto(L);
  aur_open_clock(L);
  aur_open_session(L);
  aur_open_transfer(L);
  return 1;
}
