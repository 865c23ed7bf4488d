/* compat.h: one source for Lua 5.4 (primary), 5.3, 5.1 and LuaJIT.
 * A handful of macros in the spirit of LPeg's lptypes.h; nothing else in src/
 * may test LUA_VERSION_NUM. */
#ifndef AUROUS_COMPAT_H
#define AUROUS_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM >= 503
#define AUR_HAS_INTEGERS 1
#else
#define AUR_HAS_INTEGERS 0
#endif

#if LUA_VERSION_NUM == 501
/* 5.1 / LuaJIT */
#define aur_rawlen(L, i)        lua_objlen((L), (i))
#define aur_absindex(L, i)      (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
#define aur_setfuncs(L, l)      luaL_register((L), NULL, (l))
#define aur_newlib(L, l)        (lua_newtable(L), luaL_register((L), NULL, (l)))
static inline void *aur_testudata(lua_State *L, int ud, const char *tname) {
  void *p = lua_touserdata(L, ud);
  if (p != NULL && lua_getmetatable(L, ud)) {
    luaL_getmetatable(L, tname);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
    lua_pop(L, 2);
    return p;
  }
  return NULL;
}
static inline void aur_setmetatable(lua_State *L, const char *tname) {
  luaL_getmetatable(L, tname);
  lua_setmetatable(L, -2);
}
#define aur_getfield_type(L, idx, k) (lua_getfield((L), (idx), (k)), lua_type((L), -1))
#define aur_rawgeti_type(L, idx, n)  (lua_rawgeti((L), (idx), (n)), lua_type((L), -1))
#else
#define aur_rawlen(L, i)        lua_rawlen((L), (i))
#define aur_absindex(L, i)      lua_absindex((L), (i))
#define aur_setfuncs(L, l)      luaL_setfuncs((L), (l), 0)
#define aur_newlib(L, l)        luaL_newlib((L), (l))
#define aur_testudata(L, ud, t) luaL_testudata((L), (ud), (t))
#define aur_setmetatable(L, t)  luaL_setmetatable((L), (t))
#if LUA_VERSION_NUM >= 503
#define aur_getfield_type(L, idx, k) lua_getfield((L), (idx), (k))
#define aur_rawgeti_type(L, idx, n)  lua_rawgeti((L), (idx), (n))
#else
#define aur_getfield_type(L, idx, k) (lua_getfield((L), (idx), (k)), lua_type((L), -1))
#define aur_rawgeti_type(L, idx, n)  (lua_rawgeti((L), (idx), (n)), lua_type((L), -1))
#endif
#endif

/* Integers: on 5.3+ a JSON integer literal that fits in 64 bits stays an integer. */
#if AUR_HAS_INTEGERS
#define aur_isinteger(L, i)     lua_isinteger((L), (i))
#define aur_pushint64(L, v)     lua_pushinteger((L), (lua_Integer)(v))
#else
#define aur_isinteger(L, i)     0
#define aur_pushint64(L, v)     lua_pushnumber((L), (lua_Number)(v))
#endif

/* Creates the metatable `tname` (if new) with __index = itself, sets `methods`
 * in it, and leaves it on the stack. Each method gets the metatable as its first
 * upvalue, for aur_checkclass. aur_setclose adds __close on 5.4. */
static inline void aur_newclass(lua_State *L, const char *tname, const luaL_Reg *methods) {
  if (luaL_newmetatable(L, tname)) {
    for (; methods->name != NULL; methods++) {
      lua_pushvalue(L, -1);
      lua_pushcclosure(L, methods->func, 1);
      lua_setfield(L, -2, methods->name);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
  }
}

/* luaL_checkudata for the methods of a class made by aur_newclass: the object's
 * metatable is compared with the method's upvalue first, about a third of the
 * cost of luaL_checkudata, which looks the metatable up by name in the registry
 * (about 250 instructions saved a call, several calls a request). Anything else,
 * including a function with no such upvalue (lua_rawequal is then 0), takes
 * luaL_checkudata's path and error. */
static inline void *aur_checkclass_up(lua_State *L, int i, const char *tname, int up) {
  void *p = lua_touserdata(L, i);
  if (p != NULL && lua_getmetatable(L, i)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(up));
    lua_pop(L, 1);
    if (same) return p;
  }
  return luaL_checkudata(L, i, tname);
}
/* the class's metatable is upvalue `up` of the running function (1 for a method) */
#define aur_checkclass(L, i, tname) aur_checkclass_up((L), (i), (tname), 1)

/* Sets `close` as __close of the metatable at the top of the stack, where the
 * interpreter has to-be-closed variables (5.4); does nothing elsewhere. */
static inline void aur_setclose(lua_State *L, lua_CFunction close) {
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, close);
  lua_setfield(L, -2, "__close");
#else
  (void)L;
  (void)close;
#endif
}

#endif
