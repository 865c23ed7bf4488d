/* clock.c: a monotonic clock and a plain sleep, for timers and backoff. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <time.h>
#include "core.h"

static int clock_now(lua_State *L) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return luaL_error(L, "clock_gettime failed");
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static int clock_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec req, rem;
  if (!(s > 0)) return 0; /* also rejects NaN */
  if (s > 1e9) s = 1e9;
  req.tv_sec = (time_t)floor(s);
  req.tv_nsec = (long)((s - floor(s)) * 1e9);
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
  return 0;
}

void aur_open_clock(lua_State *L) {
  lua_pushcfunction(L, clock_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, clock_sleep);
  lua_setfield(L, -2, "sleep");
}
