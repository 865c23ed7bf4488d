/* json.h: private to the JSON codec (json_validate.c, json_decode.c, json_encode.c). */
#ifndef AUROUS_JSON_H
#define AUROUS_JSON_H

#include <stddef.h>
#include "core.h"

/* Nesting limit (arrays + objects); also cJSON's own CJSON_NESTING_LIMIT. */
#define AUR_JSON_DEFAULT_DEPTH 1000

/* What the strict scan learns for the conversion, in document order. */
typedef struct aur_json_number {
  int kind;                /* AUR_NUM_* */
  long long value;         /* AUR_NUM_INTEGER: its exact value */
  double dvalue;           /* AUR_NUM_LONG: its value */
} aur_json_number;

enum {
  AUR_NUM_CJSON = 0,       /* use cJSON's double */
  AUR_NUM_INTEGER = 1,     /* an integer literal that fits in 64 bits */
  AUR_NUM_LONG = 2         /* a literal longer than cJSON reads (63 chars) */
};

/* Containers longer than this (in bytes of text) are walked by the decoder
 * itself, which hands their elements to cJSON one at a time: cJSON's tree of
 * one element stays in the CPU cache while it is converted, and the arena
 * holding it is reused for the next element. */
#define AUR_JSON_SPLIT_BYTES 16384
/* The threshold in use (AUR_JSON_SPLIT_BYTES); the fuzz target changes it to
 * compare a walked decoding with a one-piece one. */
extern size_t aur_json_split_bytes;
/* Nonzero (the default): the objects of an array reuse their previous sibling's
 * member names (json_decode.c); the fuzz target turns it off to compare. */
extern int aur_json_key_cache;

/* A string literal (member name or value): the decoder pushes it from the text
 * and gives cJSON an empty one in its place (no copy by cJSON). */
typedef struct aur_json_string {
  size_t start;            /* offset of its first byte, after the opening quote */
  size_t packed;           /* its length up to the closing quote, escapes as written,
                              << 1, | 1 when it holds a backslash (16-byte records:
                              a document of short strings has many) */
} aur_json_string;
#define AUR_JSON_STRING_LEN(s) ((s)->packed >> 1)
#define AUR_JSON_STRING_ESCAPED(s) ((int)((s)->packed & 1))

typedef struct aur_json_big {
  size_t start;            /* offset of its '[' or '{' */
  size_t count;            /* elements (members) */
} aur_json_big;

typedef struct aur_json_scan {
  aur_json_number *numbers; /* one per number token */
  size_t nnumbers, numbers_cap;
  aur_json_string *strings; /* one per string literal, member names and values alike */
  size_t nstrings, strings_cap;
  size_t *blanked;          /* (offset, length) pairs of the number literals whose value
                               the scan holds (every AUR_NUM_INTEGER but "0", every
                               AUR_NUM_LONG): the decoder blanks them out of cJSON's copy */
  size_t nblanked, blanked_cap;
  aur_json_big *big;        /* containers over AUR_JSON_SPLIT_BYTES, sorted by start */
  size_t nbig, big_cap;
  size_t error_pos;         /* byte offset of the first error */
  const char *error;        /* NULL when the text is valid */
} aur_json_scan;

/* Strict RFC 8259 check of s[0..len): grammar, numbers, escapes, UTF-8, depth.
 * s[len] must be '\0' (as in every Lua string): the scan stops there.
 * Returns 1 when valid; 0 with scan->error/error_pos set (or error "out of memory"). */
/* Fills the scan's lookup table; called once when the module opens. */
void aur_json_validate_init(void);
int aur_json_validate(const char *s, size_t len, int max_depth, aur_json_scan *scan);
void aur_json_scan_free(aur_json_scan *scan);
/* Forgets the previous scan's results but keeps its buffers for the next one. */
void aur_json_scan_reset(aur_json_scan *scan);

/* Decodes the JSON string literal starting at s[at] (its opening quote) into b,
 * which must hold at least as many bytes as the literal's content as written
 * (escapes never decode longer); returns the decoded length. Only called on
 * literals the scan accepted. */
size_t aur_json_unescape(const char *s, size_t len, size_t at, char *b);

/* json_encode.c: adds json_encode to the module table at the top of the stack. */
void aur_json_encode_open(lua_State *L);

#endif
