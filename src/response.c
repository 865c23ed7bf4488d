/* response.c: the response-header collector fed by the header callback, and
 * the Response / error tables of a finished transfer. No Lua call happens
 * while libcurl runs: aur_headers_feed only touches C memory. */
#include <stdlib.h>
#include <string.h>
#include "http.h"

/* ---- growable buffer ---- */

int aur_buf_append(aur_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (n > (size_t)-1 - b->len) return -1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *nd;
    while (cap < b->len + n) {
      if (cap > (size_t)-1 / 2) { cap = b->len + n; break; }
      cap *= 2;
    }
    nd = (char *)realloc(b->data, cap);
    if (nd == NULL) return -1;
    b->data = nd;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void aur_buf_free(aur_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- header collector ---- */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static void trim(const char **p, size_t *n) {
  while (*n > 0 && is_ows(**p)) { (*p)++; (*n)--; }
  while (*n > 0 && is_ows((*p)[*n - 1])) (*n)--;
}

static void parse_status_line(aur_headers *h, const char *line, size_t len) {
  size_t i = 5, v = 0; /* after "HTTP/" */
  int status = 0, digits = 0;
  while (i < len && line[i] != ' ' && v < sizeof h->version - 1) h->version[v++] = line[i++];
  h->version[v] = '\0';
  while (i < len && line[i] != ' ') i++;
  while (i < len && line[i] == ' ') i++;
  while (i < len && digits < 3 && line[i] >= '0' && line[i] <= '9') {
    status = status * 10 + (line[i++] - '0');
    digits++;
  }
  h->status = digits == 3 ? status : 0;
}

/* What one header line is; the one parser of header lines, used while libcurl
 * runs (aur_headers_feed) and again when header_list is first read. */
enum { LINE_BLANK, LINE_STATUS, LINE_FOLD, LINE_FIELD, LINE_OTHER };

typedef struct header_line {
  const char *name, *value;  /* LINE_FIELD: trimmed name and value; LINE_FOLD: value */
  size_t name_len, value_len;
  size_t len;                /* the line without its CR/LF */
} header_line;

static int classify_line(const char *line, size_t len, header_line *out) {
  const char *colon;
  while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  out->len = len;
  if (len == 0) return LINE_BLANK; /* the blank line ending a header block */
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) return LINE_STATUS;
  if (is_ows(line[0])) {
    /* obsolete line folding: continues the last value */
    out->value = line;
    out->value_len = len;
    trim(&out->value, &out->value_len);
    return out->value_len == 0 ? LINE_OTHER : LINE_FOLD;
  }
  colon = (const char *)memchr(line, ':', len);
  if (colon == NULL) return LINE_OTHER; /* not a header: ignored */
  out->name = line;
  out->name_len = (size_t)(colon - line);
  trim(&out->name, &out->name_len);
  if (out->name_len == 0) return LINE_OTHER;
  out->value = colon + 1;
  out->value_len = len - (size_t)(out->value - line);
  trim(&out->value, &out->value_len);
  return LINE_FIELD;
}

int aur_headers_feed(aur_headers *h, const char *line, size_t len) {
  header_line hl;
  aur_header_field *f;
  size_t at;
  int kind;
  if (len > (size_t)-1 - h->total) return AUR_HDR_TOO_LARGE;
  h->total += len;
  if (h->limit > 0 && h->total > h->limit) return AUR_HDR_TOO_LARGE;
  kind = classify_line(line, len, &hl);
  if (kind == LINE_BLANK) return AUR_HDR_OK;
  if (kind == LINE_STATUS) {
    h->count = 0;
    h->text.len = 0;
    h->raw.len = 0;
    parse_status_line(h, line, hl.len);
  }
  /* the raw block keeps every line of the last response, as received; names and
   * values are found in it (offsets: it may move as it grows) */
  at = h->raw.len;
  if (aur_buf_append(&h->raw, line, len) != 0) return AUR_HDR_NOMEM;
  if (kind == LINE_FOLD) {
    if (h->count == 0) return AUR_HDR_OK;
    f = &h->fields[h->count - 1];
    if (!f->folded) { /* its value moves to text, where the continuation joins it */
      size_t to = h->text.len;
      if (aur_buf_append(&h->text, h->raw.data + f->value, f->value_len) != 0) return AUR_HDR_NOMEM;
      f->value = to;
      f->folded = 1;
    }
    if (f->value_len > 0) {
      if (aur_buf_append(&h->text, " ", 1) != 0) return AUR_HDR_NOMEM;
      f->value_len++;
    }
    if (aur_buf_append(&h->text, hl.value, hl.value_len) != 0) return AUR_HDR_NOMEM;
    f->value_len += hl.value_len;
    return AUR_HDR_OK;
  }
  if (kind != LINE_FIELD) return AUR_HDR_OK;
  if (h->count == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 16;
    aur_header_field *nf;
    if (cap > (size_t)-1 / sizeof *nf) return AUR_HDR_NOMEM;
    nf = (aur_header_field *)realloc(h->fields, cap * sizeof *nf);
    if (nf == NULL) return AUR_HDR_NOMEM;
    h->fields = nf;
    h->cap = cap;
  }
  f = &h->fields[h->count];
  f->name = at + (size_t)(hl.name - line);
  f->name_len = hl.name_len;
  f->value = at + (size_t)(hl.value - line);
  f->value_len = hl.value_len;
  f->folded = 0;
  h->count++;
  return AUR_HDR_OK;
}

void aur_headers_free(aur_headers *h) {
  aur_buf_free(&h->text);
  aur_buf_free(&h->raw);
  free(h->fields);
  h->fields = NULL;
  h->count = h->cap = 0;
}

static void push_lower(lua_State *L, const char *s, size_t n) {
  char small[64];
  size_t i;
  if (n <= sizeof small) {
    for (i = 0; i < n; i++) small[i] = ascii_lower(s[i]);
    lua_pushlstring(L, small, n);
  } else {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) luaL_addchar(&b, ascii_lower(s[i]));
    luaL_pushresult(&b);
  }
}

static int same_name(const char *a, size_t an, const char *b, size_t bn) {
  size_t i;
  if (an != bn) return 0;
  for (i = 0; i < an; i++)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return 0;
  return 1;
}

#define FEW_HEADERS 32

void aur_headers_push(lua_State *L, const aur_headers *h) {
  size_t i;
  int headers;
  luaL_checkstack(L, 8, "aurous: headers");
  lua_createtable(L, 0, (int)(h->count < 64 ? h->count : 64));
  headers = lua_gettop(L);
  for (i = 0; i < h->count; i++) {
    const aur_header_field *f = &h->fields[i];
    size_t j;
    int repeated = 0;
    /* a name seen before: for the usual few headers, compared here (cheaper than a
     * table lookup per header); past FEW_HEADERS, looked up */
    if (h->count <= FEW_HEADERS) {
      for (j = 0; j < i && !repeated; j++)
        repeated = same_name(AUR_FIELD_NAME(h, &h->fields[j]), h->fields[j].name_len, AUR_FIELD_NAME(h, f), f->name_len);
    }
    push_lower(L, AUR_FIELD_NAME(h, f), f->name_len);
    if (h->count > FEW_HEADERS) {
      lua_pushvalue(L, -1);
      lua_rawget(L, headers);
      repeated = !lua_isnil(L, -1);
      lua_pop(L, 1);
    }
    if (!repeated) {
      lua_pushlstring(L, AUR_FIELD_VALUE(h, f), f->value_len);
    } else {
      lua_pushvalue(L, -1);
      lua_rawget(L, headers);
      /* a repeated header: join with ", " (rare, so the copy does not matter) */
      lua_pushliteral(L, ", ");
      lua_pushlstring(L, AUR_FIELD_VALUE(h, f), f->value_len);
      lua_concat(L, 3);
    }
    lua_rawset(L, headers);
  }
  luaL_getmetatable(L, AUR_HEADERS_MT);
  if (lua_istable(L, -1)) lua_setmetatable(L, headers);
  else lua_pop(L, 1);
}

/* Pushes the {{name, value}, ...} array of a raw header block, built by the
 * same line parser as the headers table (so both always agree). Only Lua
 * allocates here: an error leaks nothing. */
static void push_header_list(lua_State *L, const char *raw, size_t len) {
  int list, n = 0;
  size_t at = 0;
  luaL_checkstack(L, 6, "aurous: header_list");
  lua_newtable(L);
  list = lua_gettop(L);
  while (at < len) {
    const char *line = raw + at, *nl = (const char *)memchr(line, '\n', len - at);
    size_t line_len = nl != NULL ? (size_t)(nl - line) + 1 : len - at;
    header_line hl;
    at += line_len;
    switch (classify_line(line, line_len, &hl)) {
      case LINE_STATUS: /* a new response: only the last one's headers count */
        lua_newtable(L);
        lua_replace(L, list);
        n = 0;
        break;
      case LINE_FOLD:
        if (n == 0) break;
        lua_rawgeti(L, list, n);
        lua_rawgeti(L, -1, 2);
        if (aur_rawlen(L, -1) > 0) lua_pushliteral(L, " ");
        else lua_pushliteral(L, "");
        lua_pushlstring(L, hl.value, hl.value_len);
        lua_concat(L, 3);
        lua_rawseti(L, -2, 2);
        lua_pop(L, 1);
        break;
      case LINE_FIELD:
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, hl.name, hl.name_len);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, hl.value, hl.value_len);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, list, ++n);
        break;
      default:
        break;
    }
  }
}

/* Response.__index: header_list is built from raw_headers on first use (most
 * callers never read it), then kept in the response; other keys are methods. */
static int response_index(lua_State *L) {
  size_t n = 0;
  /* type first: lua_tolstring would turn a number key into a string in place */
  const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &n) : NULL;
  if (key != NULL && n == 11 && memcmp(key, "header_list", 11) == 0) {
    size_t len;
    const char *raw;
    lua_getfield(L, 1, "raw_headers");
    raw = lua_tolstring(L, -1, &len);
    if (raw == NULL) return 0;
    push_header_list(L, raw, len);
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, "header_list");
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* headers.__index: a case-insensitive lookup of string keys. */
static int headers_index(lua_State *L) {
  size_t n, i;
  const char *k;
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  k = lua_tolstring(L, 2, &n);
  for (i = 0; i < n; i++)
    if (k[i] >= 'A' && k[i] <= 'Z') break;
  if (i == n) return 0; /* already lower case and not present */
  push_lower(L, k, n);
  lua_rawget(L, 1);
  return 1;
}

/* ---- Response methods ---- */

/* resp:header(name) (first value or nil) and resp:header_values(name) (array),
 * from header_list (which reading builds). */
static int collect_values(lua_State *L, int first_only) {
  size_t nlen, i, n;
  const char *name;
  int count = 0, out = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  name = luaL_checklstring(L, 2, &nlen);
  if (!first_only) {
    lua_newtable(L);
    out = lua_gettop(L);
  }
  lua_getfield(L, 1, "header_list");
  if (!lua_istable(L, -1)) {
    if (first_only) { lua_pushnil(L); return 1; }
    lua_pop(L, 1);
    return 1;
  }
  n = aur_rawlen(L, -1);
  for (i = 1; i <= n; i++) {
    size_t hn;
    const char *hname;
    lua_rawgeti(L, -1, (int)i);
    if (!lua_istable(L, -1)) { lua_pop(L, 1); continue; }
    lua_rawgeti(L, -1, 1);
    hname = lua_tolstring(L, -1, &hn);
    if (hname != NULL && same_name(hname, hn, name, nlen)) {
      lua_rawgeti(L, -2, 2);
      if (first_only) return 1;
      lua_rawseti(L, out, ++count);
    }
    lua_pop(L, 2);
  }
  if (first_only) { lua_pushnil(L); return 1; }
  lua_pop(L, 1);
  return 1;
}

static int response_header(lua_State *L) { return collect_values(L, 1); }
static int response_header_values(lua_State *L) { return collect_values(L, 0); }

static int response_tostring(lua_State *L) {
  lua_Number status, size;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "status");
  status = lua_tonumber(L, -1);
  lua_getfield(L, 1, "size");
  size = lua_tonumber(L, -1);
  lua_pushfstring(L, "aurous.Response %d (%d bytes)", (int)status, (int)size);
  if (size > 2147483647.0) {
    lua_pop(L, 1);
    lua_pushfstring(L, "aurous.Response %d (%f bytes)", (int)status, size);
  }
  return 1;
}

void aur_response_init(lua_State *L) {
  static const luaL_Reg response_methods[] = {
    {"header", response_header},
    {"header_values", response_header_values},
    {"__tostring", response_tostring},
    {NULL, NULL}
  };
  aur_newclass(L, AUR_RESPONSE_MT, response_methods);
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, response_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  if (luaL_newmetatable(L, AUR_HEADERS_MT)) {
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
}

static void set_seconds(lua_State *L, CURL *easy, CURLINFO info, const char *field) {
  curl_off_t us = 0;
  if (curl_easy_getinfo(easy, info, &us) != CURLE_OK) us = 0;
  lua_pushnumber(L, (lua_Number)us / 1e6);
  lua_setfield(L, -2, field);
}

static void push_status(lua_State *L, aur_transfer *t) {
  long status = 0;
  if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status == 0)
    status = t->hdrs.status;
  lua_pushinteger(L, (lua_Integer)status);
}

/* The body kept in memory; "" in output_path and stream modes. */
static void push_body(lua_State *L, aur_transfer *t) {
  if (t->mode == AUR_MODE_MEMORY && t->body.len > 0)
    lua_pushlstring(L, t->body.data, t->body.len);
  else
    lua_pushliteral(L, "");
}

/* The last response's header lines, as received. */
static void push_raw_headers(lua_State *L, aur_transfer *t) {
  lua_pushlstring(L, t->hdrs.raw.data != NULL ? t->hdrs.raw.data : "", t->hdrs.raw.len);
}

/* Pushes the value of header `name` (any case) in the last response, repeated
 * ones joined with ", " as in the headers table; nil when absent. */
static void push_header_value(lua_State *L, const aur_headers *h, const char *name, size_t name_len) {
  size_t i, first = h->count;
  luaL_Buffer b;
  for (i = 0; i < h->count; i++) {
    const aur_header_field *f = &h->fields[i];
    if (!same_name(AUR_FIELD_NAME(h, f), f->name_len, name, name_len)) continue;
    if (first == h->count) { /* the first: usually the only one */
      first = i;
      continue;
    }
    if (first != (size_t)-1) {
      luaL_buffinit(L, &b);
      luaL_addlstring(&b, AUR_FIELD_VALUE(h, &h->fields[first]), h->fields[first].value_len);
      first = (size_t)-1;
    }
    luaL_addlstring(&b, ", ", 2);
    luaL_addlstring(&b, AUR_FIELD_VALUE(h, f), f->value_len);
  }
  if (first == h->count) lua_pushnil(L);
  else if (first == (size_t)-1) luaL_pushresult(&b);
  else lua_pushlstring(L, AUR_FIELD_VALUE(h, &h->fields[first]), h->fields[first].value_len);
}

int aur_push_reply(lua_State *L, aur_transfer *t, int names, int last) {
  int i, pushed = 3 + (last >= names ? last - names + 1 : 0);
  luaL_checkstack(L, pushed, "aurous: reply");
  push_status(L, t);
  push_body(L, t);
  push_raw_headers(L, t);
  for (i = names; i <= last; i++) {
    size_t n;
    const char *name = lua_tolstring(L, i, &n);
    push_header_value(L, &t->hdrs, name, n);
  }
  return pushed;
}

/* core.parse_headers(raw): the headers table of a raw header block (the lines of
 * raw_headers), built by the same collector and builder as a Response's. */
static int push_collected(lua_State *L) {
  aur_headers_push(L, (const aur_headers *)lua_touserdata(L, 1));
  return 1;
}

int aur_parse_headers(lua_State *L) {
  size_t len, at = 0;
  const char *raw = luaL_checklstring(L, 1, &len);
  aur_headers h;
  int rc = AUR_HDR_OK, status;
  memset(&h, 0, sizeof h); /* limit 0: none */
  while (at < len && rc == AUR_HDR_OK) {
    const char *nl = (const char *)memchr(raw + at, '\n', len - at);
    size_t line_len = nl != NULL ? (size_t)(nl - (raw + at)) + 1 : len - at;
    rc = aur_headers_feed(&h, raw + at, line_len);
    at += line_len;
  }
  if (rc != AUR_HDR_OK) {
    aur_headers_free(&h);
    return luaL_error(L, "aurous: out of memory for the response headers");
  }
  lua_settop(L, 1);
  lua_pushcfunction(L, push_collected); /* protected: h's buffers are freed either way */
  lua_pushlightuserdata(L, &h);
  status = lua_pcall(L, 1, 1, 0);
  aur_headers_free(&h);
  if (status != 0) return lua_error(L);
  return 1;
}

void aur_push_response(lua_State *L, aur_transfer *t) {
  long version = 0;
  char *url = NULL;
  luaL_checkstack(L, 10, "aurous: response");
  lua_createtable(L, 0, 9);
  push_status(L, t);
  lua_setfield(L, -2, "status");
  aur_headers_push(L, &t->hdrs);
  lua_setfield(L, -2, "headers");
  push_body(L, t);
  lua_setfield(L, -2, "body");
  push_raw_headers(L, t);
  lua_setfield(L, -2, "raw_headers");
  if (curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url != NULL)
    lua_pushstring(L, url);
  else
    lua_pushliteral(L, "");
  lua_setfield(L, -2, "url");
  if (curl_easy_getinfo(t->easy, CURLINFO_HTTP_VERSION, &version) != CURLE_OK) version = 0;
  switch (version) {
    case CURL_HTTP_VERSION_1_0: lua_pushliteral(L, "1.0"); break;
    case CURL_HTTP_VERSION_1_1: lua_pushliteral(L, "1.1"); break;
    case CURL_HTTP_VERSION_2_0: lua_pushliteral(L, "2"); break;
    case CURL_HTTP_VERSION_3: lua_pushliteral(L, "3"); break;
    default: lua_pushstring(L, t->hdrs.version); break;
  }
  lua_setfield(L, -2, "http_version");
  aur_pushint64(L, t->received);
  lua_setfield(L, -2, "size");
  lua_createtable(L, 0, 3);
  set_seconds(L, t->easy, CURLINFO_CONNECT_TIME_T, "connect");
  set_seconds(L, t->easy, CURLINFO_STARTTRANSFER_TIME_T, "first_byte");
  set_seconds(L, t->easy, CURLINFO_TOTAL_TIME_T, "total");
  lua_setfield(L, -2, "timings");
  aur_setmetatable(L, AUR_RESPONSE_MT);
}

/* ---- errors ---- */

const char *aur_error_kind(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return "connection";
    case CURLE_OPERATION_TIMEDOUT:
      return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return "tls";
    case CURLE_FILESIZE_EXCEEDED:
      return "too_large";
    case CURLE_ABORTED_BY_CALLBACK:
      return "cancelled";
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
      return "protocol";
    default:
      return "transfer";
  }
}

void aur_push_error(lua_State *L, const aur_transfer *t) {
  const char *kind;
  int header_line = 0;
  luaL_checkstack(L, 4, "aurous: error");
  lua_createtable(L, 0, 3);
  switch (t->abort_kind) {
    case AUR_ABORT_TOO_LARGE: kind = "too_large"; break;
    case AUR_ABORT_FILE: kind = "file"; break;
    case AUR_ABORT_CANCELLED: kind = "cancelled"; break;
    case AUR_ABORT_NOMEM: kind = "transfer"; break;
    default:
      kind = aur_error_kind(t->code);
      /* libcurl refuses a single header line over CURL_MAX_HTTP_HEADER (100 KB)
       * with CURLE_OUT_OF_MEMORY, before our header callback sees it */
      if (t->code == CURLE_OUT_OF_MEMORY && t->hdrs.status != 0 && t->received == 0) header_line = 1;
      break;
  }
  if (header_line) kind = "too_large";
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  if (header_line) {
    lua_pushliteral(L, "response header line exceeds libcurl's limit (102400 bytes; max_header_size)");
  } else if (t->abort_kind != AUR_ABORT_NONE) {
    lua_pushstring(L, t->errmsg);
  } else if (t->errbuf[0] != '\0') {
    size_t n = strlen(t->errbuf);
    while (n > 0 && (t->errbuf[n - 1] == '\n' || t->errbuf[n - 1] == '\r')) n--;
    lua_pushfstring(L, "%s: ", curl_easy_strerror(t->code));
    lua_pushlstring(L, t->errbuf, n);
    lua_concat(L, 2);
  } else {
    lua_pushstring(L, curl_easy_strerror(t->code));
  }
  lua_setfield(L, -2, "message");
  lua_pushinteger(L, (lua_Integer)t->code);
  lua_setfield(L, -2, "curl_code");
}
