/* http_module.c: luaopen_aurous_core_http, the HTTP half of the core (Session,
 * Transfer, Response over libcurl). Users reach it as core.session / core.transfer:
 * core.c loads it on first use. */
#include <curl/curl.h>
#include "core.h"

int luaopen_aurous_core_http(lua_State *L);

int luaopen_aurous_core_http(lua_State *L) {
  /* curl_global_init is refcounted by libcurl; one call per process is enough */
  static int curl_ready = 0;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return luaL_error(L, "aurous.core: curl_global_init failed");
    curl_ready = 1;
  }
  lua_newtable(L);
  lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
  lua_setfield(L, -2, "curl_version");
  aur_open_transfer(L); /* first: Session methods hold the Transfer metatable */
  aur_open_session(L);
  return 1;
}
