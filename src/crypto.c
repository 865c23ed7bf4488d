/* crypto.c: luaopen_aurous_core_crypto: HMAC-SHA256 (hex), constant-time
 * comparison and random bytes, from libcrypto. Its own shared object, which
 * core.c loads the first time one of these names is looked up. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "core.h"

static int crypto_hmac_sha256_hex(lua_State *L) {
  size_t keylen, msglen;
  const char *key = luaL_checklstring(L, 1, &keylen);
  const char *msg = luaL_checklstring(L, 2, &msglen);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  static const char hexdigits[] = "0123456789abcdef";
  char hex[2 * EVP_MAX_MD_SIZE];
  unsigned int i;
  if (keylen > (size_t)0x7fffffff)
    return luaL_argerror(L, 1, "key too long");
  if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, msglen, mac, &maclen) == NULL)
    return luaL_error(L, "HMAC-SHA256 failed");
  for (i = 0; i < maclen; i++) {
    hex[2 * i] = hexdigits[mac[i] >> 4];
    hex[2 * i + 1] = hexdigits[mac[i] & 0x0f];
  }
  lua_pushlstring(L, hex, 2 * (size_t)maclen);
  return 1;
}

/* Time depends only on the length of the inputs, never on where they differ. */
static int crypto_constant_time_equal(lua_State *L) {
  size_t alen, blen;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);
  lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
  return 1;
}

static int crypto_random_bytes(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  unsigned char buf[256];
  luaL_argcheck(L, n >= 0 && n <= (lua_Integer)sizeof buf, 1, "must be between 0 and 256");
  if (n > 0 && RAND_bytes(buf, (int)n) != 1)
    return luaL_error(L, "RAND_bytes failed: no secure random source");
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  return 1;
}

int luaopen_aurous_core_crypto(lua_State *L);

int luaopen_aurous_core_crypto(lua_State *L) {
  static const luaL_Reg fns[] = {
    {"hmac_sha256_hex", crypto_hmac_sha256_hex},
    {"constant_time_equal", crypto_constant_time_equal},
    {"random_bytes", crypto_random_bytes},
    {NULL, NULL}
  };
  lua_newtable(L);
  aur_setfuncs(L, fns);
  return 1;
}
