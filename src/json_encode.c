/* json_encode.c: Lua values to JSON text (core.json_encode).
 *
 * One pass over the value, writing into a growable malloc'd buffer. The work
 * runs inside lua_pcall (encode_body); json_encode owns the buffer and frees it
 * whatever happened, so neither an encoding error (raised with the JSON path in
 * its message) nor a memory error can leak it. Only raw accessors are used
 * (lua_next, lua_rawgeti, lua_rawlen): no metamethod ever runs.
 *
 * Key order of objects is lua_next's (no sorting). Array indices in error paths
 * are the Lua ones (1-based): "$.a[2].b" is t.a[2].b. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

#define FRAMES_INLINE 32

/* One enclosing table on the path to the value being encoded. */
typedef struct frame {
  const void *table;  /* for cycle detection */
  int keyidx;         /* > 0: stack index of the current (string) key; 0: array */
  lua_Integer index;  /* array mode: current 1-based index */
} frame;

typedef struct encoder {
  lua_State *L;
  char *buf;
  size_t len, cap;
  int max_depth;
  int array_mt, object_mt;  /* stack indices of the marker metatables */
  frame *frames;            /* frames_inline, or heap (max_depth + 1) */
  frame frames_inline[FRAMES_INLINE];
} encoder;

/* ---- buffer ------------------------------------------------------------- */

static void enc_grow(encoder *e, size_t need) {
  size_t cap = e->cap ? e->cap : 256;
  char *nb;
  if (need > (size_t)-1 - e->len) luaL_error(e->L, "not enough memory");
  while (cap - e->len < need) {
    if (cap > (size_t)-1 / 2) { cap = e->len + need; break; }
    cap *= 2;
  }
  nb = (char *)realloc(e->buf, cap);
  if (nb == NULL) luaL_error(e->L, "not enough memory");
  e->buf = nb;
  e->cap = cap;
}

static inline void enc_reserve(encoder *e, size_t need) {
  if (e->cap - e->len < need) enc_grow(e, need);
}

static inline void enc_putc(encoder *e, char c) {
  enc_reserve(e, 1);
  e->buf[e->len++] = c;
}

static inline void enc_put(encoder *e, const char *s, size_t n) {
  enc_reserve(e, n);
  memcpy(e->buf + e->len, s, n);
  e->len += n;
}

/* ---- strings ------------------------------------------------------------ */

/* 0: copied as is; 1: escaped; 2: first byte of a multi-byte UTF-8 sequence
 * (or an invalid byte). */
static const unsigned char char_class[256] = {
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
  2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2
};

/* The escape of each byte of class 1: a one-letter shorthand, or 'u'. */
static const char escape_letter[0x60] = {
  'u','u','u','u','u','u','u','u','b','t','n','u','f','r','u','u',
  'u','u','u','u','u','u','u','u','u','u','u','u','u','u','u','u',
  0,0,'"',0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,'\\',0,0,0
};

#define ONES  ((uint64_t)0x0101010101010101ULL)
#define HIGHS ((uint64_t)0x8080808080808080ULL)

/* Non-zero when one of the 8 bytes of w is < 0x20, '"', '\\' or >= 0x80. */
static inline uint64_t word_special(uint64_t w) {
  uint64_t q = w ^ (ONES * 0x22), b = w ^ (ONES * 0x5c);
  uint64_t ctl = (w - ONES * 0x20) & ~w;   /* exact for "some byte < 0x20" */
  uint64_t quote = (q - ONES) & ~q;        /* some byte == '"' */
  uint64_t bslash = (b - ONES) & ~b;       /* some byte == '\\' */
  return (ctl | quote | bslash | w) & HIGHS;
}

/* Length of the valid UTF-8 sequence at s[0..n) (s[0] >= 0x80), or 0. */
static inline size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c >= 0xC2 && c <= 0xDF) {
    return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  } else if (c >= 0xE0 && c <= 0xEF) {
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;          /* overlong */
    else if (c == 0xED) hi = 0x9F;     /* surrogates */
    return (n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
  } else if (c >= 0xF0 && c <= 0xF4) {
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xF0) lo = 0x90;          /* overlong */
    else if (c == 0xF4) hi = 0x8F;     /* > U+10FFFF */
    return (n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 &&
            (s[3] & 0xC0) == 0x80) ? 4 : 0;
  }
  return 0;
}

/* Appends the JSON string literal of s[0..n). Returns 0 on invalid UTF-8
 * (the buffer then holds a partial literal). */
static int enc_string(encoder *e, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  char *p;
  /* room for the quotes and every byte unescaped; escapes reserve more */
  enc_reserve(e, n + 2);
  p = e->buf + e->len;
  *p++ = '"';
  while (i < n) {
    size_t start = i;
    unsigned c;
    while (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (word_special(w)) break;
      i += 8;
    }
    while (i < n && char_class[s[i]] == 0) i++;
    if (i > start) {
      memcpy(p, s + start, i - start);
      p += i - start;
    }
    if (i >= n) break;
    c = s[i];
    if (char_class[c] == 1) {
      char l = escape_letter[c];
      /* 6 bytes instead of the 1 reserved, then the rest and the closing quote */
      e->len = (size_t)(p - e->buf);
      enc_reserve(e, (n - i) + 6);
      p = e->buf + e->len;
      *p++ = '\\';
      if (l == 'u') {
        *p++ = 'u'; *p++ = '0'; *p++ = '0';
        *p++ = hex[c >> 4]; *p++ = hex[c & 15];
      } else {
        *p++ = l;
      }
      i++;
    } else {
      size_t k = utf8_seq(s + i, n - i);
      if (k == 0) {
        e->len = (size_t)(p - e->buf);
        return 0;
      }
      memcpy(p, s + i, k);
      p += k;
      i += k;
    }
  }
  *p++ = '"';
  e->len = (size_t)(p - e->buf);
  return 1;
}

/* ---- numbers ------------------------------------------------------------ */

static void enc_integer(encoder *e, long long v) {
  char tmp[24];
  char *end = tmp + sizeof tmp, *q = end;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do { *--q = (char)('0' + (int)(u % 10)); u /= 10; } while (u != 0);
  if (v < 0) *--q = '-';
  enc_put(e, q, (size_t)(end - q));
}

/* Fast path for d (not integral) with at most 8 decimals, 1e-4 <= |d| < 1e15 and
 * at most 15 significant digits, e.g. 0.7 or 1234.5: finds the smallest k with
 * m = d * 10^k integral and m / 10^k == d. Both m (< 2^53) and 10^k are exact,
 * so that division is the correctly rounded value of the decimal m·10^-k: the
 * decimal reads back as d. With <= 15 digits it is also what %.15g prints.
 * Returns the length written to out, or 0 when the fast path does not apply. */
static size_t format_short_decimal(double d, char *out) {
  static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8 };
  double a = d < 0 ? -d : d;
  int k;
  if (!(a >= 1e-4 && a < 1e15)) return 0;
  for (k = 1; k <= 8; k++) {
    double m = a * p10[k];
    if (m >= 1e15) return 0;
    if (m == floor(m) && m / p10[k] == a) {
      unsigned long long u = (unsigned long long)m;
      char tmp[24];
      char *q = tmp + sizeof tmp, *o = out;
      int digits = 0;
      while (k > 0 && u % 10 == 0) { u /= 10; k--; }  /* cannot happen for the smallest k; kept safe */
      do { *--q = (char)('0' + (int)(u % 10)); u /= 10; digits++; } while (u != 0);
      if (d < 0) *o++ = '-';
      if (digits <= k) {
        *o++ = '0';
        *o++ = '.';
        while (digits < k) { *o++ = '0'; k--; }
        memcpy(o, q, (size_t)digits);
        o += digits;
      } else {
        memcpy(o, q, (size_t)(digits - k));
        o += digits - k;
        *o++ = '.';
        memcpy(o, q + digits - k, (size_t)k);
        o += k;
      }
      return (size_t)(o - out);
    }
  }
  return 0;
}

/* Writes the shortest of %.15g/%.16g/%.17g that reads back as d into out;
 * returns its length. The decimal point is '.' whatever the C locale. */
static size_t format_double(double d, char *out, size_t size) {
  static const char *const fmts[] = { "%.15g", "%.16g", "%.17g" };
  int k, n = 0;
  size_t fast = format_short_decimal(d, out);
  if (fast > 0) return fast;
  for (k = 0; k < 3; k++) {
    n = snprintf(out, size, fmts[k], d);
    if (n <= 0 || (size_t)n >= size) return 0;
    if (k == 2 || strtod(out, NULL) == d) break;
  }
  for (k = 0; k < n; k++) {
    char ch = out[k];
    if (!(ch >= '0' && ch <= '9') && ch != '-' && ch != '+' && ch != 'e') out[k] = '.';
  }
  return (size_t)n;
}

/* ---- errors ------------------------------------------------------------- */

static int is_identifier(const char *s, size_t n) {
  size_t i;
  if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return 0;
  }
  return 1;
}

/* Appends up to 100 bytes of s for a message, on one line: quotes and
 * backslashes escaped, control characters as '?', cut at a UTF-8 character
 * boundary (the message stays valid UTF-8), "..." when cut. */
static void put_excerpt(encoder *e, const char *s, size_t n) {
  size_t i, shown = n > 100 ? 100 : n;
  if (shown < n)
    while (shown > 0 && ((unsigned char)s[shown] & 0xC0) == 0x80) shown--; /* s[shown] begins a character */
  for (i = 0; i < shown; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') enc_putc(e, '\\');
    enc_putc(e, c < 0x20 ? '?' : (char)c);
  }
  if (shown < n) enc_put(e, "...", 3);
}

/* Appends a printable form of the key at stack index idx. */
static void describe_key(encoder *e, int idx) {
  lua_State *L = e->L;
  char tmp[64];
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      enc_putc(e, '"');
      put_excerpt(e, s, n);
      enc_putc(e, '"');
      return;
    }
    case LUA_TNUMBER:
      if (aur_isinteger(L, idx)) {
        enc_integer(e, (long long)lua_tointeger(L, idx));
      } else {
        int n = snprintf(tmp, sizeof tmp, "%.14g", (double)lua_tonumber(L, idx));
        if (n > 0 && (size_t)n < sizeof tmp) enc_put(e, tmp, (size_t)n);
      }
      return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) enc_put(e, "true", 4);
      else enc_put(e, "false", 5);
      return;
    default: {
      const char *t = lua_typename(L, lua_type(L, idx));
      enc_put(e, "of type ", 8);
      enc_put(e, t, strlen(t));
      return;
    }
  }
}

/* Appends " at $..." for the first `depth` frames. */
static void describe_path(encoder *e, int depth) {
  lua_State *L = e->L;
  int d;
  enc_put(e, " at $", 5);
  for (d = 0; d < depth; d++) {
    const frame *f = &e->frames[d];
    if (f->keyidx > 0) {
      size_t n;
      const char *s = lua_tolstring(L, f->keyidx, &n);
      if (is_identifier(s, n)) {
        enc_putc(e, '.');
        enc_put(e, s, n);
      } else {
        enc_put(e, "[\"", 2);
        put_excerpt(e, s, n);
        enc_put(e, "\"]", 2);
      }
    } else {
      enc_putc(e, '[');
      enc_integer(e, (long long)f->index);
      enc_putc(e, ']');
    }
  }
}

/* Raises "<what>[<key>] at <path>"; the output so far is discarded (the
 * buffer is reused for the message). keyidx 0: no key part. */
static void enc_fail(encoder *e, const char *what, int keyidx, int depth) {
  e->len = 0;
  enc_put(e, what, strlen(what));
  if (keyidx != 0) {
    enc_put(e, " (key ", 6);
    describe_key(e, keyidx);
    enc_putc(e, ')');
  }
  describe_path(e, depth);
  lua_pushlstring(e->L, e->buf, e->len);
  lua_error(e->L);
}

/* ---- values ------------------------------------------------------------- */

static void enc_value(encoder *e, int idx, int depth);

/* 1 with *out set when the key at idx is a positive integer (sequence index). */
static int key_index(lua_State *L, int idx, lua_Integer *out) {
  lua_Number d;
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  if (aur_isinteger(L, idx)) {
    lua_Integer v = lua_tointeger(L, idx);
    *out = v;
    return v >= 1;
  }
  d = lua_tonumber(L, idx);
  if (d >= 1 && d <= 9007199254740992.0 && floor(d) == d) {
    *out = (lua_Integer)d;
    return 1;
  }
  return 0;
}

/* t[1..n] at stack index t, as an array (nil → null). */
static void enc_array_items(encoder *e, int t, lua_Integer n, int depth) {
  lua_State *L = e->L;
  frame *f = &e->frames[depth];
  lua_Integer i;
  f->keyidx = 0;
  for (i = 1; i <= n; i++) {
    if (i > 1) enc_putc(e, ',');
    f->index = i;
    lua_rawgeti(L, t, (int)i);
    enc_value(e, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
  }
}

/* Object members; keys must all be strings. `plain`: the table has no marker
 * (a non-string key is then a mixed-keys error). The iteration key is already
 * pushed when `started` (its value above it). */
static void enc_object_members(encoder *e, int t, int depth, int plain, int started) {
  lua_State *L = e->L;
  frame *f = &e->frames[depth];
  int keyidx, first = 1;
  if (!started) lua_pushnil(L);
  keyidx = lua_gettop(L) - (started ? 1 : 0);
  f->keyidx = keyidx;
  enc_putc(e, '{');
  while (started || lua_next(L, t)) {
    size_t kn;
    const char *k;
    started = 0;
    if (lua_type(L, keyidx) != LUA_TSTRING)
      enc_fail(e, plain ? "table has mixed or non-sequence keys" : "object has a non-string key",
               keyidx, depth);
    if (!first) enc_putc(e, ',');
    first = 0;
    k = lua_tolstring(L, keyidx, &kn);
    if (!enc_string(e, k, kn)) enc_fail(e, "invalid UTF-8 in object key", 0, depth);
    enc_putc(e, ':');
    enc_value(e, keyidx + 1, depth + 1);
    lua_pop(L, 1);
  }
  enc_putc(e, '}');
}

/* A table without a marker: empty → {}, keys 1..n → array, string keys → object. */
static void enc_plain(encoder *e, int t, int depth) {
  lua_State *L = e->L;
  frame *f = &e->frames[depth];
  int keyidx;
  size_t mark;
  lua_Integer expect = 1, k;
  lua_pushnil(L);
  keyidx = lua_gettop(L);
  if (!lua_next(L, t)) {
    enc_put(e, "{}", 2);
    return;
  }
  if (lua_type(L, keyidx) == LUA_TSTRING) {
    enc_object_members(e, t, depth, 1, 1);
    return;
  }
  /* an array while lua_next gives 1, 2, 3, … (the array part, in order) */
  enc_putc(e, '[');
  mark = e->len;
  f->keyidx = 0;
  for (;;) {
    if (!key_index(L, keyidx, &k))
      enc_fail(e, "table has mixed or non-sequence keys", keyidx, depth);
    if (k != expect) break;
    if (expect > 1) enc_putc(e, ',');
    f->index = expect++;
    enc_value(e, keyidx + 1, depth + 1);
    lua_pop(L, 1);
    if (!lua_next(L, t)) {
      enc_putc(e, ']');
      return;
    }
  }
  /* out of order (integer keys in the hash part): check every key, then
   * write t[1..max] */
  lua_pop(L, 2);
  {
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
      lua_pop(L, 1);
      if (!key_index(L, keyidx, &k))
        enc_fail(e, "table has mixed or non-sequence keys", keyidx, depth);
      count++;
      if (k > max) max = k;
    }
    if (count != max) {
      /* name a key past the sequence: the largest */
      lua_pushinteger(L, max);
      enc_fail(e, "table has mixed or non-sequence keys", lua_gettop(L), depth);
    }
    e->len = mark;
    enc_array_items(e, t, max, depth);
    enc_putc(e, ']');
  }
}

static void enc_table(encoder *e, int t, int depth) {
  lua_State *L = e->L;
  const void *p = lua_topointer(L, t);
  int d;
  for (d = 0; d < depth; d++)
    if (e->frames[d].table == p) enc_fail(e, "cycle detected", 0, depth);
  if (depth >= e->max_depth) enc_fail(e, "nesting deeper than the limit", 0, depth);
  if (!lua_checkstack(L, 4)) enc_fail(e, "nesting too deep for the Lua stack", 0, depth);
  if (depth >= FRAMES_INLINE && e->frames == e->frames_inline) {
    frame *heap = (frame *)malloc(sizeof(frame) * ((size_t)e->max_depth + 1));
    if (heap == NULL) luaL_error(L, "not enough memory");
    memcpy(heap, e->frames_inline, sizeof e->frames_inline);
    e->frames = heap;
  }
  e->frames[depth].table = p;
  if (lua_getmetatable(L, t)) {
    if (lua_rawequal(L, -1, e->array_mt)) {
      lua_pop(L, 1);
      enc_putc(e, '[');
      enc_array_items(e, t, (lua_Integer)aur_rawlen(L, t), depth);
      enc_putc(e, ']');
      return;
    }
    if (lua_rawequal(L, -1, e->object_mt)) {
      lua_pop(L, 1);
      enc_object_members(e, t, depth, 0, 0);
      return;
    }
    lua_pop(L, 1);
  }
  enc_plain(e, t, depth);
}

static void enc_value(encoder *e, int idx, int depth) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      if (!enc_string(e, s, n)) enc_fail(e, "invalid UTF-8 in string", 0, depth);
      return;
    }
    case LUA_TNUMBER: {
      lua_Number d;
      char tmp[40];
      size_t n;
      if (aur_isinteger(L, idx)) {
        enc_integer(e, (long long)lua_tointeger(L, idx));
        return;
      }
      d = lua_tonumber(L, idx);
      if (d != d) enc_fail(e, "cannot encode NaN", 0, depth);
      if (d == (lua_Number)HUGE_VAL) enc_fail(e, "cannot encode inf", 0, depth);
      if (d == -(lua_Number)HUGE_VAL) enc_fail(e, "cannot encode -inf", 0, depth);
      if (d > -9007199254740992.0 && d < 9007199254740992.0 && floor(d) == d) {
        enc_integer(e, (long long)d);
        return;
      }
      n = format_double((double)d, tmp, sizeof tmp);
      if (n == 0) enc_fail(e, "cannot format number", 0, depth);
      enc_put(e, tmp, n);
      return;
    }
    case LUA_TTABLE:
      enc_table(e, idx, depth);
      return;
    case LUA_TBOOLEAN:
      if (lua_toboolean(L, idx)) enc_put(e, "true", 4);
      else enc_put(e, "false", 5);
      return;
    case LUA_TNIL:
      enc_put(e, "null", 4);
      return;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) {
        enc_put(e, "null", 4);
        return;
      }
      enc_fail(e, "cannot encode light userdata", 0, depth);
      return;
    default: {
      char what[48];
      snprintf(what, sizeof what, "cannot encode %s", lua_typename(L, lua_type(L, idx)));
      enc_fail(e, what, 0, depth);
    }
  }
}

/* Runs under lua_pcall: 1 = the encoder (light userdata), 2 = the value. */
static int encode_body(lua_State *L) {
  encoder *e = (encoder *)lua_touserdata(L, 1);
  luaL_getmetatable(L, AUR_JSON_ARRAY_MT);
  luaL_getmetatable(L, AUR_JSON_OBJECT_MT);
  e->array_mt = 3;
  e->object_mt = 4;
  enc_value(e, 2, 0);
  lua_pushlstring(L, e->buf, e->len);
  return 1;
}

static int json_encode(lua_State *L) {
  lua_Integer max_depth = luaL_optinteger(L, 2, AUR_JSON_DEFAULT_DEPTH);
  encoder e;
  int status;
  luaL_argcheck(L, max_depth >= 1 && max_depth <= AUR_JSON_DEFAULT_DEPTH, 2,
                "nesting limit must be between 1 and 1000");
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  memset(&e, 0, sizeof e);
  e.L = L;
  e.max_depth = (int)max_depth;
  e.frames = e.frames_inline;
  lua_pushvalue(L, lua_upvalueindex(1));  /* encode_body */
  lua_pushlightuserdata(L, &e);
  lua_pushvalue(L, 1);
  status = lua_pcall(L, 2, 1, 0);
  free(e.buf);
  if (e.frames != e.frames_inline) free(e.frames);
  if (status != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

void aur_json_encode_open(lua_State *L) {
  lua_pushcfunction(L, encode_body);
  lua_pushcclosure(L, json_encode, 1);
  lua_setfield(L, -2, "json_encode");
}
