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
  AUR_NUM_LONG = 2         /* a literal longer than cJSON reads (63 chars): patched out */
};

typedef struct aur_json_scan {
  aur_json_number *numbers; /* one per number token */
  size_t nnumbers, numbers_cap;
  size_t *nul_strings;      /* ordinals (keys and values alike) of strings holding \u0000 */
  size_t nnul, nul_cap;
  size_t *nul_offsets;      /* where each of those strings starts (its opening quote) */
  size_t *long_numbers;     /* (offset, length) pairs of AUR_NUM_LONG literals */
  size_t nlong, long_cap;
  size_t nvalues;           /* values of every kind, containers included */
  size_t string_bytes;      /* source bytes of every string, keys included, quotes included */
  size_t error_pos;         /* byte offset of the first error */
  const char *error;        /* NULL when the text is valid */
} aur_json_scan;

/* Strict RFC 8259 check of s[0..len): grammar, numbers, escapes, UTF-8, depth.
 * Returns 1 when valid; 0 with scan->error/error_pos set (or error "out of memory"). */
/* Fills the scan's lookup table; called once when the module opens. */
void aur_json_validate_init(void);
int aur_json_validate(const char *s, size_t len, int max_depth, aur_json_scan *scan);
void aur_json_scan_free(aur_json_scan *scan);
/* Forgets the previous scan's results but keeps its buffers for the next one. */
void aur_json_scan_reset(aur_json_scan *scan);

/* Decodes the JSON string literal starting at s[at] (its opening quote) into b,
 * which must hold at least `len - at` bytes; returns the decoded length.
 * Only called on literals the scan accepted. */
size_t aur_json_unescape(const char *s, size_t len, size_t at, char *b);

/* json_encode.c: adds json_encode to the module table at the top of the stack. */
void aur_json_encode_open(lua_State *L);

#endif
