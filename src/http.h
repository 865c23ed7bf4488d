/* http.h: private to session.c, transfer.c and response.c (and fuzz/headers_fuzz.c).
 * The Transfer and Session structs, the growable buffer, the response-header
 * collector, and the builders of the Response and error tables. */
#ifndef AUROUS_HTTP_H
#define AUROUS_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <curl/curl.h>
#include "core.h"

#define AUR_TRANSFER_MT "aurous.Transfer"
#define AUR_SESSION_MT  "aurous.Session"
#define AUR_RESPONSE_MT "aurous.Response"
#define AUR_HEADERS_MT  "aurous.Headers"
#define AUR_HEADER_LIST_MT "aurous.HeaderList"
#define AUR_TEMPLATE_MT "aurous.TransferTemplate"

/* ---- growable byte buffer (response.c) ---- */
typedef struct aur_buf {
  char *data;
  size_t len, cap;
} aur_buf;

int aur_buf_append(aur_buf *b, const void *p, size_t n); /* 0, or -1 when out of memory */
void aur_buf_free(aur_buf *b);

/* ---- response headers (response.c) ---- */
typedef struct aur_header_field {
  size_t name, name_len, value, value_len; /* offsets into aur_headers.raw; a folded value's into .text */
  int folded;
} aur_header_field;

typedef struct aur_headers {
  aur_buf raw;                /* the last response's header lines, as received */
  aur_buf text;               /* the values continued by folded lines, joined */
  aur_header_field *fields;
  size_t count, cap;
  size_t total;               /* bytes of every header line seen (all responses) */
  size_t limit;               /* max total; 0 = no limit */
  int status;                 /* from the last status line, 0 if none */
  char version[8];            /* "1.1", "2", ... from the last status line */
} aur_headers;

/* A field's name and value (see aur_header_field). */
#define AUR_FIELD_NAME(h, f) ((h)->raw.data + (f)->name)
#define AUR_FIELD_VALUE(h, f) (((f)->folded ? (h)->text.data : (h)->raw.data) + (f)->value)

enum { AUR_HDR_OK = 0, AUR_HDR_TOO_LARGE = 1, AUR_HDR_NOMEM = 2 };

/* One header line as libcurl hands it (CRLF included or not). A status line
 * ("HTTP/...") drops the headers collected so far: only the last response's stay. */
int aur_headers_feed(aur_headers *h, const char *line, size_t len);
void aur_headers_free(aur_headers *h);
/* Pushes the `headers` table (lower-case keys, repeated joined by ", ",
 * case-insensitive metatable). */
void aur_headers_push(lua_State *L, const aur_headers *h);

/* ---- transfers and sessions ---- */
enum { AUR_NEW = 0, AUR_RUNNING = 1, AUR_DONE = 2 };
enum { AUR_MODE_MEMORY = 0, AUR_MODE_FILE = 1, AUR_MODE_STREAM = 2 };
/* Why we aborted a transfer ourselves (takes precedence over curl's code). */
enum { AUR_ABORT_NONE = 0, AUR_ABORT_TOO_LARGE, AUR_ABORT_FILE, AUR_ABORT_CANCELLED, AUR_ABORT_NOMEM };

typedef struct aur_session aur_session;
typedef struct aur_transfer aur_transfer;
typedef struct aur_header_list aur_header_list; /* transfer.c: core.header_list */

struct aur_transfer {
  CURL *easy;
  struct curl_slist *headers;     /* from an array of lines: owned */
  aur_header_list *shared_headers; /* from a HeaderList: one reference */
  CURLU *url;                 /* a template's repeated URL, parsed (CURLOPT_CURLU): owned, or NULL */
  curl_mime *mime;
  char *method;               /* upper/lower case as given */
  char *output_path;
  FILE *out;
  int out_opened;             /* output_path was opened during this transfer */
  int mode;
  int state;
  int closed;                 /* resources freed by close/__gc */
  int abort_kind;
  CURLcode code;
  /* while in a session */
  aur_session *session;
  aur_transfer *prev, *next;
  int ref;                    /* registry reference to the userdata */
  int set;                    /* AUR_SET_* bits: options the transfer set itself */
  int performed_alone;        /* ran curl_easy_perform (t:perform()): not pooled */
  int reused;                 /* the easy handle came from the pool still configured */
  int plain;                  /* set only options that every configure sets again */
  /* collected by the callbacks */
  aur_buf body;               /* memory body, or the stream queue */
  curl_off_t received;        /* body bytes of the response */
  curl_off_t max_response;    /* -1: no limit */
  aur_headers hdrs;
  curl_off_t dlnow, dltotal, ulnow, ultotal;
  char errbuf[CURL_ERROR_SIZE];
  char errmsg[320];           /* our own message for AUR_ABORT_*: under 1 KB in all, the
                               * Transfer userdata fits glibc's per-thread cache of small blocks */
};

/* Options a Session gives the transfers added to it, unless a transfer set its own. */
enum {
  AUR_SET_TIMEOUT = 1, AUR_SET_CONNECT_TIMEOUT = 2, AUR_SET_USER_AGENT = 4,
  AUR_SET_CAINFO = 8, AUR_SET_INSECURE = 16
};

typedef struct aur_defaults {
  int set;                    /* AUR_SET_* bits present */
  long timeout_ms, connect_timeout_ms;
  char *user_agent, *cainfo;  /* malloc'd copies */
  int insecure;
} aur_defaults;

/* transfer.c: reads the defaults table at idx (errors name the field) /
 * applies those a transfer did not set itself / frees the copies. */
void aur_defaults_read(lua_State *L, int idx, aur_defaults *d);
CURLcode aur_defaults_apply(aur_transfer *t, const aur_defaults *d);
void aur_defaults_free(aur_defaults *d);

/* A socket libcurl asked the Session to watch (CURLMOPT_SOCKETFUNCTION). */
typedef struct aur_socket {
  curl_socket_t fd;
  int what;                   /* CURL_POLL_IN / _OUT / _INOUT */
} aur_socket;

struct aur_session {
  CURLM *multi;
  CURLSH *share;
  aur_defaults defaults;
  aur_transfer *head;         /* transfers in flight */
  int pending;
  int closed;
  /* driven by curl_multi_socket_action: a step touches only the ready sockets */
  aur_socket *sockets;        /* what libcurl asked to watch */
  size_t nsockets, sockets_cap;
  void *polled;               /* struct pollfd[sockets_cap]: one wait's snapshot */
  int out_of_memory;          /* the socket callback could not record a socket */
};

/* transfer.c */
void aur_transfer_begin(aur_transfer *t);                 /* NEW -> RUNNING */
void aur_transfer_end(aur_transfer *t, CURLcode code);    /* RUNNING -> DONE */
void aur_transfer_cancelled(aur_transfer *t);             /* -> DONE, kind cancelled */
/* session.c: takes `t` out of its session (multi handle, list, share, registry
 * ref). Always completes; returns curl_multi_remove_handle's code. */
CURLMcode aur_session_detach(lua_State *L, aur_transfer *t);

/* response.c */
void aur_response_init(lua_State *L);   /* creates the Response and Headers metatables */
/* Pushes the Response table of a finished transfer. */
void aur_push_response(lua_State *L, aur_transfer *t);
/* t:reply(name...): pushes status, body, raw_headers and the value of each
 * header named by the strings at stack indexes names..last; returns their count. */
int aur_push_reply(lua_State *L, aur_transfer *t, int names, int last);
/* core.parse_headers(raw) -> the headers table of a raw header block. */
int aur_parse_headers(lua_State *L);
/* Pushes the error table {kind, message, curl_code} of a failed transfer. */
void aur_push_error(lua_State *L, const aur_transfer *t);
/* The error kind for a curl code (ignoring our own aborts). */
const char *aur_error_kind(CURLcode code);

#endif
