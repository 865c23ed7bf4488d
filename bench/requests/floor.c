/* bench/requests/floor.c: the floor of the request benchmark.
 *
 * Sequential GETs with one reused libcurl easy handle (keep-alive), the same
 * request headers the Lua client sends, the body collected in memory and
 * parsed with cJSON (tree built, one field checked, tree freed). No Lua at all:
 * what a request costs with the same two C libraries the core is built on.
 *
 *   floor URL N WARMUP API_KEY [USER_AGENT]   → prints "seconds <wall> cpu <cpu> checked <n>"
 *
 * USER_AGENT: the client's own (bench/requests/server.lua passes it), so that both
 * send the same bytes: libcurl formats header lines at about 100 instructions a byte.
 *
 * Built by bench/requests/run.lua: cc -O2 floor.c $(pkg-config --cflags --libs libcurl libcjson)
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *data;
  size_t len, cap;
} buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud) {
  buf_t *b = ud;
  size_t n = size * nmemb;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}

static double now(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int one(CURL *h, buf_t *b) {
  b->len = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    fprintf(stderr, "floor: %s\n", curl_easy_strerror(rc));
    return -1;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    fprintf(stderr, "floor: HTTP %ld\n", status);
    return -1;
  }
  cJSON *root = cJSON_ParseWithLength(b->data, b->len);
  if (!root) {
    fprintf(stderr, "floor: bad JSON\n");
    return -1;
  }
  int ok = cJSON_GetObjectItemCaseSensitive(root, "object") != NULL;
  cJSON_Delete(root);
  return ok;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: floor URL N WARMUP API_KEY [USER_AGENT]\n");
    return 2;
  }
  const char *url = argv[1];
  long n = atol(argv[2]), warmup = atol(argv[3]);
  char keyh[512], agenth[512];
  snprintf(keyh, sizeof keyh, "X-Api-Key: %s", argv[4]);
  snprintf(agenth, sizeof agenth, "User-Agent: %s", argc > 5 ? argv[5] : "aurous-bench-floor/1");

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  hdrs = curl_slist_append(hdrs, "Accept: application/json");
  hdrs = curl_slist_append(hdrs, "Aurous-Version: 2026-05-15");
  hdrs = curl_slist_append(hdrs, keyh);
  /* a header line, as the client sends it: CURLOPT_USERAGENT costs more per request */
  hdrs = curl_slist_append(hdrs, agenth);
  buf_t b = {0};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);

  for (long i = 0; i < warmup; i++)
    if (one(h, &b) < 0) return 1;
  long checked = 0;
  double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < n; i++) {
    int r = one(h, &b);
    if (r < 0) return 1;
    checked += r;
  }
  double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
  printf("seconds %.6f cpu %.6f checked %ld\n", w1 - w0, c1 - c0, checked);

  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  free(b.data);
  curl_global_cleanup();
  return 0;
}
