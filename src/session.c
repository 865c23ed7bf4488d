/* session.c: the Session userdata, one curl multi handle plus one share handle
 * (DNS cache, TLS sessions, connection cache) attached to every transfer added,
 * so the transfers of one Session reuse connections. The Session keeps a
 * registry reference to each transfer in flight and a list of them, so closing
 * either side first leaves no dangling pointer.
 *
 * A step drives libcurl with curl_multi_socket_action: libcurl tells the
 * Session which sockets to watch (socket callback), a step polls them once and
 * hands libcurl only those that are ready, plus its timer when it is due.
 * (curl_multi_perform would visit every transfer, with a poll call each, on
 * every step: 100 transfers waiting on a slow server cost 60-110 us a step.) */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "http.h"

static aur_session *check_session(lua_State *L, int i) {
  return (aur_session *)aur_checkclass(L, i, AUR_SESSION_MT);
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
  if (s->multi != NULL) (void)curl_multi_cleanup(s->multi); /* may still call on_socket */
  s->multi = NULL;
  if (s->share != NULL) (void)curl_share_cleanup(s->share);
  s->share = NULL;
  aur_defaults_free(&s->defaults);
  free(s->sockets);
  s->sockets = NULL;
  free(s->polled);
  s->polled = NULL;
  s->nsockets = s->sockets_cap = 0;
  s->closed = 1;
}

/* CURLMOPT_SOCKETFUNCTION: records what to watch on `fd` (or forgets it).
 * Out of memory is recorded and raised by the step that caused it. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  aur_session *s = (aur_session *)userp;
  size_t i;
  (void)easy;
  (void)socketp;
  for (i = 0; i < s->nsockets; i++)
    if (s->sockets[i].fd == fd) break;
  if (what == CURL_POLL_REMOVE) {
    if (i < s->nsockets) s->sockets[i] = s->sockets[--s->nsockets];
    return 0;
  }
  if (i == s->nsockets) {
    if (s->nsockets == s->sockets_cap) {
      size_t cap = s->sockets_cap ? s->sockets_cap * 2 : 16;
      aur_socket *grown = realloc(s->sockets, cap * sizeof *grown);
      void *polled;
      if (grown == NULL) {
        s->out_of_memory = 1;
        return 0;
      }
      s->sockets = grown;
      polled = realloc(s->polled, cap * sizeof(struct pollfd));
      if (polled == NULL) {
        s->out_of_memory = 1;
        return 0;
      }
      s->polled = polled;
      s->sockets_cap = cap;
    }
    s->sockets[i].fd = fd;
    s->nsockets++;
  }
  s->sockets[i].what = what;
  return 0;
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
  if (curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
      curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, (void *)s) != CURLM_OK)
    return luaL_error(L, "aurous: curl_multi_setopt (socket callback) failed");
  if (has_opts) aur_defaults_read(L, 1, &s->defaults);
  return 1;
}

/* Undoes what session_add set on `t` before it failed: the share handle (left
 * set, it stays in use and is never freed with its session) and the registry
 * reference; pushes the nil of the `nil, message` result. */
static void add_undo(lua_State *L, aur_transfer *t) {
  if (t->easy != NULL) (void)curl_easy_setopt(t->easy, CURLOPT_SHARE, (CURLSH *)NULL); /* best effort */
  luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
  t->ref = LUA_NOREF;
  lua_pushnil(L);
}

static int session_add(lua_State *L) {
  aur_session *s = check_session(L, 1);
  aur_transfer *t = (aur_transfer *)aur_checkclass_up(L, 2, AUR_TRANSFER_MT, 2);
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
  lua_pushvalue(L, 2);
  t->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* first: it may raise, and nothing is set yet */
  if (s->closed || t->closed) { /* a finalizer run by that allocation closed one of them */
    add_undo(L, t);
    lua_pushstring(L, s->closed ? "session is closed" : "transfer is closed");
    return 2;
  }
  erc = curl_easy_setopt(t->easy, CURLOPT_SHARE, s->share);
  if (erc == CURLE_OK) erc = aur_defaults_apply(t, &s->defaults);
  if (erc != CURLE_OK) {
    add_undo(L, t);
    lua_pushfstring(L, "curl_easy_setopt (share or session defaults) failed: %s", curl_easy_strerror(erc));
    return 2;
  }
  aur_transfer_begin(t);
  mrc = curl_multi_add_handle(s->multi, t->easy);
  if (mrc != CURLM_OK) {
    add_undo(L, t);
    t->state = AUR_NEW;
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

static void check_multi(lua_State *L, aur_session *s, CURLMcode rc, const char *what) {
  if (s->out_of_memory) {
    s->out_of_memory = 0;
    luaL_error(L, "aurous: out of memory recording a socket");
  }
  if (rc != CURLM_OK) luaL_error(L, "aurous: %s failed: %s", what, curl_multi_strerror(rc));
}

/* Runs libcurl's timer if it is due (new transfers start that way too). */
static void run_timer(lua_State *L, aur_session *s) {
  long next = -1;
  int running = 0;
  check_multi(L, s, curl_multi_timeout(s->multi, &next), "curl_multi_timeout");
  if (next == 0)
    check_multi(L, s, curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running),
                "curl_multi_socket_action");
}

/* Waits up to wait_ms (0: not at all) for a watched socket to be ready or for
 * libcurl's timer, then hands libcurl the ready sockets and its timer. */
static void drive(lua_State *L, aur_session *s, int wait_ms) {
  struct pollfd *polled = (struct pollfd *)s->polled;
  size_t i, n = s->nsockets;
  int ready, running = 0;
  if (wait_ms > 0) {
    long next = -1;
    check_multi(L, s, curl_multi_timeout(s->multi, &next), "curl_multi_timeout");
    if (next >= 0 && next < wait_ms) wait_ms = (int)next;
  }
  if (n == 0 && wait_ms == 0) {
    run_timer(L, s);
    return;
  }
  for (i = 0; i < n; i++) { /* a snapshot: libcurl's callbacks change the list below */
    polled[i].fd = s->sockets[i].fd;
    polled[i].events = (short)(((s->sockets[i].what & CURL_POLL_IN) ? POLLIN : 0) |
                               ((s->sockets[i].what & CURL_POLL_OUT) ? POLLOUT : 0));
    polled[i].revents = 0;
  }
  ready = poll(n > 0 ? polled : NULL, (nfds_t)n, wait_ms);
  if (ready < 0 && errno != EINTR) luaL_error(L, "aurous: poll failed: %s", strerror(errno));
  for (i = 0; ready > 0 && i < n; i++) {
    int events = 0;
    short got = polled[i].revents;
    if (got == 0) continue;
    ready--;
    if (got & (POLLIN | POLLHUP)) events |= CURL_CSELECT_IN;
    if (got & POLLOUT) events |= CURL_CSELECT_OUT;
    if (got & (POLLERR | POLLNVAL)) events |= CURL_CSELECT_ERR;
    check_multi(L, s, curl_multi_socket_action(s->multi, polled[i].fd, events, &running),
                "curl_multi_socket_action");
    polled = (struct pollfd *)s->polled; /* the callback may have grown the arrays */
  }
  run_timer(L, s);
}

/* Moves every finished transfer out of the multi handle into the array at
 * index `results` (0: none, the transfers are only marked done); returns the
 * new array length. */
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
    if (results != 0) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
      lua_rawseti(L, results, n + 1);
    }
    n++;
    rc = aur_session_detach(L, t);
    aur_transfer_end(t, code);
    if (rc != CURLM_OK)
      return luaL_error(L, "aurous: curl_multi_remove_handle failed: %s", curl_multi_strerror(rc));
  }
  return n;
}

/* The timeout argument at index i in whole milliseconds: a fraction rounds up
 * (0.5 waits 1 ms), so only 0 (or nothing, or NaN) means "never block". */
static int timeout_ms_arg(lua_State *L, int i) {
  lua_Number timeout = luaL_optnumber(L, i, 0);
  int ms;
  if (!(timeout > 0)) return 0; /* also NaN */
  if (timeout >= (lua_Number)INT_MAX) return INT_MAX;
  ms = (int)timeout;
  if ((lua_Number)ms < timeout) ms++;
  return ms;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int session_step(lua_State *L) {
  aur_session *s = check_open_session(L, 1);
  int n, results, ms = timeout_ms_arg(L, 2);
  lua_settop(L, 2);
  /* a slot for every transfer in flight: storing a finished one then allocates
   * nothing, so no error can come between taking libcurl's message and returning it */
  lua_createtable(L, s->pending, 0);
  results = lua_gettop(L);
  drive(L, s, 0);
  n = collect(L, s, results, 0);
  if (n == 0 && ms > 0) {
    drive(L, s, ms);
    n = collect(L, s, results, n);
  }
  return 1;
}

/* s:wait(t, timeout_ms): drives the Session until t finishes (true) or
 * timeout_ms pass (false). Transfers that finish meanwhile are only marked done,
 * never returned by a step: for a Session whose caller waits on one transfer at
 * a time and reads each one's state (the client's blocking calls). One call per
 * request where a step loop makes two or more, each with a result table. */
static int session_wait(lua_State *L) {
  aur_session *s = check_open_session(L, 1);
  aur_transfer *t = (aur_transfer *)aur_checkclass_up(L, 2, AUR_TRANSFER_MT, 2);
  int ms = timeout_ms_arg(L, 3);
  double until;
  if (t->closed) return luaL_error(L, "attempt to use a closed transfer");
  if (t->state == AUR_NEW || (t->state == AUR_RUNNING && t->session != s))
    return luaL_argerror(L, 2, "transfer not added to this session");
  lua_settop(L, 2);
  until = now_ms() + ms;
  drive(L, s, 0);
  collect(L, s, 0, 0);
  while (t->state == AUR_RUNNING) {
    double left = until - now_ms();
    if (left <= 0) break;
    drive(L, s, left >= (double)INT_MAX ? INT_MAX : (int)ceil(left));
    collect(L, s, 0, 0);
  }
  lua_pushboolean(L, t->state == AUR_DONE);
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
  static const luaL_Reg methods[] = { /* and add, wait: below */
    {"step", session_step},
    {"pending", session_pending},
    {"close", session_close},
    {"__gc", session_close},
    {"__tostring", session_tostring},
    {NULL, NULL}
  };
  int i;
  aur_newclass(L, AUR_SESSION_MT, methods);
  aur_setclose(L, session_close);
  /* add and wait take a Transfer: its metatable is their second upvalue */
  for (i = 0; i < 2; i++) {
    lua_pushvalue(L, -1);
    luaL_getmetatable(L, AUR_TRANSFER_MT);
    lua_pushcclosure(L, i == 0 ? session_add : session_wait, 2);
    lua_setfield(L, -2, i == 0 ? "add" : "wait");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, session_new);
  lua_setfield(L, -2, "session");
}
