/* TEMPORARY STUB: replaced by the real transfer.c */
#include "core.h"
void aur_open_transfer(lua_State *L) { (void)L; }
