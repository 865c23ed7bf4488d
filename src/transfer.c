/* transfer.c: the Transfer userdata, one curl easy handle configured from an
 * options table. The libcurl callbacks only append to C buffers and record why
 * they aborted; the Response / error tables are built afterwards (response.c). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "http.h"

#define AUR_DEFAULT_CONNECT_TIMEOUT 10.0
#define AUR_DEFAULT_MAX_HEADER_SIZE 262144
#define AUR_DEFAULT_MAX_REDIRECTS 5

static aur_transfer *check_transfer(lua_State *L, int i) {
  return (aur_transfer *)aur_checkclass(L, i, AUR_TRANSFER_MT);
}

static aur_transfer *check_open_transfer(lua_State *L, int i) {
  aur_transfer *t = check_transfer(L, i);
  if (t->closed) luaL_error(L, "attempt to use a closed transfer");
  return t;
}

/* ---- libcurl callbacks (no Lua in here) ---- */

static void set_abort(aur_transfer *t, int kind, const char *msg, const char *detail) {
  if (t->abort_kind != AUR_ABORT_NONE) return; /* the first reason wins */
  t->abort_kind = kind;
  if (detail != NULL)
    snprintf(t->errmsg, sizeof t->errmsg, "%s: %s", msg, detail);
  else
    snprintf(t->errmsg, sizeof t->errmsg, "%s", msg);
}

static int open_output(aur_transfer *t) {
  t->out = fopen(t->output_path, "wb");
  if (t->out == NULL) {
    char what[250];
    snprintf(what, sizeof what, "cannot open output file '%.200s'", t->output_path);
    set_abort(t, AUR_ABORT_FILE, what, strerror(errno));
    return -1;
  }
  t->out_opened = 1;
  return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  aur_transfer *t = (aur_transfer *)ud;
  size_t n = size * nmemb;
  if (n == 0) return 0;
  if (t->abort_kind != AUR_ABORT_NONE) return 0;
  if (t->max_response >= 0 &&
      (curl_off_t)n > t->max_response - t->received) {
    char what[120];
    snprintf(what, sizeof what, "response body exceeds max_response_size (%lld bytes)",
             (long long)t->max_response);
    set_abort(t, AUR_ABORT_TOO_LARGE, what, NULL);
    return 0;
  }
  if (t->mode == AUR_MODE_FILE) {
    if (t->out == NULL && open_output(t) != 0) return 0;
    if (fwrite(ptr, 1, n, t->out) != n) {
      char what[250];
      snprintf(what, sizeof what, "cannot write output file '%.200s'", t->output_path);
      set_abort(t, AUR_ABORT_FILE, what, strerror(errno));
      return 0;
    }
  } else if (aur_buf_append(&t->body, ptr, n) != 0) {
    set_abort(t, AUR_ABORT_NOMEM, "out of memory for the response body", NULL);
    return 0;
  }
  t->received += (curl_off_t)n;
  return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  aur_transfer *t = (aur_transfer *)ud;
  size_t n = size * nmemb;
  int rc;
  if (t->abort_kind != AUR_ABORT_NONE) return n == 0 ? 1 : 0;
  rc = aur_headers_feed(&t->hdrs, ptr, n);
  if (rc == AUR_HDR_TOO_LARGE) {
    char what[120];
    snprintf(what, sizeof what, "response headers exceed max_header_size (%lu bytes)",
             (unsigned long)t->hdrs.limit);
    set_abort(t, AUR_ABORT_TOO_LARGE, what, NULL);
    return n == 0 ? 1 : 0;
  }
  if (rc != AUR_HDR_OK) {
    set_abort(t, AUR_ABORT_NOMEM, "out of memory for the response headers", NULL);
    return n == 0 ? 1 : 0;
  }
  return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  aur_transfer *t = (aur_transfer *)ud;
  t->dltotal = dltotal;
  t->dlnow = dlnow;
  t->ultotal = ultotal;
  t->ulnow = ulnow;
  return t->abort_kind == AUR_ABORT_CANCELLED ? 1 : 0;
}

/* ---- state changes (also used by session.c) ---- */

void aur_transfer_begin(aur_transfer *t) {
  t->state = AUR_RUNNING;
  t->abort_kind = AUR_ABORT_NONE;
  t->code = CURLE_OK;
  t->body.len = 0;
  t->received = 0;
  t->hdrs.count = 0;
  t->hdrs.text.len = 0;
  t->hdrs.raw.len = 0;
  t->hdrs.total = 0;
  t->hdrs.status = 0;
  t->hdrs.version[0] = '\0';
  t->dlnow = t->dltotal = t->ulnow = t->ultotal = 0;
  t->errbuf[0] = '\0';
  t->errmsg[0] = '\0';
  t->out_opened = 0;
}

static void close_output(aur_transfer *t) {
  if (t->out != NULL) {
    int bad = fclose(t->out) != 0;
    t->out = NULL;
    if (bad) {
      char what[250];
      snprintf(what, sizeof what, "cannot write output file '%.200s'", t->output_path);
      set_abort(t, AUR_ABORT_FILE, what, strerror(errno));
    }
  }
}

void aur_transfer_end(aur_transfer *t, CURLcode code) {
  t->code = code;
  if (t->mode == AUR_MODE_FILE && !t->out_opened && code == CURLE_OK &&
      t->abort_kind == AUR_ABORT_NONE)
    open_output(t); /* an empty body still creates/truncates the file */
  close_output(t);
  t->state = AUR_DONE;
}

void aur_transfer_cancelled(aur_transfer *t) {
  t->abort_kind = AUR_ABORT_NONE;
  set_abort(t, AUR_ABORT_CANCELLED, "transfer cancelled", NULL);
  t->code = CURLE_ABORTED_BY_CALLBACK;
  if (t->out != NULL) {
    fclose(t->out); /* result already is "cancelled": a close error adds nothing */
    t->out = NULL;
  }
  t->state = AUR_DONE;
}

/* ---- a per-state pool of easy handles ----
 * curl_easy_init and curl_easy_cleanup cost more than a small request's own
 * work, so a closed transfer's handle is kept for the next transfer. A handle
 * whose transfer set only "plain" options (those configure() sets on every
 * transfer, to a value or to its default) and ended normally is kept as it is:
 * the next configure overwrites each of them, which costs less than
 * curl_easy_reset and setting the constant ones again (libcurl supports reusing
 * a handle with new options; that is what curl_easy_perform loops do). Any
 * other handle is reset to defaults first. The pool lives in the registry and
 * is finalized after every transfer (finalizers run in reverse creation order). */
#define AUR_EASY_POOL "aurous.easy_pool"
#define EASY_POOL_SIZE 16

typedef struct easy_pool {
  CURL *handles[EASY_POOL_SIZE];
  unsigned char configured[EASY_POOL_SIZE]; /* kept without a reset */
  int count;
  int closed;
} easy_pool;

static easy_pool *get_pool(lua_State *L) {
  easy_pool *pool;
  lua_getfield(L, LUA_REGISTRYINDEX, AUR_EASY_POOL);
  pool = (easy_pool *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return pool;
}

static int pool_gc(lua_State *L) {
  easy_pool *pool = (easy_pool *)lua_touserdata(L, 1);
  while (pool->count > 0) curl_easy_cleanup(pool->handles[--pool->count]);
  pool->closed = 1;
  return 0;
}

/* A handle for t (t->reused: it keeps a plain transfer's options). */
static CURL *easy_take(lua_State *L, aur_transfer *t) {
  easy_pool *pool = get_pool(L);
  t->reused = 0;
  if (pool != NULL && !pool->closed && pool->count > 0) {
    pool->count--;
    t->reused = pool->configured[pool->count];
    return pool->handles[pool->count];
  }
  return curl_easy_init();
}

/* The options that point into the Transfer or its headers, cleared so that an
 * idle pooled handle holds no pointer to freed memory. */
static CURLcode clear_pointers(CURL *easy) {
  CURLcode rc = curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, (char *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_HEADERDATA, (void *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_XFERINFODATA, (void *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_CURLU, (CURLU *)NULL);
  return rc;
}

/* A handle that ran curl_easy_perform keeps an internal multi handle that
 * curl_easy_reset does not drop, and libcurl 7.88 leaks part of it when such a
 * handle later joins another multi: those are cleaned up, never pooled. */
static void easy_give_back(lua_State *L, aur_transfer *t) {
  easy_pool *pool = get_pool(L);
  CURL *easy = t->easy;
  if (!t->performed_alone && pool != NULL && !pool->closed && pool->count < EASY_POOL_SIZE) {
    int keep = t->plain && t->state == AUR_DONE && t->code == CURLE_OK && t->abort_kind == AUR_ABORT_NONE &&
               clear_pointers(easy) == CURLE_OK;
    if (!keep) curl_easy_reset(easy);
    pool->configured[pool->count] = (unsigned char)keep;
    pool->handles[pool->count++] = easy;
  } else {
    curl_easy_cleanup(easy);
  }
}

static void header_list_release(aur_header_list *list);

/* Frees everything once; leaves the session first if still inside one. */
static void transfer_free(lua_State *L, aur_transfer *t) {
  if (t->closed) return;
  if (t->session != NULL) {
    (void)aur_session_detach(L, t); /* nothing to do on failure: we are tearing down */
    aur_transfer_cancelled(t);
  }
  if (t->out != NULL) {
    fclose(t->out);
    t->out = NULL;
  }
  if (t->easy != NULL) easy_give_back(L, t);
  t->easy = NULL;
  curl_url_cleanup(t->url); /* after: the handle pointed at it */
  t->url = NULL;
  if (t->mime != NULL) curl_mime_free(t->mime);
  t->mime = NULL;
  if (t->headers != NULL) curl_slist_free_all(t->headers);
  t->headers = NULL;
  header_list_release(t->shared_headers);
  t->shared_headers = NULL;
  free(t->method);
  t->method = NULL;
  free(t->output_path);
  t->output_path = NULL;
  aur_buf_free(&t->body);
  aur_headers_free(&t->hdrs);
  t->closed = 1;
}

/* ---- option parsing ---- */

static void setopt_failed(lua_State *L, const char *opt, CURLcode rc) {
  luaL_error(L, "aurous: curl_easy_setopt(%s) failed: %s", opt, curl_easy_strerror(rc));
}

#define SETOPT(L, t, opt, val) do { \
    CURLcode rc_ = curl_easy_setopt((t)->easy, (opt), (val)); \
    if (rc_ != CURLE_OK) setopt_failed((L), #opt, rc_); \
  } while (0)

static int field_type_error(lua_State *L, const char *field, const char *expected) {
  return luaL_error(L, "bad field '%s' (%s expected, got %s)", field, expected,
                    luaL_typename(L, -1));
}

static int field_error(lua_State *L, const char *field, const char *why) {
  return luaL_error(L, "bad field '%s' (%s)", field, why);
}

#define NO_NUL  1
#define NO_CRLF 2

static int has_byte(const char *s, size_t n, int flags) {
  if ((flags & NO_NUL) && memchr(s, '\0', n) != NULL) return 1;
  if ((flags & NO_CRLF) && (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)) return 1;
  return 0;
}

/* Pushes opts[name]; returns the string or NULL when absent. The value stays
 * on the stack (the caller pops one slot either way). */
static const char *opt_string(lua_State *L, int opts, const char *name, size_t *len, int flags) {
  const char *s;
  size_t n;
  int ty = aur_getfield_type(L, opts, name);
  if (ty == LUA_TNIL) return NULL;
  if (ty != LUA_TSTRING) field_type_error(L, name, "string");
  s = lua_tolstring(L, -1, &n);
  if (has_byte(s, n, flags))
    field_error(L, name, (flags & NO_CRLF) ? "must not contain CR, LF or NUL" : "must not contain NUL");
  if (len != NULL) *len = n;
  return s;
}

static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') return 1;
  return c != '\0' && strchr("!#$%&'*+.^_`|~", c) != NULL;
}

static int is_token(const char *s, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i])) return 0;
  return 1;
}

/* Raises unless method (n bytes) is an HTTP token of at most 32 bytes. */
static void check_method(lua_State *L, const char *method, size_t n) {
  if (!is_token(method, n) || n > 32) field_error(L, "method", "an HTTP token expected");
}

static char *dup_string(lua_State *L, const char *s, size_t n) {
  char *p = (char *)malloc(n + 1);
  if (p == NULL) luaL_error(L, "aurous: out of memory");
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static long to_ms(lua_Number seconds) {
  lua_Number ms = ceil(seconds * 1000.0);
  if (ms > 2147483647.0) ms = 2147483647.0;
  return (long)ms;
}

/* An error about opts.headers[i] (the field name is formatted only then). */
static void header_error(lua_State *L, size_t i, const char *what) {
  char field[40];
  snprintf(field, sizeof field, "headers[%lu]", (unsigned long)i);
  if (what == NULL) field_type_error(L, field, "string");
  field_error(L, field, what);
}

/* Appends the "Name: value" lines of the array at index tbl to *lines (each
 * checked; an error names headers[i]). On an error *lines keeps what was
 * appended: its owner frees it. */
static void append_header_lines(lua_State *L, int tbl, struct curl_slist **lines) {
  size_t n, i;
  n = aur_rawlen(L, tbl);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *h, *colon;
    struct curl_slist *next;
    if (aur_rawgeti_type(L, tbl, (int)i) != LUA_TSTRING) header_error(L, i, NULL);
    h = lua_tolstring(L, -1, &len);
    if (has_byte(h, len, NO_NUL | NO_CRLF)) header_error(L, i, "must not contain CR, LF or NUL");
    colon = (const char *)memchr(h, ':', len);
    if (colon == NULL || !is_token(h, (size_t)(colon - h))) header_error(L, i, "\"Name: value\" expected");
    next = curl_slist_append(*lines, h);
    if (next == NULL) luaL_error(L, "aurous: out of memory");
    *lines = next;
    lua_pop(L, 1);
  }
}

/* ---- HeaderList: request header lines checked and converted once ----
 * core.header_list(lines) for a program that sends the same headers on every
 * request (the client, per client): a transfer given one uses its lines as they
 * are (about 3 k instructions a request less than an array of 4 lines). The
 * lines are shared, counted: a transfer keeps them alive until it is closed. */
struct aur_header_list {
  struct curl_slist *lines;
  int refs;
};

static void header_list_release(aur_header_list *list) {
  if (list != NULL && --list->refs == 0) {
    curl_slist_free_all(list->lines);
    free(list);
  }
}

/* A new, empty list with one reference. */
static aur_header_list *header_list_alloc(lua_State *L) {
  aur_header_list *list = (aur_header_list *)calloc(1, sizeof *list);
  if (list == NULL) luaL_error(L, "aurous: out of memory");
  list->refs = 1;
  return list;
}

/* The list of the HeaderList at idx, or NULL when the value is not one; a closed
 * one is an error naming the field `headers`. */
static aur_header_list *given_header_list(lua_State *L, int idx) {
  aur_header_list **box = (aur_header_list **)aur_testudata(L, idx, AUR_HEADER_LIST_MT);
  if (box != NULL && *box == NULL) field_error(L, "headers", "a freed HeaderList");
  return box != NULL ? *box : NULL;
}

static int header_list_new(lua_State *L) {
  aur_header_list **box;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  box = (aur_header_list **)lua_newuserdata(L, sizeof *box);
  *box = NULL;
  aur_setmetatable(L, AUR_HEADER_LIST_MT);
  *box = header_list_alloc(L);
  append_header_lines(L, 1, &(*box)->lines); /* an error: __gc frees what was built */
  return 1;
}

/* __gc and __close: drops the list's own reference (transfers keep theirs). */
static int header_list_gc(lua_State *L) {
  aur_header_list **box = (aur_header_list **)aur_checkclass(L, 1, AUR_HEADER_LIST_MT);
  header_list_release(*box);
  *box = NULL;
  return 0;
}

static int header_list_tostring(lua_State *L) {
  aur_header_list **box = (aur_header_list **)aur_checkclass(L, 1, AUR_HEADER_LIST_MT);
  size_t n = 0;
  const struct curl_slist *l;
  for (l = *box != NULL ? (*box)->lines : NULL; l != NULL; l = l->next) n++;
  lua_pushfstring(L, "aurous.HeaderList (%d lines)", (int)n); /* never the values: they hold keys */
  return 1;
}

/* Sets t's request headers from opts.headers, at the top of the stack: an
 * array of lines or a HeaderList. */
static void set_headers(lua_State *L, aur_transfer *t) {
  aur_header_list *list = given_header_list(L, -1);
  if (list != NULL) {
    t->shared_headers = list;
    list->refs++;
  } else {
    append_header_lines(L, lua_gettop(L), &t->headers);
  }
}

static void mime_check(lua_State *L, CURLcode rc, const char *field, const char *what) {
  if (rc != CURLE_OK) luaL_error(L, "bad field '%s' (%s: %s)", field, what, curl_easy_strerror(rc));
}

/* One part of opts.parts, the part table at the top of the stack. */
static void add_part(lua_State *L, aur_transfer *t, size_t index) {
  int tbl = lua_gettop(L);
  char field[64];
  const char *name, *data, *path, *filename, *ctype;
  size_t data_len = 0;
  curl_mimepart *part;
  snprintf(field, sizeof field, "parts[%lu]", (unsigned long)index);
  if (!lua_istable(L, tbl)) field_type_error(L, field, "table");
  part = curl_mime_addpart(t->mime);
  if (part == NULL) luaL_error(L, "aurous: out of memory");

  snprintf(field, sizeof field, "parts[%lu].name", (unsigned long)index);
  name = opt_string(L, tbl, "name", NULL, NO_NUL | NO_CRLF);
  if (name == NULL) field_type_error(L, field, "string");
  mime_check(L, curl_mime_name(part, name), field, "curl_mime_name");
  lua_pop(L, 1);

  data = opt_string(L, tbl, "data", &data_len, 0);
  path = opt_string(L, tbl, "path", NULL, NO_NUL);
  if ((data == NULL) == (path == NULL)) {
    snprintf(field, sizeof field, "parts[%lu]", (unsigned long)index);
    field_error(L, field, "exactly one of 'data' and 'path' expected");
  }
  if (data != NULL) {
    snprintf(field, sizeof field, "parts[%lu].data", (unsigned long)index);
    mime_check(L, curl_mime_data(part, data_len > 0 ? data : "", data_len), field, "curl_mime_data");
  } else {
    FILE *probe;
    struct stat info;
    int regular;
    snprintf(field, sizeof field, "parts[%lu].path", (unsigned long)index);
    probe = fopen(path, "rb");
    if (probe == NULL)
      luaL_error(L, "bad field '%s' (cannot read '%s': %s)", field, path, strerror(errno));
    /* the file just opened: a directory opens for reading too (an empty part) */
    regular = fstat(fileno(probe), &info) == 0 && S_ISREG(info.st_mode);
    fclose(probe);
    if (!regular) luaL_error(L, "bad field '%s' ('%s' is not a regular file)", field, path);
    mime_check(L, curl_mime_filedata(part, path), field, "curl_mime_filedata");
  }
  lua_pop(L, 2);

  snprintf(field, sizeof field, "parts[%lu].filename", (unsigned long)index);
  filename = opt_string(L, tbl, "filename", NULL, NO_NUL | NO_CRLF);
  if (filename != NULL) mime_check(L, curl_mime_filename(part, filename), field, "curl_mime_filename");
  lua_pop(L, 1);

  snprintf(field, sizeof field, "parts[%lu].content_type", (unsigned long)index);
  ctype = opt_string(L, tbl, "content_type", NULL, NO_NUL | NO_CRLF);
  if (ctype != NULL) mime_check(L, curl_mime_type(part, ctype), field, "curl_mime_type");
  lua_pop(L, 1);
}

/* Field names in part errors: opt_string reports the bare key ('name'), so the
 * part fields are checked here with full names first. */
static void check_part_fields(lua_State *L, size_t index) {
  static const char *const keys[] = {"name", "data", "path", "filename", "content_type"};
  size_t k;
  int tbl = lua_gettop(L);
  char field[64];
  snprintf(field, sizeof field, "parts[%lu]", (unsigned long)index);
  if (!lua_istable(L, tbl)) field_type_error(L, field, "table");
  for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    int ty = aur_getfield_type(L, tbl, keys[k]);
    snprintf(field, sizeof field, "parts[%lu].%s", (unsigned long)index, keys[k]);
    if (ty != LUA_TNIL && ty != LUA_TSTRING) field_type_error(L, field, "string");
    if (ty == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      int flags = k == 1 ? 0 : (k == 2 ? NO_NUL : NO_NUL | NO_CRLF);
      if (has_byte(s, n, flags))
        field_error(L, field, (flags & NO_CRLF) ? "must not contain CR, LF or NUL" : "must not contain NUL");
    }
    lua_pop(L, 1);
  }
}

/* Builds the multipart form from opts.parts, the table at index tbl. */
static void set_parts(lua_State *L, aur_transfer *t, int tbl) {
  size_t n, i;
  t->mime = curl_mime_init(t->easy);
  if (t->mime == NULL) luaL_error(L, "aurous: out of memory");
  n = aur_rawlen(L, tbl);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, tbl, (int)i);
    check_part_fields(L, i);
    add_part(L, t, i);
    lua_pop(L, 1);
  }
}

/* The fields of core.transfer's options table, and what each must hold. */
enum {
  F_URL, F_METHOD, F_HEADERS, F_BODY, F_PARTS, F_OUTPUT_PATH, F_STREAM, F_TIMEOUT,
  F_CONNECT_TIMEOUT, F_LOW_SPEED_LIMIT, F_LOW_SPEED_TIME, F_MAX_RESPONSE_SIZE,
  F_MAX_HEADER_SIZE, F_FRESH_CONNECT, F_FOLLOW_REDIRECTS, F_MAX_REDIRECTS,
  F_USER_AGENT, F_CAINFO, F_INSECURE, F_COUNT
};
enum { K_STRING, K_NUMBER, K_INTEGER, K_BOOLEAN, K_TABLE, K_HEADERS };
#define MAX_INT31 2147483647.0
#define MAX_INT53 9007199254740992.0

static const struct field_spec {
  const char *name;
  size_t len;
  unsigned char kind;
  unsigned char flags;  /* K_STRING: NO_NUL, NO_CRLF */
  double max;           /* K_INTEGER */
} fields[F_COUNT] = {
#define FIELD(name, kind, flags, max) {name, sizeof name - 1, kind, flags, max}
  FIELD("url", K_STRING, NO_NUL, 0), FIELD("method", K_STRING, NO_NUL, 0), FIELD("headers", K_HEADERS, 0, 0),
  FIELD("body", K_STRING, 0, 0), FIELD("parts", K_TABLE, 0, 0), FIELD("output_path", K_STRING, NO_NUL, 0),
  FIELD("stream", K_BOOLEAN, 0, 0), FIELD("timeout", K_NUMBER, 0, 0), FIELD("connect_timeout", K_NUMBER, 0, 0),
  FIELD("low_speed_limit", K_INTEGER, 0, MAX_INT31), FIELD("low_speed_time", K_INTEGER, 0, MAX_INT31),
  FIELD("max_response_size", K_INTEGER, 0, MAX_INT53), FIELD("max_header_size", K_INTEGER, 0, MAX_INT53),
  FIELD("fresh_connect", K_BOOLEAN, 0, 0), FIELD("follow_redirects", K_BOOLEAN, 0, 0),
  FIELD("max_redirects", K_INTEGER, 0, MAX_INT31), FIELD("user_agent", K_STRING, NO_NUL | NO_CRLF, 0),
  FIELD("cainfo", K_STRING, NO_NUL, 0), FIELD("insecure", K_BOOLEAN, 0, 0)
#undef FIELD
};

/* What one pass over the options table found. Strings point into the table,
 * which stays on the stack while the transfer is configured. */
typedef struct transfer_opts {
  unsigned long present;  /* 1 << F_* */
  const char *str[F_COUNT];
  size_t len[F_COUNT];
  lua_Number num[F_COUNT];
  int flag[F_COUNT];
} transfer_opts;

#define HAS(o, f) (((o)->present >> (f)) & 1UL)

static int field_of(const char *key, size_t n) {
  int f;
  for (f = 0; f < F_COUNT; f++)
    if (fields[f].len == n && memcmp(fields[f].name, key, n) == 0) return f;
  return -1;
}

/* Checks the value at the top of the stack as field f and records it. */
static void read_field(lua_State *L, int f, transfer_opts *o) {
  const struct field_spec *spec = &fields[f];
  int ty = lua_type(L, -1);
  switch (spec->kind) {
    case K_STRING:
      if (ty != LUA_TSTRING) field_type_error(L, spec->name, "string");
      o->str[f] = lua_tolstring(L, -1, &o->len[f]);
      if (has_byte(o->str[f], o->len[f], spec->flags))
        field_error(L, spec->name, (spec->flags & NO_CRLF) ? "must not contain CR, LF or NUL" : "must not contain NUL");
      break;
    case K_NUMBER:
    case K_INTEGER: {
      lua_Number v;
      if (ty != LUA_TNUMBER) field_type_error(L, spec->name, "number");
      v = lua_tonumber(L, -1);
      if (!(v >= 0) || v > 1e15) field_error(L, spec->name, "must be a non-negative number");
      if (spec->kind == K_INTEGER && (v != floor(v) || v > spec->max))
        field_error(L, spec->name, "must be a non-negative integer");
      o->num[f] = v;
      break;
    }
    case K_BOOLEAN:
      if (ty != LUA_TBOOLEAN) field_type_error(L, spec->name, "boolean");
      o->flag[f] = lua_toboolean(L, -1);
      break;
    case K_HEADERS:
      if (ty != LUA_TTABLE && aur_testudata(L, -1, AUR_HEADER_LIST_MT) == NULL)
        field_type_error(L, spec->name, "table or HeaderList");
      break;
    default:
      if (ty != LUA_TTABLE) field_type_error(L, spec->name, "table");
      break;
  }
  o->present |= 1UL << f;
}

/* Reads the options table at idx in one pass into o: a key among `allowed`
 * (1 << F_* bits) is checked as its field; any other key is an error that names
 * `what` ("transfer", "session"). */
static void read_options(lua_State *L, int idx, unsigned long allowed, const char *what, transfer_opts *o) {
  o->present = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    size_t n;
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &n) : NULL;
    int f = key != NULL ? field_of(key, n) : -1;
    if (f < 0 || !((allowed >> f) & 1UL)) {
      if (key == NULL) luaL_error(L, "bad %s option key (string expected, got %s)", what, luaL_typename(L, -2));
      if (f >= 0) luaL_error(L, "'%s' is not a %s option", key, what);
      luaL_error(L, "unknown %s option '%s'", what, key);
    }
    read_field(L, f, o);
    lua_pop(L, 1);
  }
}

/* Configures t from o. `opts`: the options table's stack index, for its headers
 * and parts, or 0 for a template's options (whose header list t already holds). */
static void configure(lua_State *L, aur_transfer *t, const transfer_opts *o, int opts) {
  const char *method;
  size_t method_len;
  int has_body = 0;

  if (HAS(o, F_HEADERS) && opts != 0) {
    lua_getfield(L, opts, "headers");
    set_headers(L, t);
    lua_pop(L, 1);
  }
  if (!HAS(o, F_URL)) {
    lua_pushnil(L);
    field_type_error(L, "url", "string");
  }
  method = HAS(o, F_METHOD) ? o->str[F_METHOD] : "GET";
  method_len = HAS(o, F_METHOD) ? o->len[F_METHOD] : 3;
  check_method(L, method, method_len);
  if (HAS(o, F_PARTS) && HAS(o, F_BODY)) field_error(L, "parts", "exclusive with 'body'");
  if (HAS(o, F_STREAM) && o->flag[F_STREAM] && HAS(o, F_OUTPUT_PATH))
    field_error(L, "stream", "exclusive with 'output_path'");
  t->method = dup_string(L, method, method_len);
  if (HAS(o, F_OUTPUT_PATH)) {
    t->output_path = dup_string(L, o->str[F_OUTPUT_PATH], o->len[F_OUTPUT_PATH]);
    t->mode = AUR_MODE_FILE;
  } else if (HAS(o, F_STREAM) && o->flag[F_STREAM]) {
    t->mode = AUR_MODE_STREAM;
  }

  /* the options below are all "plain" (see the pool) but where marked */
  t->plain = 1;
  SETOPT(L, t, CURLOPT_PRIVATE, (void *)t);
  SETOPT(L, t, CURLOPT_ERRORBUFFER, t->errbuf);
  SETOPT(L, t, CURLOPT_WRITEDATA, (void *)t);
  SETOPT(L, t, CURLOPT_HEADERDATA, (void *)t);
  SETOPT(L, t, CURLOPT_XFERINFODATA, (void *)t);
  if (!t->reused) { /* constant: a reused handle has them already */
    SETOPT(L, t, CURLOPT_NOSIGNAL, 1L);
    SETOPT(L, t, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(L, t, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(L, t, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(L, t, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(L, t, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(L, t, CURLOPT_NOPROGRESS, 0L);
  }
  /* a pooled handle has none (clear_pointers) */
  if (t->shared_headers != NULL) SETOPT(L, t, CURLOPT_HTTPHEADER, t->shared_headers->lines);
  else if (t->headers != NULL) SETOPT(L, t, CURLOPT_HTTPHEADER, t->headers);

  if (HAS(o, F_BODY)) {
    size_t len = o->len[F_BODY];
    SETOPT(L, t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SETOPT(L, t, CURLOPT_COPYPOSTFIELDS, len > 0 ? o->str[F_BODY] : "");
    has_body = 1;
    t->plain = 0;
  }
  if (HAS(o, F_PARTS)) {
    lua_getfield(L, opts, "parts");
    set_parts(L, t, lua_gettop(L));
    lua_pop(L, 1);
    SETOPT(L, t, CURLOPT_MIMEPOST, t->mime);
    has_body = 1;
    t->plain = 0;
  }
  if (strcmp(t->method, "HEAD") == 0) {
    SETOPT(L, t, CURLOPT_NOBODY, 1L);
    t->plain = 0;
  } else if (strcmp(t->method, "POST") == 0) {
    if (!has_body) {
      SETOPT(L, t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
      SETOPT(L, t, CURLOPT_COPYPOSTFIELDS, "");
    }
    t->plain = 0;
  } else if (strcmp(t->method, "GET") != 0 || has_body) {
    SETOPT(L, t, CURLOPT_CUSTOMREQUEST, t->method);
    t->plain = 0;
  }

  /* absent: libcurl's default, set again on a reused handle */
  if (HAS(o, F_TIMEOUT)) {
    SETOPT(L, t, CURLOPT_TIMEOUT_MS, to_ms(o->num[F_TIMEOUT]));
    t->set |= AUR_SET_TIMEOUT;
  } else if (t->reused) {
    SETOPT(L, t, CURLOPT_TIMEOUT_MS, 0L);
  }
  if (HAS(o, F_CONNECT_TIMEOUT)) t->set |= AUR_SET_CONNECT_TIMEOUT;
  SETOPT(L, t, CURLOPT_CONNECTTIMEOUT_MS,
         to_ms(HAS(o, F_CONNECT_TIMEOUT) ? o->num[F_CONNECT_TIMEOUT] : AUR_DEFAULT_CONNECT_TIMEOUT));
  if (HAS(o, F_LOW_SPEED_LIMIT) || t->reused)
    SETOPT(L, t, CURLOPT_LOW_SPEED_LIMIT, HAS(o, F_LOW_SPEED_LIMIT) ? (long)o->num[F_LOW_SPEED_LIMIT] : 0L);
  if (HAS(o, F_LOW_SPEED_TIME) || t->reused)
    SETOPT(L, t, CURLOPT_LOW_SPEED_TIME, HAS(o, F_LOW_SPEED_TIME) ? (long)o->num[F_LOW_SPEED_TIME] : 0L);
  if (HAS(o, F_MAX_RESPONSE_SIZE)) t->max_response = (curl_off_t)o->num[F_MAX_RESPONSE_SIZE];
  if (HAS(o, F_MAX_RESPONSE_SIZE) || t->reused)
    SETOPT(L, t, CURLOPT_MAXFILESIZE_LARGE, HAS(o, F_MAX_RESPONSE_SIZE) ? t->max_response : (curl_off_t)0);
  t->hdrs.limit = HAS(o, F_MAX_HEADER_SIZE) ? (size_t)o->num[F_MAX_HEADER_SIZE] : AUR_DEFAULT_MAX_HEADER_SIZE;

  /* libcurl silently sends a request again on a new connection when a reused one
   * dies before any answer byte; for a request that must not run twice (a POST
   * without an idempotency key) the caller asks for a fresh connection instead. */
  if (HAS(o, F_FRESH_CONNECT) && o->flag[F_FRESH_CONNECT]) {
    SETOPT(L, t, CURLOPT_FRESH_CONNECT, 1L);
    t->plain = 0;
  }
  SETOPT(L, t, CURLOPT_FOLLOWLOCATION, HAS(o, F_FOLLOW_REDIRECTS) && o->flag[F_FOLLOW_REDIRECTS] ? 1L : 0L);
  SETOPT(L, t, CURLOPT_MAXREDIRS,
         HAS(o, F_MAX_REDIRECTS) ? (long)o->num[F_MAX_REDIRECTS] : (long)AUR_DEFAULT_MAX_REDIRECTS);
  if (HAS(o, F_USER_AGENT)) {
    SETOPT(L, t, CURLOPT_USERAGENT, o->str[F_USER_AGENT]);
    t->set |= AUR_SET_USER_AGENT;
    t->plain = 0;
  }
  if (HAS(o, F_CAINFO)) {
    SETOPT(L, t, CURLOPT_CAINFO, o->str[F_CAINFO]);
    t->set |= AUR_SET_CAINFO;
    t->plain = 0;
  }
  if (HAS(o, F_INSECURE)) t->set |= AUR_SET_INSECURE;
  SETOPT(L, t, CURLOPT_SSL_VERIFYPEER, HAS(o, F_INSECURE) && o->flag[F_INSECURE] ? 0L : 1L);
  SETOPT(L, t, CURLOPT_SSL_VERIFYHOST, HAS(o, F_INSECURE) && o->flag[F_INSECURE] ? 0L : 2L);
}

/* ---- Session defaults (the options of core.session{…}) ---- */

static char *copy_string(lua_State *L, const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c == NULL) luaL_error(L, "aurous: out of memory");
  memcpy(c, s, n);
  return c;
}

void aur_defaults_read(lua_State *L, int idx, aur_defaults *d) {
  transfer_opts o;
  read_options(L, aur_absindex(L, idx), 1UL << F_TIMEOUT | 1UL << F_CONNECT_TIMEOUT | 1UL << F_USER_AGENT |
               1UL << F_CAINFO | 1UL << F_INSECURE, "session", &o);
  if (HAS(&o, F_TIMEOUT)) { d->timeout_ms = to_ms(o.num[F_TIMEOUT]); d->set |= AUR_SET_TIMEOUT; }
  if (HAS(&o, F_CONNECT_TIMEOUT)) {
    d->connect_timeout_ms = to_ms(o.num[F_CONNECT_TIMEOUT]);
    d->set |= AUR_SET_CONNECT_TIMEOUT;
  }
  if (HAS(&o, F_USER_AGENT)) { d->user_agent = copy_string(L, o.str[F_USER_AGENT]); d->set |= AUR_SET_USER_AGENT; }
  if (HAS(&o, F_CAINFO)) { d->cainfo = copy_string(L, o.str[F_CAINFO]); d->set |= AUR_SET_CAINFO; }
  if (HAS(&o, F_INSECURE)) { d->insecure = o.flag[F_INSECURE]; d->set |= AUR_SET_INSECURE; }
}

#define APPLY(opt, value) do { CURLcode rc_ = curl_easy_setopt(t->easy, (opt), (value)); \
  if (rc_ != CURLE_OK) return rc_; } while (0)

CURLcode aur_defaults_apply(aur_transfer *t, const aur_defaults *d) {
  int todo = d->set & ~t->set;
  if (todo & AUR_SET_TIMEOUT) APPLY(CURLOPT_TIMEOUT_MS, d->timeout_ms);
  if (todo & AUR_SET_CONNECT_TIMEOUT) APPLY(CURLOPT_CONNECTTIMEOUT_MS, d->connect_timeout_ms);
  if (todo & (AUR_SET_USER_AGENT | AUR_SET_CAINFO)) t->plain = 0; /* configure does not reset these */
  if (todo & AUR_SET_USER_AGENT) APPLY(CURLOPT_USERAGENT, d->user_agent);
  if (todo & AUR_SET_CAINFO) APPLY(CURLOPT_CAINFO, d->cainfo);
  if (todo & AUR_SET_INSECURE) {
    APPLY(CURLOPT_SSL_VERIFYPEER, d->insecure ? 0L : 1L);
    APPLY(CURLOPT_SSL_VERIFYHOST, d->insecure ? 0L : 2L);
  }
  return CURLE_OK;
}

void aur_defaults_free(aur_defaults *d) {
  free(d->user_agent);
  free(d->cainfo);
  d->user_agent = d->cainfo = NULL;
  d->set = 0;
}

/* ---- TransferTemplate: the options many transfers share, read once ----
 * core.transfer_template(opts) takes core.transfer's options but the ones each
 * transfer sets itself (url, body, timeout, parts, stream, output_path); then
 * core.transfer(template, url[, timeout[, body]]) makes a transfer from it without
 * reading a table (the client keeps one per client and kind of request: about
 * 5 k instructions a request less than an options table). */
typedef struct aur_template {
  transfer_opts o;          /* its strings point at `copies` */
  char *copies[F_COUNT];    /* owned copies of the string options */
  aur_header_list *headers; /* one reference, or NULL */
  CURLU *last_url;          /* the last URL of a transfer made from it, parsed, */
  char *last_url_printed;   /* ... printed back by libcurl (curl_free), */
  char *last_url_text;      /* ... and as given */
  size_t last_url_len;
} aur_template;

#define PER_TRANSFER (1UL << F_URL | 1UL << F_BODY | 1UL << F_TIMEOUT | 1UL << F_PARTS | \
                      1UL << F_STREAM | 1UL << F_OUTPUT_PATH)

/* ---- a repeated URL, parsed once ----
 * Given CURLOPT_URL, libcurl parses the string at every transfer and prints it
 * back in its normal form (about 11 k instructions for an API URL, a seventh of a
 * small request's libcurl work). A template keeps the last URL of its transfers
 * parsed and printed; a transfer that repeats it (a poll, a balance) passes a copy
 * of the parsed URL (CURLOPT_CURLU, which libcurl copies instead of parsing) and
 * the printed one (CURLOPT_URL: libcurl 7.88 prints a CURLOPT_CURLU back only when
 * the handle has no URL string, so a pooled handle would report its previous URL
 * as the effective one, and resolve a relative redirect against it). Any other
 * transfer passes its URL as CURLOPT_URL, as does one libcurl's parser refuses:
 * it then fails as it always did. */

/* how libcurl parses a CURLOPT_URL (without the DISALLOW_USERNAME_IN_URL and
 * PATH_AS_IS options, which the core never sets) */
#define URL_FLAGS (CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME)

static void url_forget(aur_template *tpl) {
  curl_url_cleanup(tpl->last_url);
  curl_free(tpl->last_url_printed);
  free(tpl->last_url_text);
  tpl->last_url = NULL;
  tpl->last_url_printed = tpl->last_url_text = NULL;
  tpl->last_url_len = 0;
}

/* Makes url tpl's last URL; 0 when it cannot (refused, or no memory). */
static int url_remember(aur_template *tpl, const char *url, size_t len) {
  CURLU *parsed = curl_url();
  char *printed = NULL, *text = (char *)malloc(len + 1);
  if (parsed == NULL || text == NULL || curl_url_set(parsed, CURLUPART_URL, url, URL_FLAGS) != CURLUE_OK ||
      curl_url_get(parsed, CURLUPART_URL, &printed, 0) != CURLUE_OK) {
    curl_url_cleanup(parsed);
    free(text);
    return 0;
  }
  memcpy(text, url, len + 1);
  url_forget(tpl);
  tpl->last_url = parsed;
  tpl->last_url_printed = printed;
  tpl->last_url_text = text;
  tpl->last_url_len = len;
  return 1;
}

static void set_url(lua_State *L, aur_transfer *t, aur_template *tpl, const char *url, size_t len) {
  if (tpl != NULL && ((tpl->last_url != NULL && tpl->last_url_len == len &&
                       memcmp(tpl->last_url_text, url, len) == 0) || url_remember(tpl, url, len))) {
    t->url = curl_url_dup(tpl->last_url); /* the transfer may outlive the template's */
    if (t->url != NULL) {
      SETOPT(L, t, CURLOPT_CURLU, t->url);
      SETOPT(L, t, CURLOPT_URL, tpl->last_url_printed);
      return;
    }
  }
  SETOPT(L, t, CURLOPT_URL, url);
}

static void template_free(aur_template *tpl) {
  int f;
  if (tpl == NULL) return;
  for (f = 0; f < F_COUNT; f++) free(tpl->copies[f]);
  header_list_release(tpl->headers);
  url_forget(tpl);
  free(tpl);
}

static int template_new(lua_State *L) {
  aur_template **box, *tpl;
  int f;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  box = (aur_template **)lua_newuserdata(L, sizeof *box);
  *box = NULL;
  aur_setmetatable(L, AUR_TEMPLATE_MT);
  tpl = *box = (aur_template *)calloc(1, sizeof **box); /* an error below: __gc frees it */
  if (tpl == NULL) return luaL_error(L, "aurous: out of memory");
  read_options(L, 1, ((1UL << F_COUNT) - 1) & ~PER_TRANSFER, "transfer template", &tpl->o);
  for (f = 0; f < F_COUNT; f++) {
    if (HAS(&tpl->o, f) && fields[f].kind == K_STRING) {
      tpl->copies[f] = dup_string(L, tpl->o.str[f], tpl->o.len[f]);
      tpl->o.str[f] = tpl->copies[f];
    }
  }
  if (HAS(&tpl->o, F_METHOD)) check_method(L, tpl->o.str[F_METHOD], tpl->o.len[F_METHOD]);
  if (HAS(&tpl->o, F_HEADERS)) { /* a HeaderList shared, or one made of the lines */
    lua_getfield(L, 1, "headers");
    tpl->headers = given_header_list(L, -1);
    if (tpl->headers != NULL) {
      tpl->headers->refs++;
    } else {
      tpl->headers = header_list_alloc(L);
      append_header_lines(L, lua_gettop(L), &tpl->headers->lines); /* an error: __gc frees it */
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  return 1;
}

/* __gc and __close: transfers made from a template need nothing of it after. */
static int template_gc(lua_State *L) {
  aur_template **box = (aur_template **)aur_checkclass(L, 1, AUR_TEMPLATE_MT);
  template_free(*box);
  *box = NULL;
  return 0;
}

static int template_tostring(lua_State *L) {
  aur_template **box = (aur_template **)aur_checkclass(L, 1, AUR_TEMPLATE_MT);
  const aur_template *tpl = *box;
  if (tpl == NULL) lua_pushliteral(L, "aurous.TransferTemplate (closed)");
  else lua_pushfstring(L, "aurous.TransferTemplate (%s)", HAS(&tpl->o, F_METHOD) ? tpl->o.str[F_METHOD] : "GET");
  return 1;
}

/* The options of core.transfer(template, url[, timeout[, body]]): the template's,
 * and the arguments checked as the fields of an options table would be. */
static void template_options(lua_State *L, const aur_template *tpl, aur_transfer *t, transfer_opts *o) {
  static const int arg_field[] = { F_URL, F_TIMEOUT, F_BODY };
  int i;
  *o = tpl->o;
  for (i = 0; i < 3; i++) {
    if (i > 0 && lua_isnoneornil(L, 2 + i)) continue;
    lua_pushvalue(L, 2 + i);
    read_field(L, arg_field[i], o); /* the string stays at its argument's index */
    lua_pop(L, 1);
  }
  if (tpl->headers != NULL) {
    t->shared_headers = tpl->headers;
    tpl->headers->refs++;
  }
}

static int transfer_new(lua_State *L) {
  aur_transfer *t;
  aur_template **tpl = NULL;
  transfer_opts o;
  if (lua_type(L, 1) == LUA_TUSERDATA) {
    tpl = (aur_template **)aur_checkclass(L, 1, AUR_TEMPLATE_MT);
    if (*tpl == NULL) return luaL_argerror(L, 1, "a closed TransferTemplate");
    lua_settop(L, 4); /* the Transfer goes to index 5 */
  } else {
    if (lua_type(L, 1) != LUA_TTABLE)
      return luaL_argerror(L, 1, lua_pushfstring(L, "options table or TransferTemplate expected, got %s",
                                                  luaL_typename(L, 1)));
    lua_settop(L, 1); /* the Transfer goes to index 2 */
  }
  t = (aur_transfer *)lua_newuserdata(L, sizeof *t);
  memset(t, 0, sizeof *t);
  t->ref = LUA_NOREF;
  t->max_response = -1;
  t->closed = 1; /* nothing to free until the easy handle exists */
  aur_setmetatable(L, AUR_TRANSFER_MT);
  t->easy = easy_take(L, t);
  if (t->easy == NULL) return luaL_error(L, "aurous: curl_easy_init failed");
  t->closed = 0;
  if (tpl != NULL) {
    template_options(L, *tpl, t, &o);
    configure(L, t, &o, 0);
  } else {
    read_options(L, 1, (1UL << F_COUNT) - 1, "transfer", &o);
    configure(L, t, &o, 1);
  }
  set_url(L, t, tpl != NULL ? *tpl : NULL, o.str[F_URL], o.len[F_URL]); /* configure checked it */
  lua_settop(L, tpl != NULL ? 5 : 2);
  return 1;
}

/* ---- methods ---- */

static int failed(const aur_transfer *t) {
  return t->code != CURLE_OK || t->abort_kind != AUR_ABORT_NONE;
}

static int push_result(lua_State *L, aur_transfer *t) {
  if (!failed(t)) {
    aur_push_response(L, t);
    return 1;
  }
  lua_pushnil(L);
  aur_push_error(L, t);
  return 2;
}

static int transfer_perform(lua_State *L) {
  aur_transfer *t = check_open_transfer(L, 1);
  CURLcode rc;
  if (t->state != AUR_NEW) return luaL_error(L, "transfer already started");
  aur_transfer_begin(t);
  t->performed_alone = 1;
  rc = curl_easy_perform(t->easy);
  aur_transfer_end(t, rc);
  return push_result(L, t);
}

static aur_transfer *check_finished(lua_State *L) {
  aur_transfer *t = check_open_transfer(L, 1);
  if (t->state != AUR_DONE)
    luaL_error(L, "transfer not finished (%s)", t->state == AUR_NEW ? "new" : "running");
  return t;
}

static int transfer_result(lua_State *L) { return push_result(L, check_finished(L)); }

/* t:reply(name...) -> status, body, raw_headers, the value of each named header:
 * what a JSON pipeline reads, without the tables of a Response (its headers
 * table alone costs about 9 k instructions a request). */
static int transfer_reply(lua_State *L) {
  aur_transfer *t = check_finished(L);
  int i, top = lua_gettop(L);
  for (i = 2; i <= top; i++) luaL_checktype(L, i, LUA_TSTRING);
  if (failed(t)) {
    lua_pushnil(L);
    aur_push_error(L, t);
    return 2;
  }
  return aur_push_reply(L, t, 2, top);
}

static int transfer_read(lua_State *L) {
  aur_transfer *t = check_open_transfer(L, 1);
  if (t->mode != AUR_MODE_STREAM) return luaL_error(L, "transfer is not in stream mode");
  if (t->body.len == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushlstring(L, t->body.data, t->body.len);
  t->body.len = 0;
  if (t->body.cap > 65536) aur_buf_free(&t->body);
  return 1;
}

static int transfer_progress(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  aur_pushint64(L, t->dlnow);
  aur_pushint64(L, t->dltotal);
  aur_pushint64(L, t->ulnow);
  aur_pushint64(L, t->ultotal);
  return 4;
}

/* The status of the response being received (0 before its status line). */
static int transfer_status(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  lua_pushinteger(L, t->hdrs.status);
  return 1;
}

static const char *state_name(const aur_transfer *t) {
  return t->state == AUR_NEW ? "new" : t->state == AUR_RUNNING ? "running" : "done";
}

static int transfer_state(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  lua_pushstring(L, state_name(t));
  return 1;
}

static int transfer_cancel(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  int was_active = !t->closed && t->state != AUR_DONE;
  if (was_active) {
    CURLMcode rc = CURLM_OK;
    if (t->session != NULL) rc = aur_session_detach(L, t);
    aur_transfer_cancelled(t);
    if (rc != CURLM_OK)
      return luaL_error(L, "aurous: curl_multi_remove_handle failed: %s", curl_multi_strerror(rc));
  }
  lua_pushboolean(L, was_active);
  return 1;
}

static int transfer_close(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  transfer_free(L, t);
  return 0;
}

static int transfer_tostring(lua_State *L) {
  aur_transfer *t = check_transfer(L, 1);
  if (t->closed)
    lua_pushliteral(L, "aurous.Transfer (closed)");
  else
    lua_pushfstring(L, "aurous.Transfer (%s, %s)", t->method ? t->method : "?", state_name(t));
  return 1;
}

static void open_pool(lua_State *L) {
  easy_pool *pool;
  lua_getfield(L, LUA_REGISTRYINDEX, AUR_EASY_POOL);
  if (!lua_isnil(L, -1)) { /* the module loaded twice in one state */
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  pool = (easy_pool *)lua_newuserdata(L, sizeof *pool);
  memset(pool, 0, sizeof *pool);
  lua_newtable(L);
  lua_pushcfunction(L, pool_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, AUR_EASY_POOL);
}

void aur_open_transfer(lua_State *L) {
  open_pool(L);
  static const luaL_Reg methods[] = {
    {"perform", transfer_perform},
    {"result", transfer_result},
    {"reply", transfer_reply},
    {"read", transfer_read},
    {"progress", transfer_progress},
    {"state", transfer_state},
    {"status", transfer_status},
    {"cancel", transfer_cancel},
    {"close", transfer_close},
    {"__gc", transfer_close},
    {"__tostring", transfer_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg header_list_methods[] = {
    {"__gc", header_list_gc},
    {"__tostring", header_list_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg template_methods[] = {
    {"__gc", template_gc},
    {"__tostring", template_tostring},
    {NULL, NULL}
  };
  aur_newclass(L, AUR_TRANSFER_MT, methods);
  aur_setclose(L, transfer_close);
  lua_pop(L, 1);
  aur_newclass(L, AUR_HEADER_LIST_MT, header_list_methods);
  aur_setclose(L, header_list_gc);
  lua_pop(L, 1);
  aur_newclass(L, AUR_TEMPLATE_MT, template_methods);
  aur_setclose(L, template_gc);
  lua_pop(L, 1);
  lua_pushcfunction(L, header_list_new);
  lua_setfield(L, -2, "header_list");
  lua_pushcfunction(L, template_new);
  lua_setfield(L, -2, "transfer_template");
  aur_response_init(L);
  luaL_getmetatable(L, AUR_TEMPLATE_MT); /* its upvalue, for aur_checkclass */
  lua_pushcclosure(L, transfer_new, 1);
  lua_setfield(L, -2, "transfer");
  lua_pushcfunction(L, aur_parse_headers);
  lua_setfield(L, -2, "parse_headers");
}
