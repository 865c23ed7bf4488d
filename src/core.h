/* core.h: what each C file of aurous.core exports to core.c.
 * Every aur_open_* function adds its functions/classes to the module table at
 * the top of the stack and leaves the stack as it found it. */
#ifndef AUROUS_CORE_H
#define AUROUS_CORE_H

#include "compat.h"

void aur_open_json(lua_State *L);     /* json_decode.c + json_encode.c: json_decode, json_encode, null, json_array_mt, json_object_mt */
void aur_open_clock(lua_State *L);    /* clock.c: now, sleep */
/* crypto.c is the aurous.core.crypto module (luaopen_aurous_core_crypto), loaded on first use.
 * In the aurous.core.http module (http_module.c), loaded on first use: */
void aur_open_session(lua_State *L);  /* session.c: session() */
void aur_open_transfer(lua_State *L); /* transfer.c: transfer() */

/* json: the registry keys of the marker metatables (shared by decode and encode). */
#define AUR_JSON_ARRAY_MT  "aurous.json.array"
#define AUR_JSON_OBJECT_MT "aurous.json.object"

#endif
