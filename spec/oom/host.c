/* spec/oom/host.c: a Lua 5.4 interpreter whose allocator fails on request, to
 * run the out-of-memory specs (spec/oom/, files ending in _oom.lua) under busted:
 *
 *   build/oom-host /usr/bin/busted --pattern=_oom spec/oom
 *
 * Globals for the specs:
 *   oom.fail_after(n)  the n-th allocation from now fails, and so does the one
 *                      after it (Lua retries a failed allocation once after a
 *                      full collection); 0 disarms
 *   oom.limit(bytes)   allocations fail while Lua would hold more than bytes (0: no limit)
 *   oom.lua_bytes()    bytes Lua holds now
 *   oom.allocations()  allocations (and reallocations) Lua made so far
 *   oom.failures()     allocations failed so far
 * Like lua5.4, it sets `arg` and runs the script with the rest of the arguments. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

static long countdown;   /* > 0: fail when it reaches 0 */
static int fail_next;    /* the retry after a failure fails too */
static size_t held, cap; /* bytes Lua holds; the limit (0: none) */
static long failures, allocations;

static void *allocate(void *ud, void *ptr, size_t osize, size_t nsize) {
  size_t old = ptr != NULL ? osize : 0;
  void *p;
  (void)ud;
  if (nsize == 0) {
    free(ptr);
    held -= old;
    return NULL;
  }
  if (fail_next) {
    fail_next = 0;
    failures++;
    return NULL;
  }
  if (countdown > 0 && --countdown == 0) {
    fail_next = 1;
    failures++;
    return NULL;
  }
  if (cap > 0 && nsize > old && held + (nsize - old) > cap) {
    failures++;
    return NULL;
  }
  p = realloc(ptr, nsize);
  if (p != NULL) {
    held = held - old + nsize;
    allocations++;
  }
  return p;
}

static int fail_after(lua_State *L) {
  countdown = (long)luaL_checkinteger(L, 1);
  fail_next = 0;
  return 0;
}

static int limit(lua_State *L) {
  cap = (size_t)luaL_optinteger(L, 1, 0);
  return 0;
}

static int lua_bytes(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)held);
  return 1;
}

static int allocated(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)allocations);
  return 1;
}

static int failed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)failures);
  return 1;
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    fprintf(stderr, "oom-host: %s\n", lua_tostring(L, -1));
    return 1;
  }
  return 0;
}

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

int main(int argc, char **argv) {
  static const luaL_Reg fns[] = {
    {"fail_after", fail_after}, {"limit", limit}, {"lua_bytes", lua_bytes},
    {"allocations", allocated}, {"failures", failed}, {NULL, NULL}
  };
  lua_State *L = lua_newstate(allocate, NULL);
  int i, status;
  if (L == NULL || argc < 2) {
    fprintf(stderr, "usage: oom-host script [args]\n");
    return 2;
  }
  luaL_openlibs(L);
  luaL_newlib(L, fns);
  lua_setglobal(L, "oom");
  lua_createtable(L, argc, 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, traceback);
  status = luaL_loadfile(L, argv[1]);
  if (status == LUA_OK) {
    luaL_checkstack(L, argc, "arguments");
    for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc - 2, 0, 1);
  }
  status = report(L, status);
  lua_close(L);
  return status;
}
