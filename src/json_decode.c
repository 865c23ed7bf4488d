/* json_decode.c: JSON text to Lua values. The strict scan (json_validate.c)
 * runs first and records every string literal and the value of most numbers;
 * cJSON then builds trees of a copy of the text in which those strings are
 * empty and those numbers "0" (so it copies no string and converts no number
 * the scan has read), and the trees are converted here, strings and numbers
 * taken from the scan's records (one tree for the whole text, or one per element
 * of a container over AUR_JSON_SPLIT_BYTES, which this file walks itself). Decoded
 * arrays and objects carry marker metatables so they encode back as they came.
 * Also registers the codec's module fields (aur_open_json). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "json.h"

#define DECODE_STATE "aurous.json.decode_state"

/* ---- an arena for cJSON's nodes and strings ----
 * cJSON mallocs every node and every string; during our own parse its hooks
 * hand out memory from an arena instead, emptied after each converted tree; a
 * chunk of up to ARENA_SPARE_MAX bytes is kept for the next tree and the next
 * decode, so a decode usually mallocs nothing for cJSON.
 * The hooks are process-wide (cJSON_InitHooks), so they stay plain malloc/free
 * for every other cJSON user: only a parse that this thread runs from
 * json_decode has an active arena, and free() ignores pointers inside it. */
typedef union aligned { long double ld; void *p; long long ll; double d; } aligned; /* C99 max_align_t */

#define ARENA_FIRST_CHUNK 65536
#define ARENA_SPARE_MAX (1024 * 1024)

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t size, used;
  aligned data[1];
} arena_chunk;

typedef struct arena {
  arena_chunk *head;   /* the chunks in use, newest first */
  arena_chunk *spare;  /* kept from the previous decode, empty */
} arena;

static __thread arena *active_arena;

static size_t arena_round(size_t n) {
  return (n + sizeof(aligned) - 1) / sizeof(aligned) * sizeof(aligned);
}

/* A chunk holding at least n bytes: the spare one when it is big enough. */
static arena_chunk *arena_chunk_new(arena *a, size_t n) {
  arena_chunk *c = a->spare;
  if (c != NULL && c->size >= n) {
    a->spare = NULL;
  } else {
    c = malloc(offsetof(arena_chunk, data) + n);
    if (c == NULL) return NULL;
    c->size = n;
  }
  c->used = 0;
  c->next = a->head;
  a->head = c;
  return c;
}

/* A new chunk for n bytes (rounded), then the first n of it. Kept out of line so
 * that the hook's common path (bump the pointer) saves no registers. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void *arena_alloc_chunk(arena *a, size_t n) {
  arena_chunk *c = a->head;
  size_t size = c != NULL ? c->size * 2 : ARENA_FIRST_CHUNK;
  c = arena_chunk_new(a, size < n ? n : size);
  if (c == NULL) return NULL;
  c->used = n;
  return (char *)c->data;
}

static void *arena_alloc(arena *a, size_t n) {
  arena_chunk *c = a->head;
  n = arena_round(n);
  if (c == NULL || c->size - c->used < n) return arena_alloc_chunk(a, n);
  c->used += n;
  return (char *)c->data + c->used - n;
}

static int arena_owns(const arena *a, const void *p) {
  const arena_chunk *c;
  for (c = a->head; c != NULL; c = c->next) {
    const char *base = (const char *)c->data;
    if ((const char *)p >= base && (const char *)p < base + c->size) return 1;
  }
  return 0;
}

/* Frees the chunks in use but keeps the largest one that is small enough as
 * the spare (keep_spare), or frees everything. */
static void arena_clear(arena *a, int keep_spare) {
  while (a->head != NULL) {
    arena_chunk *c = a->head;
    a->head = c->next;
    if (keep_spare && c->size <= ARENA_SPARE_MAX && (a->spare == NULL || c->size > a->spare->size)) {
      free(a->spare);
      a->spare = c;
    } else {
      free(c);
    }
  }
  if (!keep_spare) {
    free(a->spare);
    a->spare = NULL;
  }
}

static void *hook_malloc(size_t n) {
  return active_arena != NULL ? arena_alloc(active_arena, n) : malloc(n);
}

static void hook_free(void *p) {
  if (p != NULL && active_arena != NULL && arena_owns(active_arena, p)) return;
  free(p);
}

/* The member names of the objects of one array, by position: the objects of an
 * array usually have the same names in the same order, and a name that matches
 * the one at its position in the previous object is pushed from here, instead of
 * being hashed and looked up again in Lua's string table. The strings stay
 * referenced by a Lua table on the stack (`anchor`). One per nesting level of
 * such arrays, in the decode state (not on the C stack, which nesting deepens). */
#define KEY_CACHE_MAX 48
#define KEY_CACHE_MIN_ITEMS 4  /* fewer objects: the anchor table costs more than it saves */
#define KEY_CACHE_DEPTH 8      /* arrays nested deeper convert without one */
typedef struct key_cache {
  int anchor;
  int n;
  const char *name[KEY_CACHE_MAX];
  size_t len[KEY_CACHE_MAX];
} key_cache;
int aur_json_key_cache = 1;

/* Everything malloc'd during a decode, owned by a userdata so that a Lua error
 * (out of memory) while building tables leaks nothing. One of them, an upvalue
 * of json_decode, serves every decode of a Lua state and keeps its buffers;
 * a decode that finds it busy (a decode run by a __gc handler that an
 * allocation of another decode triggered, or any decode after one that raised
 * an error) gets a state of its own, collected after the call. */
typedef struct decode_state {
  int busy;
  arena nodes;      /* cJSON's trees live here: never cJSON_Delete'd */
  aur_json_scan scan;
  char *tmp;        /* scratch for long strings with escapes */
  size_t tmp_cap;
  char *patched;    /* cJSON's copy of the text: strings emptied, known numbers blanked */
  size_t patched_cap;
  key_cache keys[KEY_CACHE_DEPTH];
} decode_state;

/* Scan buffers past this many entries are not kept between decodes. */
#define SCAN_KEEP_MAX 65536

static void patched_free(decode_state *st) {
  free(st->patched);
  st->patched = NULL;
  st->patched_cap = 0;
}

/* Ends a decode: frees what it needed (keeping small buffers for the next)
 * and makes the state free for the next decode. */
static void state_clear(decode_state *st) {
  st->busy = 0;
  arena_clear(&st->nodes, 1);
  if (st->scan.numbers_cap > SCAN_KEEP_MAX || st->scan.strings_cap > SCAN_KEEP_MAX ||
      st->scan.blanked_cap > SCAN_KEEP_MAX || st->scan.big_cap > SCAN_KEEP_MAX)
    aur_json_scan_free(&st->scan);
  else
    aur_json_scan_reset(&st->scan);
  free(st->tmp);
  st->tmp = NULL;
  st->tmp_cap = 0;
  if (st->patched_cap > ARENA_SPARE_MAX) patched_free(st);
}

static decode_state *push_new_state(lua_State *L) {
  decode_state *st = (decode_state *)lua_newuserdata(L, sizeof *st);
  memset(st, 0, sizeof *st);
  luaL_getmetatable(L, DECODE_STATE);
  lua_setmetatable(L, -2);
  return st;
}

static int state_gc(lua_State *L) {
  decode_state *st = (decode_state *)luaL_checkudata(L, 1, DECODE_STATE);
  state_clear(st);
  arena_clear(&st->nodes, 0);
  aur_json_scan_free(&st->scan);
  patched_free(st);
  return 0;
}

typedef struct converter {
  lua_State *L;
  decode_state *st;
  const char *text;
  size_t len;
  const char *parse_text;   /* what cJSON reads: text, or its patched copy */
  size_t next_number, next_string, next_big;
  int array_mt, object_mt;  /* stack indices of the marker metatables */
  struct key_cache *keys;   /* for the next object converted: its siblings' keys */
  int key_depth;            /* arrays converted with a key cache, nested */
} converter;

/* Scratch room for one string decoded from the text (n: its length as written,
 * which its decoded length never exceeds). */
static char *scratch(converter *c, size_t n) {
  if (c->st->tmp_cap < n) {
    char *grown = (char *)realloc(c->st->tmp, n);
    if (grown == NULL) luaL_error(c->L, "out of memory");
    c->st->tmp = grown;
    c->st->tmp_cap = n;
  }
  return c->st->tmp;
}

/* Pushes the next string of the document (cJSON holds an empty one in its place)
 * from the text: as it is, or decoded when it has escapes. */
static void push_string(converter *c) {
  const aur_json_string *s;
  if (c->next_string >= c->st->scan.nstrings) luaL_error(c->L, "aurous.core: internal error: JSON strings out of step");
  s = &c->st->scan.strings[c->next_string++];
  if (!AUR_JSON_STRING_ESCAPED(s)) {
    lua_pushlstring(c->L, c->text + s->start, AUR_JSON_STRING_LEN(s));
  } else {
    char small[256];
    char *b = AUR_JSON_STRING_LEN(s) <= sizeof small ? small : scratch(c, AUR_JSON_STRING_LEN(s));
    lua_pushlstring(c->L, b, aur_json_unescape(c->text, c->len, s->start - 1, b));
  }
}

/* Pushes member name number m of an object (the next string) through keys. */
static void push_key_cached(converter *c, key_cache *keys, int m) {
  lua_State *L = c->L;
  const aur_json_string *s;
  if (c->next_string < c->st->scan.nstrings) { /* else push_string raises */
    s = &c->st->scan.strings[c->next_string];
    if (m < keys->n && !AUR_JSON_STRING_ESCAPED(s) && keys->len[m] == AUR_JSON_STRING_LEN(s) &&
        memcmp(keys->name[m], c->text + s->start, keys->len[m]) == 0) {
      c->next_string++;
      lua_rawgeti(L, keys->anchor, m + 1);
      return;
    }
  }
  push_string(c);
  s = &c->st->scan.strings[c->next_string - 1];
  if (m < KEY_CACHE_MAX && m <= keys->n && !AUR_JSON_STRING_ESCAPED(s)) {
    keys->name[m] = lua_tolstring(L, -1, &keys->len[m]);
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys->anchor, m + 1);
    if (m == keys->n) keys->n++;
  }
}

/* The key cache of the next nesting level, its anchor table pushed; NULL (and
 * nothing pushed) past KEY_CACHE_DEPTH. key_cache_close undoes it. */
static key_cache *key_cache_open(converter *c) {
  key_cache *keys;
  if (!aur_json_key_cache || c->key_depth >= KEY_CACHE_DEPTH) return NULL;
  keys = &c->st->keys[c->key_depth++];
  lua_createtable(c->L, 16, 0);
  keys->anchor = lua_gettop(c->L);
  keys->n = 0;
  return keys;
}

static void key_cache_close(converter *c, key_cache *keys) {
  if (keys == NULL) return;
  lua_remove(c->L, keys->anchor);
  c->key_depth--;
}

static void push_value(converter *c, const cJSON *item) {
  lua_State *L = c->L;
  const cJSON *child;
  int n = 0;
  switch (item->type & 0xFF) {
    case cJSON_NULL:
      lua_pushlightuserdata(L, NULL);
      return;
    case cJSON_False:
      lua_pushboolean(L, 0);
      return;
    case cJSON_True:
      lua_pushboolean(L, 1);
      return;
    case cJSON_Number: {
      aur_json_scan *scan = &c->st->scan;
      size_t i = c->next_number++;
      if (i < scan->nnumbers && scan->numbers[i].kind == AUR_NUM_INTEGER)
        aur_pushint64(L, scan->numbers[i].value);
      else if (i < scan->nnumbers && scan->numbers[i].kind == AUR_NUM_LONG)
        lua_pushnumber(L, (lua_Number)scan->numbers[i].dvalue);
      else
        lua_pushnumber(L, (lua_Number)item->valuedouble);
      return;
    }
    case cJSON_String:
      push_string(c);
      return;
    case cJSON_Array: {
      int i = 0;
      key_cache *keys = NULL;
      luaL_checkstack(L, 5, "JSON nesting"); /* a container needs 3 slots (and a key cache 1 more); a scalar, 1 */
      c->keys = NULL; /* an outer array's, not for the objects in this one */
      for (child = item->child; child != NULL; child = child->next) n++;
      lua_createtable(L, n, 0);
      lua_pushvalue(L, c->array_mt);
      lua_setmetatable(L, -2);
      if (n >= KEY_CACHE_MIN_ITEMS && (item->child->type & 0xFF) == cJSON_Object) {
        keys = key_cache_open(c);
        if (keys != NULL) {
          lua_insert(L, -2); /* the array stays on top */
          keys->anchor--;
        }
      }
      for (child = item->child; child != NULL; child = child->next) {
        c->keys = keys;
        push_value(c, child);
        c->keys = NULL;
        lua_rawseti(L, -2, ++i);
      }
      key_cache_close(c, keys);
      return;
    }
    case cJSON_Object: {
      key_cache *keys = c->keys; /* its siblings' names, when it is in an array */
      int m = 0;
      c->keys = NULL;            /* not for the objects inside */
      luaL_checkstack(L, 4, "JSON nesting");
      for (child = item->child; child != NULL; child = child->next) n++;
      lua_createtable(L, 0, n);
      lua_pushvalue(L, c->object_mt);
      lua_setmetatable(L, -2);
      for (child = item->child; child != NULL; child = child->next, m++) {
        /* the key comes first in the text */
        if (keys != NULL) push_key_cached(c, keys, m);
        else push_string(c);
        push_value(c, child);
        lua_rawset(L, -3); /* a repeated key: the last one wins */
      }
      return;
    }
    default:
      luaL_error(L, "aurous.core: unexpected cJSON node type %d", item->type);
  }
}

/* ---- the split walk ----
 * A container the scan found longer than AUR_JSON_SPLIT_BYTES is walked here
 * (the text is valid: no checks needed), and each of its elements is parsed by
 * cJSON alone, converted while its tree is still in the CPU cache, and dropped. */

static size_t skip_ws_at(const char *s, size_t pos) {
  while (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r') pos++;
  return pos;
}

static int convert_value(converter *c, size_t *pos);

/* A member name of a walked object, at text[*pos]; moves *pos past it. */
static void push_key(converter *c, size_t *pos) {
  size_t i = c->next_string;
  push_string(c); /* checks i */
  *pos = c->st->scan.strings[i].start + AUR_JSON_STRING_LEN(&c->st->scan.strings[i]) + 1;
}

static int convert_container(converter *c, size_t *pos) {
  /* parse_text: where a long number was blanked, its spaces end the value */
  lua_State *L = c->L;
  const aur_json_big *big = &c->st->scan.big[c->next_big++];
  int object = c->parse_text[*pos] == '{';
  int count = big->count < 0x7fffffff ? (int)big->count : 0;
  int i = 0, result;
  key_cache *keys = NULL;
  luaL_checkstack(L, 5, "JSON nesting");
  lua_createtable(L, object ? 0 : count, object ? count : 0);
  result = lua_gettop(L);
  lua_pushvalue(L, object ? c->object_mt : c->array_mt);
  lua_setmetatable(L, result);
  *pos = skip_ws_at(c->parse_text, *pos + 1);
  if (c->parse_text[*pos] == (object ? '}' : ']')) {
    (*pos)++;
    return 1;
  }
  if (!object && count >= KEY_CACHE_MIN_ITEMS && c->parse_text[*pos] == '{') {
    keys = key_cache_open(c);
    if (keys != NULL) {
      lua_insert(L, result); /* below the array, which moves up one */
      keys->anchor = result++;
    }
  }
  for (;;) {
    if (object) {
      push_key(c, pos);
      *pos = skip_ws_at(c->parse_text, skip_ws_at(c->parse_text, *pos) + 1); /* past the ':' */
    }
    c->keys = keys;
    if (!convert_value(c, pos)) return 0;
    c->keys = NULL;
    if (object) lua_rawset(L, result); /* a repeated key: the last one wins */
    else lua_rawseti(L, result, ++i);
    *pos = skip_ws_at(c->parse_text, *pos);
    if (c->parse_text[*pos] != ',') break;
    *pos = skip_ws_at(c->parse_text, *pos + 1);
  }
  key_cache_close(c, keys);
  (*pos)++; /* the closing bracket */
  return 1;
}

/* Converts the value at text[*pos] and moves *pos past it; 0 when cJSON
 * fails (it can only run out of memory: the text is valid). */
static int convert_value(converter *c, size_t *pos) {
  aur_json_scan *scan = &c->st->scan;
  const char *end = NULL;
  cJSON *tree;
  if (c->next_big < scan->nbig && scan->big[c->next_big].start == *pos) return convert_container(c, pos);
  active_arena = &c->st->nodes;
  tree = cJSON_ParseWithLengthOpts(c->parse_text + *pos, c->len - *pos, &end, 0);
  active_arena = NULL;
  if (tree == NULL || end == NULL) return 0;
  push_value(c, tree);
  *pos = (size_t)(end - c->parse_text);
  arena_clear(&c->st->nodes, 1);
  return 1;
}

/* Runs under lua_pcall: 1 = the converter (light userdata), 2 and 3 = the marker
 * metatables. Returns the value, or nothing when cJSON failed (out of memory). */
static int convert_protected(lua_State *L) {
  converter *c = (converter *)lua_touserdata(L, 1);
  size_t pos = skip_ws_at(c->parse_text, 0);
  c->L = L;
  c->array_mt = 2;
  c->object_mt = 3;
  return convert_value(c, &pos) ? 1 : 0;
}

static int json_decode(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer max_depth = luaL_optinteger(L, 2, AUR_JSON_DEFAULT_DEPTH);
  decode_state *st;
  converter c;
  int top, status;
  luaL_argcheck(L, max_depth >= 1 && max_depth <= AUR_JSON_DEFAULT_DEPTH, 2,
                "nesting limit must be between 1 and 1000");
  lua_settop(L, 2);
  st = (decode_state *)lua_touserdata(L, lua_upvalueindex(1));
  if (st->busy) st = push_new_state(L); /* kept on the stack for this call */
  /* the protected call's arguments, pushed before the state is taken (5.1
   * allocates a closure): whatever the conversion raises, the state is cleared */
  luaL_checkstack(L, 8, "aurous: json_decode");
  lua_pushcfunction(L, convert_protected);
  lua_pushlightuserdata(L, &c);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, lua_upvalueindex(3));
  st->busy = 1;
  if (!aur_json_validate(text, len, (int)max_depth, &st->scan)) {
    size_t at = st->scan.error_pos;
    const char *why = st->scan.error;
    state_clear(st);
    lua_pushnil(L);
    /* the position as a Lua number: an int would wrap past 2 GiB of text */
    lua_pushliteral(L, "invalid JSON at byte ");
    aur_pushint64(L, (long long)at + 1);
    if (strcmp(why, "unexpected character") == 0 && at < len && text[at] > 0x20 && text[at] < 0x7F)
      lua_pushfstring(L, ": unexpected character '%c'", text[at]);
    else
      lua_pushfstring(L, ": %s", why);
    lua_concat(L, 3);
    return 2;
  }
  if (st->scan.nblanked > 0 || st->scan.nstrings > 0) {
    /* cJSON reads a copy with each string emptied to "" and each number the scan
     * read blanked to "0", spaces after them (whitespace may follow a token) */
    size_t i;
    if (st->patched_cap < len + 1) {
      patched_free(st);
      st->patched = malloc(len + 1);
      if (st->patched == NULL) {
        state_clear(st);
        return luaL_error(L, "out of memory");
      }
      st->patched_cap = len + 1;
    }
    memcpy(st->patched, text, len + 1);
    for (i = 0; i < st->scan.nblanked; i += 2) {
      size_t at = st->scan.blanked[i], n = st->scan.blanked[i + 1];
      st->patched[at] = '0';
      if (n > 1) memset(st->patched + at + 1, ' ', n - 1);
    }
    for (i = 0; i < st->scan.nstrings; i++) {
      const aur_json_string *s = &st->scan.strings[i];
      if (AUR_JSON_STRING_LEN(s) > 0) {
        st->patched[s->start] = '"';
        memset(st->patched + s->start + 1, ' ', AUR_JSON_STRING_LEN(s)); /* up to the closing quote */
      }
    }
  }
  c.L = L;
  c.st = st;
  c.text = text;
  c.len = len;
  c.parse_text = st->scan.nblanked > 0 || st->scan.nstrings > 0 ? st->patched : text;
  c.next_number = c.next_string = c.next_big = 0;
  c.keys = NULL;
  c.key_depth = 0;
  top = lua_gettop(L) - 4; /* below the function and its three arguments */
  status = lua_pcall(L, 3, LUA_MULTRET, 0);
  state_clear(st);
  if (status != 0) return lua_error(L); /* out of memory while building tables: raised again */
  if (lua_gettop(L) == top) {
    /* valid JSON that cJSON cannot hold (memory) */
    lua_pushnil(L);
    lua_pushliteral(L, "cannot decode JSON: cJSON failed (out of memory?)");
    return 2;
  }
  return 1;
}

void aur_open_json(lua_State *L) {
  cJSON_Hooks hooks;
  hooks.malloc_fn = hook_malloc;
  hooks.free_fn = hook_free;
  cJSON_InitHooks(&hooks);
  aur_json_validate_init();
  if (luaL_newmetatable(L, DECODE_STATE)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newmetatable(L, AUR_JSON_ARRAY_MT);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype");
  lua_setfield(L, -2, "json_array_mt");
  luaL_newmetatable(L, AUR_JSON_OBJECT_MT);
  lua_pushliteral(L, "object");
  lua_setfield(L, -2, "__jsontype");
  lua_setfield(L, -2, "json_object_mt");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  /* json_decode's upvalues: its decode state and the two marker metatables */
  (void)push_new_state(L);
  luaL_getmetatable(L, AUR_JSON_ARRAY_MT);
  luaL_getmetatable(L, AUR_JSON_OBJECT_MT);
  lua_pushcclosure(L, json_decode, 3);
  lua_setfield(L, -2, "json_decode");
  aur_json_encode_open(L);
}
