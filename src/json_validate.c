/* json_validate.c: the strict RFC 8259 scan that runs before cJSON.
 * cJSON alone accepts leading zeros, "2.", ".e1", raw control characters in
 * strings, bad \u escapes and more; this scan rejects all of that, validates
 * UTF-8, bounds the nesting, and records what the conversion needs (where each
 * string is and whether it has escapes, exact integers) in document order. */
#include <stdlib.h>
#include <string.h>
#include "json.h"

/* Every function below takes a pointer into the text and returns the pointer
 * past what it accepted, or NULL after recording why it stopped. The text is a
 * Lua string, so *end is '\0': loops stop there without a bounds check, and a
 * NUL met before end is an error like any unexpected byte. */
typedef struct {
  const unsigned char *s, *end;
  int depth, max_depth;
  aur_json_scan *scan;
} scanner;

static const unsigned char *fail(scanner *sc, const unsigned char *at, const char *why) {
  if (sc->scan->error == NULL) {
    sc->scan->error = why;
    sc->scan->error_pos = (size_t)(at - sc->s);
  }
  return NULL;
}

static const unsigned char *skip_ws(const unsigned char *p) {
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  return p;
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

static int push_number(aur_json_scan *scan, int kind, long long value, double dvalue) {
  aur_json_number *p = reserve(scan->numbers, &scan->numbers_cap, scan->nnumbers + 1, sizeof *p, 64);
  if (p == NULL) return 0;
  scan->numbers = p;
  scan->numbers[scan->nnumbers].kind = kind;
  scan->numbers[scan->nnumbers].value = value;
  scan->numbers[scan->nnumbers].dvalue = dvalue;
  scan->nnumbers++;
  return 1;
}

static int push_blanked(aur_json_scan *scan, size_t at, size_t n) {
  size_t *a = reserve(scan->blanked, &scan->blanked_cap, scan->nblanked + 2, sizeof *a, 64);
  if (a == NULL) return 0;
  scan->blanked = a;
  a[scan->nblanked] = at;
  a[scan->nblanked + 1] = n;
  scan->nblanked += 2;
  return 1;
}

static int push_string(aur_json_scan *scan, size_t start, size_t len, int escaped) {
  aur_json_string *s;
  if (len > ((size_t)-1 >> 1)) return 0; /* cannot happen: no string is half the address space */
  if (scan->nstrings == scan->strings_cap) {
    s = reserve(scan->strings, &scan->strings_cap, scan->nstrings + 1, sizeof *s, 64);
    if (s == NULL) return 0;
    scan->strings = s;
  }
  s = &scan->strings[scan->nstrings++];
  s->start = start;
  s->packed = len << 1 | (escaped ? 1u : 0u);
  return 1;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits at p[0..4) (before end) as a code unit, or -1. */
static long hex4(const unsigned char *p, const unsigned char *end) {
  long v = 0;
  int i;
  if (end - p < 4) return -1;
  for (i = 0; i < 4; i++) {
    int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/* Length of the valid UTF-8 sequence at p (before end), or 0 (overlongs,
 * surrogates and code points past U+10FFFF are invalid). */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
  unsigned char c = *p;
  size_t n, i;
  unsigned long cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
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

/* Eight bytes at a time: the high bit of each byte that is '"', '\\', a
 * control character or not ASCII. Bytes after the first such one may be
 * marked wrongly (borrows), the first one never is. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static unsigned long long special_bytes(const unsigned char *p) {
  unsigned long long x, quote, backslash;
  memcpy(&x, p, sizeof x);
  quote = x ^ (ONES * '"');
  backslash = x ^ (ONES * '\\');
  return (((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

/* Where little-endian loads let the lowest marked bit name the first special
 * byte, jump straight to it; elsewhere the byte loop finds it. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_MARKED(m) ((size_t)__builtin_ctzll(m) >> 3)
#else
#define FIRST_MARKED(m) ((size_t)0)
#endif

/* The first byte at or after p that is not plain_byte (at the latest, *end). */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *end) {
  while (end - p >= 8) {
    unsigned long long m = special_bytes(p);
    if (m != 0) {
      p += FIRST_MARKED(m);
      break;
    }
    p += 8;
  }
  while (plain_byte[*p]) p++;
  return p;
}

static const unsigned char *scan_string(scanner *sc, const unsigned char *p) {
  const unsigned char *start = p + 1, *end = sc->end;
  int escaped = 0;
  p++; /* opening quote */
  for (;;) {
    unsigned char c;
    p = skip_plain(p, end);
    c = *p;
    if (c == '"') break;
    if (c == '\\') {
      unsigned char e;
      escaped = 1;
      if (end - p < 2) return fail(sc, p, "unterminated escape");
      e = p[1];
      if (e == 'u') {
        const unsigned char *escape = p; /* errors point at the escape itself */
        long u = hex4(p + 2, end);
        if (u < 0) return fail(sc, p, "bad \\u escape (four hex digits expected)");
        p += 6;
        if (u >= 0xDC00 && u <= 0xDFFF) return fail(sc, escape, "lone low surrogate in \\u escape");
        if (u >= 0xD800 && u <= 0xDBFF) {
          long lo;
          if (p[0] != '\\' || p[1] != 'u') return fail(sc, escape, "high surrogate not followed by a low surrogate");
          lo = hex4(p + 2, end);
          if (lo < 0xDC00 || lo > 0xDFFF) return fail(sc, escape, "high surrogate not followed by a low surrogate");
          p += 6;
        }
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
        return fail(sc, p, "invalid escape in string");
      p += 2;
      continue;
    }
    if (c < 0x20) return fail(sc, p, p >= end ? "unterminated string" : "control character in string (escape it)");
    {
      size_t n = utf8_sequence(p, end);
      if (n == 0) return fail(sc, p, "invalid UTF-8 in string");
      p += n;
    }
  }
  if (!push_string(sc->scan, (size_t)(start - sc->s), (size_t)(p - start), escaped)) return fail(sc, p, "out of memory");
  return p + 1;
}

static const unsigned char *scan_number(scanner *sc, const unsigned char *p) {
  const unsigned char *start = p;
  int negative = 0, integer = 1, overflow = 0, ok;
  unsigned long long mag = 0;
  if (*p == '-') { negative = 1; p++; }
  if (!is_digit(*p)) return fail(sc, p, "digit expected in number");
  if (*p == '0') {
    p++;
    if (is_digit(*p)) return fail(sc, p, "leading zero in number");
  } else {
    while (is_digit(*p)) {
      unsigned d = (unsigned)(*p - '0');
      if (mag > (0xFFFFFFFFFFFFFFFFULL - d) / 10) overflow = 1;
      else mag = mag * 10 + d;
      p++;
    }
  }
  if (*p == '.') {
    integer = 0;
    p++;
    if (!is_digit(*p)) return fail(sc, p, "digit expected after decimal point");
    while (is_digit(*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    integer = 0;
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!is_digit(*p)) return fail(sc, p, "digit expected in exponent");
    while (is_digit(*p)) p++;
  }
  if (p - start > 63) {
    /* cJSON reads at most 63 characters of a number: the value read here is used.
     * The Lua string is NUL-terminated, and strtod stops at the end of the literal. */
    ok = push_number(sc->scan, AUR_NUM_LONG, 0, strtod((const char *)start, NULL));
  } else if (integer && !overflow && !negative && mag <= 0x7FFFFFFFFFFFFFFFULL) {
    ok = push_number(sc->scan, AUR_NUM_INTEGER, (long long)mag, 0);
  } else if (integer && !overflow && negative && mag <= 0x8000000000000000ULL) {
    ok = push_number(sc->scan, AUR_NUM_INTEGER,
                     mag == 0x8000000000000000ULL ? (-0x7FFFFFFFFFFFFFFFLL - 1) : -(long long)mag, 0);
  } else {
    return push_number(sc->scan, AUR_NUM_CJSON, 0, 0) ? p : fail(sc, p, "out of memory");
  }
  /* the value is known: cJSON gets "0" there instead (its strtod of "0" is a
   * third of that of "1") */
  if (ok && !(p - start == 1 && *start == '0')) ok = push_blanked(sc->scan, (size_t)(start - sc->s), (size_t)(p - start));
  return ok ? p : fail(sc, p, "out of memory");
}

static const unsigned char *scan_literal(scanner *sc, const unsigned char *p, const char *word, size_t n) {
  if ((size_t)(sc->end - p) < n || memcmp(p, word, n) != 0) return fail(sc, p, "unexpected character");
  return p + n;
}

static const unsigned char *scan_value(scanner *sc, const unsigned char *p);

size_t aur_json_split_bytes = AUR_JSON_SPLIT_BYTES;

/* Records a container longer than aur_json_split_bytes (when it closes, so
 * in post-order; aur_json_validate sorts them by start). */
static int push_big(aur_json_scan *scan, size_t start, size_t length, size_t count) {
  aur_json_big *b;
  if (length <= aur_json_split_bytes) return 1;
  b = reserve(scan->big, &scan->big_cap, scan->nbig + 1, sizeof *b, 16);
  if (b == NULL) return 0;
  scan->big = b;
  scan->big[scan->nbig].start = start;
  scan->big[scan->nbig].count = count;
  scan->nbig++;
  return 1;
}

static const unsigned char *scan_container(scanner *sc, const unsigned char *p, int object) {
  unsigned char close = object ? '}' : ']';
  const unsigned char *start = p;
  size_t count = 0;
  if (++sc->depth > sc->max_depth) return fail(sc, p, "nesting deeper than the limit");
  p = skip_ws(p + 1);
  if (*p == close) {
    sc->depth--;
    return p + 1;
  }
  for (;;) {
    count++;
    if (object) {
      if (*p != '"') return fail(sc, p, "object key (a string) expected");
      if ((p = scan_string(sc, p)) == NULL) return NULL;
      p = skip_ws(p);
      if (*p != ':') return fail(sc, p, "':' expected after object key");
      p = skip_ws(p + 1);
    }
    if ((p = scan_value(sc, p)) == NULL) return NULL;
    p = skip_ws(p);
    if (*p == ',') {
      p = skip_ws(p + 1);
      continue;
    }
    if (*p == close) {
      p++;
      sc->depth--;
      if (!push_big(sc->scan, (size_t)(start - sc->s), (size_t)(p - start), count)) return fail(sc, p, "out of memory");
      return p;
    }
    if (p >= sc->end) return fail(sc, p, object ? "unterminated object" : "unterminated array");
    return fail(sc, p, object ? "',' or '}' expected" : "',' or ']' expected");
  }
}

static const unsigned char *scan_value(scanner *sc, const unsigned char *p) {
  switch (*p) {
    case '{': return scan_container(sc, p, 1);
    case '[': return scan_container(sc, p, 0);
    case '"': return scan_string(sc, p);
    case 't': return scan_literal(sc, p, "true", 4);
    case 'f': return scan_literal(sc, p, "false", 5);
    case 'n': return scan_literal(sc, p, "null", 4);
    default:
      if (*p == '-' || is_digit(*p)) return scan_number(sc, p);
      if (p >= sc->end) return fail(sc, p, "value expected");
      return fail(sc, p, "unexpected character");
  }
}

static int big_before(const void *a, const void *b) {
  size_t x = ((const aur_json_big *)a)->start, y = ((const aur_json_big *)b)->start;
  return x < y ? -1 : x > y;
}

int aur_json_validate(const char *s, size_t len, int max_depth, aur_json_scan *scan) {
  scanner sc;
  const unsigned char *p;
  sc.s = (const unsigned char *)s;
  sc.end = sc.s + len;
  sc.depth = 0;
  sc.max_depth = max_depth;
  sc.scan = scan;
  if (*sc.end != '\0') return fail(&sc, sc.end, "internal error: text not NUL-terminated") != NULL;
  p = skip_ws(sc.s);
  if ((p = scan_value(&sc, p)) == NULL) return 0;
  p = skip_ws(p);
  if (p != sc.end) return fail(&sc, p, "unexpected data after the JSON value") != NULL;
  if (scan->nbig > 1) qsort(scan->big, scan->nbig, sizeof *scan->big, big_before);
  return 1;
}

void aur_json_scan_reset(aur_json_scan *scan) {
  scan->nnumbers = scan->nstrings = scan->nblanked = scan->nbig = 0;
  scan->error = NULL;
  scan->error_pos = 0;
}

void aur_json_scan_free(aur_json_scan *scan) {
  free(scan->numbers);
  free(scan->strings);
  free(scan->blanked);
  scan->blanked = NULL;
  free(scan->big);
  scan->big = NULL;
  scan->big_cap = 0;
  scan->nblanked = scan->blanked_cap = 0;
  scan->numbers = NULL;
  scan->strings = NULL;
  scan->nnumbers = scan->numbers_cap = scan->nstrings = scan->strings_cap = 0;
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
        unsigned long cp = (unsigned long)hex4(s + i + 2, s + len);
        i += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned long lo = (unsigned long)hex4(s + i + 2, s + len);
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
