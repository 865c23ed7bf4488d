/* session.c: the Session userdata, one curl multi handle plus one share handle
 * (DNS cache, TLS sessions, connection cache) attached to every transfer added,
 * so the transfers of one Session reuse connections. The Session keeps a
 * registry reference to each transfer in flight and a list of them, so closing
 * either side first leaves no dangling pointer. */
#include <limits.h>
#include <string.h>
#include "http.h"

static aur_session *check_session(lua_State *L, int i) {
  return (aur_session *)luaL_checkudata(L, i, AUR_SESSION_MT);
}

static aur_session *check_open_session(lua_State *L, int i) {
  aur_session *s = check_session(L, i);
  if (s->closed) luaL_error(L, "attempt to use a closed session");
  return s;
}

CURLMcode aur_session_detach(lua_State *L, aur_transfer *t) {
  aur_session *s = t->session;
  CURLMcode rc;
  if (s == NULL) return CURLM_OK;
  rc = curl_multi_remove_handle(s->multi, t->easy);
  /* Done transfers must not pin the share handle (curl_share_cleanup would fail). */
  if (curl_easy_setopt(t->easy, CURLOPT_SHARE, (CURLSH *)NULL) != CURLE_OK && rc == CURLM_OK)
    rc = CURLM_INTERNAL_ERROR;
  if (t->prev != NULL) t->prev->next = t->next;
  else s->head = t->next;
  if (t->next != NULL) t->next->prev = t->prev;
  t->prev = t->next = NULL;
  s->pending--;
  t->session = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
  return rc;
}

/* Aborts every transfer still in flight and frees the handles; idempotent. */
static void session_free(lua_State *L, aur_session *s) {
  if (s->closed) return;
  while (s->head != NULL) {
    aur_transfer *t = s->head;
    (void)aur_session_detach(L, t); /* tearing down: nothing better to do on failure */
    aur_transfer_cancelled(t);
  }
  if (s->multi != NULL) (void)curl_multi_cleanup(s->multi);
  s->multi = NULL;
  if (s->share != NULL) (void)curl_share_cleanup(s->share);
  s->share = NULL;
  aur_defaults_free(&s->defaults);
  s->closed = 1;
}

static void share_option(lua_State *L, aur_session *s, curl_lock_data what) {
  CURLSHcode rc = curl_share_setopt(s->share, CURLSHOPT_SHARE, what);
  if (rc != CURLSHE_OK)
    luaL_error(L, "aurous: curl_share_setopt failed: %s", curl_share_strerror(rc));
}

static int session_new(lua_State *L) {
  int has_opts = !lua_isnoneornil(L, 1);
  aur_session *s;
  if (has_opts) luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  s = (aur_session *)lua_newuserdata(L, sizeof *s);
  memset(s, 0, sizeof *s);
  aur_setmetatable(L, AUR_SESSION_MT);
  s->multi = curl_multi_init();
  s->share = curl_share_init();
  if (s->multi == NULL || s->share == NULL)
    return luaL_error(L, "aurous: cannot create a curl multi/share handle");
  share_option(L, s, CURL_LOCK_DATA_DNS);
  share_option(L, s, CURL_LOCK_DATA_SSL_SESSION);
  share_option(L, s, CURL_LOCK_DATA_CONNECT);
  if (has_opts) aur_defaults_read(L, 1, &s->defaults);
  return 1;
}

static int session_add(lua_State *L) {
  aur_session *s = check_session(L, 1);
  aur_transfer *t = (aur_transfer *)luaL_checkudata(L, 2, AUR_TRANSFER_MT);
  CURLcode erc;
  CURLMcode mrc;
  const char *why = NULL;
  if (s->closed) why = "session is closed";
  else if (t->closed) why = "transfer is closed";
  else if (t->session == s) why = "transfer already added";
  else if (t->state != AUR_NEW) why = "transfer already started or finished";
  if (why != NULL) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  erc = curl_easy_setopt(t->easy, CURLOPT_SHARE, s->share);
  if (erc == CURLE_OK) erc = aur_defaults_apply(t, &s->defaults);
  if (erc != CURLE_OK) {
    lua_pushnil(L);
    lua_pushfstring(L, "curl_easy_setopt (share or session defaults) failed: %s", curl_easy_strerror(erc));
    return 2;
  }
  lua_pushvalue(L, 2);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* before the multi owns it: may raise */
  aur_transfer_begin(t);
  mrc = curl_multi_add_handle(s->multi, t->easy);
  if (mrc != CURLM_OK) {
    (void)curl_easy_setopt(t->easy, CURLOPT_SHARE, (CURLSH *)NULL); /* undoing: best effort */
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
    t->state = AUR_NEW;
    lua_pushnil(L);
    lua_pushfstring(L, "curl_multi_add_handle failed: %s", curl_multi_strerror(mrc));
    return 2;
  }
  t->session = s;
  t->prev = NULL;
  t->next = s->head;
  if (s->head != NULL) s->head->prev = t;
  s->head = t;
  s->pending++;
  lua_pushboolean(L, 1);
  return 1;
}

static void perform(lua_State *L, aur_session *s) {
  int running = 0;
  CURLMcode rc = curl_multi_perform(s->multi, &running);
  if (rc != CURLM_OK)
    luaL_error(L, "aurous: curl_multi_perform failed: %s", curl_multi_strerror(rc));
}

/* Moves every finished transfer out of the multi handle into the array at
 * index `results`; returns the new array length. */
static int collect(lua_State *L, aur_session *s, int results, int n) {
  CURLMsg *msg;
  int queued = 0;
  while ((msg = curl_multi_info_read(s->multi, &queued)) != NULL) {
    CURL *easy;
    CURLcode code;
    char *priv = NULL;
    aur_transfer *t;
    CURLMcode rc;
    if (msg->msg != CURLMSG_DONE) continue;
    easy = msg->easy_handle;
    code = msg->data.result; /* msg is invalid once the handle is removed */
    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || priv == NULL)
      return luaL_error(L, "aurous: finished handle without its transfer");
    t = (aur_transfer *)(void *)priv;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    lua_rawseti(L, results, ++n);
    rc = aur_session_detach(L, t);
    aur_transfer_end(t, code);
    if (rc != CURLM_OK)
      return luaL_error(L, "aurous: curl_multi_remove_handle failed: %s", curl_multi_strerror(rc));
  }
  return n;
}

static int session_step(lua_State *L) {
  aur_session *s = check_open_session(L, 1);
  lua_Number timeout = luaL_optnumber(L, 2, 0);
  int n, results, ms;
  if (!(timeout > 0)) ms = 0; /* also NaN */
  else if (timeout >= (lua_Number)INT_MAX) ms = INT_MAX;
  else ms = (int)timeout;
  lua_settop(L, 2);
  lua_newtable(L);
  results = lua_gettop(L);
  perform(L, s);
  n = collect(L, s, results, 0);
  if (n == 0 && ms > 0) {
    CURLMcode rc = curl_multi_poll(s->multi, NULL, 0, ms, NULL);
    if (rc != CURLM_OK)
      return luaL_error(L, "aurous: curl_multi_poll failed: %s", curl_multi_strerror(rc));
    perform(L, s);
    n = collect(L, s, results, n);
  }
  return 1;
}

static int session_pending(lua_State *L) {
  aur_session *s = check_session(L, 1);
  lua_pushinteger(L, s->pending);
  return 1;
}

static int session_close(lua_State *L) {
  session_free(L, check_session(L, 1));
  return 0;
}

static int session_tostring(lua_State *L) {
  aur_session *s = check_session(L, 1);
  if (s->closed)
    lua_pushliteral(L, "aurous.Session (closed)");
  else
    lua_pushfstring(L, "aurous.Session (%d in flight)", s->pending);
  return 1;
}

void aur_open_session(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"add", session_add},
    {"step", session_step},
    {"pending", session_pending},
    {"close", session_close},
    {"__gc", session_close},
    {"__tostring", session_tostring},
    {NULL, NULL}
  };
  aur_newclass(L, AUR_SESSION_MT, methods);
  aur_setclose(L, session_close);
  lua_pop(L, 1);
  lua_pushcfunction(L, session_new);
  lua_setfield(L, -2, "session");
}
