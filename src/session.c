/* TEMPORARY STUB: replaced by the real session.c */
#include "core.h"
void aur_open_session(lua_State *L) { (void)L; }
