/* TEMPORARY STUB: replaced by the real json_decode.c */
#include "core.h"
void aur_open_json(lua_State *L) { (void)L; }
