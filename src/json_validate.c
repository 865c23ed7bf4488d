/* json_validate.c: the strict RFC 8259 scan that runs before cJSON.
 * cJSON alone accepts leading zeros, "2.", ".e1", raw control characters in
 * strings, bad \u escapes and more; this scan rejects all of that, validates
 * UTF-8, bounds the nesting, and records what the conversion needs (exact
 * integers, strings holding \u0000) in document order. */
#include <stdlib.h>
#include <string.h>
#include "json.h"

typedef struct {
  const unsigned char *s;
  size_t len, pos;
  int depth, max_depth;
  size_t string_ordinal;
  aur_json_scan *scan;
} scanner;

static int fail(scanner *sc, const char *why) {
  if (sc->scan->error == NULL) {
    sc->scan->error = why;
    sc->scan->error_pos = sc->pos;
  }
  return 0;
}

static void skip_ws(scanner *sc) {
  while (sc->pos < sc->len) {
    unsigned char c = sc->s[sc->pos];
    if (c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r')) return;
    sc->pos++;
  }
}

/* The scan's growable arrays: `array` with room for at least `need` entries
 * of `size` bytes (capacity doubled from `first`, *cap updated), or NULL when
 * out of memory (then `array` and *cap are as they were). */
static void *reserve(void *array, size_t *cap, size_t need, size_t size, size_t first) {
  size_t n = *cap ? *cap : first;
  void *p;
  if (need <= *cap) return array;
  while (n < need) {
    if (n > (size_t)-1 / 2 / size) return NULL;
    n *= 2;
  }
  p = realloc(array, n * size);
  if (p != NULL) *cap = n;
  return p;
}

static int push_number(scanner *sc, int kind, long long value, double dvalue) {
  aur_json_scan *scan = sc->scan;
  aur_json_number *p = reserve(scan->numbers, &scan->numbers_cap, scan->nnumbers + 1, sizeof *p, 64);
  if (p == NULL) return fail(sc, "out of memory");
  scan->numbers = p;
  scan->numbers[scan->nnumbers].kind = kind;
  scan->numbers[scan->nnumbers].value = value;
  scan->numbers[scan->nnumbers].dvalue = dvalue;
  scan->nnumbers++;
  return 1;
}

static int push_nul_string(scanner *sc, size_t ordinal, size_t offset) {
  aur_json_scan *scan = sc->scan;
  size_t cap = scan->nul_cap; /* the two arrays share it */
  size_t *a = reserve(scan->nul_strings, &cap, scan->nnul + 1, sizeof *a, 8);
  if (a == NULL) return fail(sc, "out of memory");
  scan->nul_strings = a;
  cap = scan->nul_cap;
  a = reserve(scan->nul_offsets, &cap, scan->nnul + 1, sizeof *a, 8);
  if (a == NULL) return fail(sc, "out of memory");
  scan->nul_offsets = a;
  scan->nul_cap = cap;
  scan->nul_strings[scan->nnul] = ordinal;
  scan->nul_offsets[scan->nnul] = offset;
  scan->nnul++;
  return 1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits at s[at..at+4) as a code unit, or -1. */
static long hex4(const unsigned char *s, size_t len, size_t at) {
  long v = 0;
  size_t i;
  if (at + 4 > len) return -1;
  for (i = 0; i < 4; i++) {
    int h = hex_value(s[at + i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* Length of the valid UTF-8 sequence at s[at], or 0 (overlongs, surrogates and
 * code points past U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *s, size_t len, size_t at) {
  unsigned char c = s[at];
  size_t n, i;
  unsigned long cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (at + n > len) return 0;
  for (i = 1; i < n; i++) {
    if ((s[at + i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[at + i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0; /* overlong */
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;                        /* surrogate */
  if (cp > 0x10FFFF) return 0;
  return n;
}

/* 1 for the bytes a string may hold as they are: printable ASCII but " and \. */
static unsigned char plain_byte[256];

void aur_json_validate_init(void) {
  int c;
  for (c = 0x20; c < 0x80; c++) plain_byte[c] = (unsigned char)(c != '"' && c != '\\');
}

/* Eight bytes at a time: nonzero when any of them is '"', '\\', a control
 * character or not ASCII (then the byte loop looks closer). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static unsigned long long special_bytes(const unsigned char *p) {
  unsigned long long x, quote, backslash;
  memcpy(&x, p, sizeof x);
  quote = x ^ (ONES * '"');
  backslash = x ^ (ONES * '\\');
  return ((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) | ((x - ONES * 0x20) & ~x) | (x & HIGHS);
}

static int scan_string(scanner *sc) {
  const unsigned char *s = sc->s;
  size_t start = sc->pos;
  size_t ordinal = sc->string_ordinal++;
  int has_nul = 0;
  sc->pos++; /* opening quote */
  for (;;) {
    unsigned char c;
    size_t pos = sc->pos, len = sc->len;
    while (pos + 8 <= len && (special_bytes(s + pos) & HIGHS) == 0) pos += 8;
    while (pos < len && plain_byte[s[pos]]) pos++;
    sc->pos = pos;
    if (sc->pos >= sc->len) return fail(sc, "unterminated string");
    c = s[sc->pos];
    if (c == '"') { sc->pos++; break; }
    if (c < 0x20) return fail(sc, "control character in string (escape it)");
    if (c == '\\') {
      unsigned char e;
      if (sc->pos + 1 >= sc->len) return fail(sc, "unterminated escape");
      e = s[sc->pos + 1];
      if (e == 'u') {
        long u = hex4(s, sc->len, sc->pos + 2);
        if (u < 0) return fail(sc, "bad \\u escape (four hex digits expected)");
        sc->pos += 6;
        if (u >= 0xDC00 && u <= 0xDFFF) return fail(sc, "lone low surrogate in \\u escape");
        if (u >= 0xD800 && u <= 0xDBFF) {
          long lo;
          if (sc->pos + 1 >= sc->len || s[sc->pos] != '\\' || s[sc->pos + 1] != 'u')
            return fail(sc, "high surrogate not followed by a low surrogate");
          lo = hex4(s, sc->len, sc->pos + 2);
          if (lo < 0xDC00 || lo > 0xDFFF) return fail(sc, "high surrogate not followed by a low surrogate");
          sc->pos += 6;
        }
        if (u == 0) has_nul = 1;
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
        return fail(sc, "invalid escape in string");
      sc->pos += 2;
      continue;
    }
    if (c < 0x80) { sc->pos++; continue; }
    {
      size_t n = utf8_sequence(s, sc->len, sc->pos);
      if (n == 0) return fail(sc, "invalid UTF-8 in string");
      sc->pos += n;
    }
  }
  if (has_nul && !push_nul_string(sc, ordinal, start)) return 0;
  return 1;
}

static int scan_number(scanner *sc) {
  const unsigned char *s = sc->s;
  size_t start = sc->pos;
  int negative = 0, integer = 1, overflow = 0;
  unsigned long long mag = 0;
  if (s[sc->pos] == '-') { negative = 1; sc->pos++; }
  if (sc->pos >= sc->len || !is_digit(s[sc->pos])) return fail(sc, "digit expected in number");
  if (s[sc->pos] == '0') {
    sc->pos++;
    if (sc->pos < sc->len && is_digit(s[sc->pos])) return fail(sc, "leading zero in number");
  } else {
    while (sc->pos < sc->len && is_digit(s[sc->pos])) {
      unsigned d = (unsigned)(s[sc->pos] - '0');
      if (mag > (0xFFFFFFFFFFFFFFFFULL - d) / 10) overflow = 1;
      else mag = mag * 10 + d;
      sc->pos++;
    }
  }
  if (sc->pos < sc->len && s[sc->pos] == '.') {
    integer = 0;
    sc->pos++;
    if (sc->pos >= sc->len || !is_digit(s[sc->pos])) return fail(sc, "digit expected after decimal point");
    while (sc->pos < sc->len && is_digit(s[sc->pos])) sc->pos++;
  }
  if (sc->pos < sc->len && (s[sc->pos] == 'e' || s[sc->pos] == 'E')) {
    integer = 0;
    sc->pos++;
    if (sc->pos < sc->len && (s[sc->pos] == '+' || s[sc->pos] == '-')) sc->pos++;
    if (sc->pos >= sc->len || !is_digit(s[sc->pos])) return fail(sc, "digit expected in exponent");
    while (sc->pos < sc->len && is_digit(s[sc->pos])) sc->pos++;
  }
  if (sc->pos - start > 63) {
    /* cJSON reads at most 63 characters of a number: the decoder blanks this
     * literal out of cJSON's copy and uses the value read here. The Lua string
     * is NUL-terminated, and strtod stops at the end of the validated literal. */
    aur_json_scan *scan = sc->scan;
    size_t *a = reserve(scan->long_numbers, &scan->long_cap, scan->nlong + 2, sizeof *a, 8);
    if (a == NULL) return fail(sc, "out of memory");
    scan->long_numbers = a;
    scan->long_numbers[scan->nlong++] = start;
    scan->long_numbers[scan->nlong++] = sc->pos - start;
    return push_number(sc, AUR_NUM_LONG, 0, strtod((const char *)s + start, NULL));
  }
  if (integer && !overflow) {
    if (!negative && mag <= 0x7FFFFFFFFFFFFFFFULL) return push_number(sc, AUR_NUM_INTEGER, (long long)mag, 0);
    if (negative && mag <= 0x8000000000000000ULL)
      return push_number(sc, AUR_NUM_INTEGER,
                         mag == 0x8000000000000000ULL ? (-0x7FFFFFFFFFFFFFFFLL - 1) : -(long long)mag, 0);
  }
  return push_number(sc, AUR_NUM_CJSON, 0, 0);
}

static int scan_literal(scanner *sc, const char *word) {
  size_t n = strlen(word);
  if (sc->pos + n > sc->len || memcmp(sc->s + sc->pos, word, n) != 0) return fail(sc, "unexpected character");
  sc->pos += n;
  return 1;
}

static int scan_value(scanner *sc);

size_t aur_json_split_bytes = AUR_JSON_SPLIT_BYTES;

/* Records a container longer than aur_json_split_bytes (when it closes, so
 * in post-order; aur_json_validate sorts them by start). */
static int push_big(scanner *sc, size_t start, size_t count) {
  aur_json_scan *scan = sc->scan;
  aur_json_big *b;
  if (sc->pos - start <= aur_json_split_bytes) return 1;
  b = reserve(scan->big, &scan->big_cap, scan->nbig + 1, sizeof *b, 16);
  if (b == NULL) return fail(sc, "out of memory");
  scan->big = b;
  scan->big[scan->nbig].start = start;
  scan->big[scan->nbig].count = count;
  scan->nbig++;
  return 1;
}

static int scan_container(scanner *sc, int object) {
  unsigned char close = object ? '}' : ']';
  size_t start = sc->pos, count = 0;
  if (++sc->depth > sc->max_depth) return fail(sc, "nesting deeper than the limit");
  sc->pos++;
  skip_ws(sc);
  if (sc->pos < sc->len && sc->s[sc->pos] == close) {
    sc->pos++;
    sc->depth--;
    return 1;
  }
  for (;;) {
    count++;
    if (object) {
      if (sc->pos >= sc->len || sc->s[sc->pos] != '"') return fail(sc, "object key (a string) expected");
      if (!scan_string(sc)) return 0;
      skip_ws(sc);
      if (sc->pos >= sc->len || sc->s[sc->pos] != ':') return fail(sc, "':' expected after object key");
      sc->pos++;
      skip_ws(sc);
    }
    if (!scan_value(sc)) return 0;
    skip_ws(sc);
    if (sc->pos >= sc->len) return fail(sc, object ? "unterminated object" : "unterminated array");
    if (sc->s[sc->pos] == ',') {
      sc->pos++;
      skip_ws(sc);
      continue;
    }
    if (sc->s[sc->pos] == close) {
      sc->pos++;
      sc->depth--;
      return push_big(sc, start, count);
    }
    return fail(sc, object ? "',' or '}' expected" : "',' or ']' expected");
  }
}

static int scan_value(scanner *sc) {
  unsigned char c;
  if (sc->pos >= sc->len) return fail(sc, "value expected");
  c = sc->s[sc->pos];
  switch (c) {
    case '{': return scan_container(sc, 1);
    case '[': return scan_container(sc, 0);
    case '"': return scan_string(sc);
    case 't': return scan_literal(sc, "true");
    case 'f': return scan_literal(sc, "false");
    case 'n': return scan_literal(sc, "null");
    default:
      if (c == '-' || is_digit(c)) return scan_number(sc);
      return fail(sc, "unexpected character");
  }
}

static int big_before(const void *a, const void *b) {
  size_t x = ((const aur_json_big *)a)->start, y = ((const aur_json_big *)b)->start;
  return x < y ? -1 : x > y;
}

int aur_json_validate(const char *s, size_t len, int max_depth, aur_json_scan *scan) {
  scanner sc;
  sc.s = (const unsigned char *)s;
  sc.len = len;
  sc.pos = 0;
  sc.depth = 0;
  sc.max_depth = max_depth;
  sc.string_ordinal = 0;
  sc.scan = scan;
  skip_ws(&sc);
  if (!scan_value(&sc)) return 0;
  skip_ws(&sc);
  if (sc.pos != len) return fail(&sc, "unexpected data after the JSON value");
  if (scan->nbig > 1) qsort(scan->big, scan->nbig, sizeof *scan->big, big_before);
  return 1;
}

void aur_json_scan_reset(aur_json_scan *scan) {
  scan->nnumbers = scan->nnul = scan->nlong = scan->nbig = 0;
  scan->error = NULL;
  scan->error_pos = 0;
}

void aur_json_scan_free(aur_json_scan *scan) {
  free(scan->numbers);
  free(scan->nul_strings);
  free(scan->nul_offsets);
  free(scan->long_numbers);
  scan->long_numbers = NULL;
  free(scan->big);
  scan->big = NULL;
  scan->big_cap = 0;
  scan->nlong = scan->long_cap = 0;
  scan->numbers = NULL;
  scan->nul_strings = NULL;
  scan->nul_offsets = NULL;
  scan->nnumbers = scan->numbers_cap = scan->nnul = scan->nul_cap = 0;
  aur_json_scan_reset(scan);
}

static size_t put_utf8(char *b, unsigned long cp) {
  if (cp < 0x80) { b[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    b[0] = (char)(0xC0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    b[0] = (char)(0xE0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (char)(0xF0 | (cp >> 18));
  b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  b[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

size_t aur_json_unescape(const char *str, size_t len, size_t at, char *b) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = at + 1, n = 0;
  while (i < len && s[i] != '"') {
    if (s[i] != '\\') { b[n++] = (char)s[i++]; continue; }
    switch (s[i + 1]) {
      case 'b': b[n++] = '\b'; i += 2; break;
      case 'f': b[n++] = '\f'; i += 2; break;
      case 'n': b[n++] = '\n'; i += 2; break;
      case 'r': b[n++] = '\r'; i += 2; break;
      case 't': b[n++] = '\t'; i += 2; break;
      case 'u': {
        unsigned long cp = (unsigned long)hex4(s, len, i + 2);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned long lo = (unsigned long)hex4(s, len, i + 2);
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        }
        n += put_utf8(b + n, cp);
        break;
      }
      default: b[n++] = (char)s[i + 1]; i += 2; break; /* " \ / */
    }
  }
  return n;
}
