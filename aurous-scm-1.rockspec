rockspec_format = "3.0"
package = "aurous"
version = "scm-1"
source = {
  url = "git+https://github.com/aurous-labs/aurous-lua.git",
}
description = {
  summary = "Lua client for the Aurous Labs v1 API (image and video generation)",
  detailed = [[
Asynchronous image and video generation, reference-file uploads, characters,
LoRA styles, credits and usage, and signed webhooks. A C core (libcurl, cJSON,
OpenSSL) with a thin Lua layer: blocking calls by default, coroutine tasks that
never block a host loop (Neovim, LÖVE) when asked.
]],
  license = "MIT",
  homepage = "https://docs.aurous-labs.com/",
}
dependencies = {
  "lua >= 5.1",
}
external_dependencies = {
  -- libcurl by library only: Debian's multiarch curl/curl.h (/usr/include/<triplet>/)
  -- is outside LuaRocks's header search but in the compiler's default path.
  CURL = { library = "curl" },
  CJSON = { header = "cjson/cJSON.h", library = "cjson" },
  OPENSSL = { header = "openssl/hmac.h", library = "crypto" },
}
build = {
  type = "builtin",
  modules = {
    ["aurous.core"] = {
      sources = { "src/core.c", "src/clock.c", "src/json_validate.c", "src/json_decode.c", "src/json_encode.c" },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "cjson" },
      incdirs = { "$(CJSON_INCDIR)" },
      libdirs = { "$(CJSON_LIBDIR)" },
    },
    -- HMAC, constant-time compare, random bytes: loaded by aurous.core on first use
    ["aurous.core.crypto"] = {
      sources = { "src/crypto.c" },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "crypto" },
      incdirs = { "$(OPENSSL_INCDIR)" },
      libdirs = { "$(OPENSSL_LIBDIR)" },
    },
    -- the HTTP half, loaded by aurous.core on first use (core.session / core.transfer)
    ["aurous.core.http"] = {
      sources = { "src/http_module.c", "src/session.c", "src/transfer.c", "src/response.c" },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    ["aurous.client"] = "lua/aurous/client.lua",
    ["aurous.download"] = "lua/aurous/download.lua",
    ["aurous.errors"] = "lua/aurous/errors.lua",
    ["aurous"] = "lua/aurous/init.lua",
    ["aurous.json"] = "lua/aurous/json.lua",
    ["aurous.loop"] = "lua/aurous/loop.lua",
    ["aurous.pager"] = "lua/aurous/pager.lua",
    ["aurous.resource"] = "lua/aurous/resource.lua",
    ["aurous.resources.account"] = "lua/aurous/resources/account.lua",
    ["aurous.resources.characters"] = "lua/aurous/resources/characters.lua",
    ["aurous.resources.files"] = "lua/aurous/resources/files.lua",
    ["aurous.resources.generations"] = "lua/aurous/resources/generations.lua",
    ["aurous.resources.loras"] = "lua/aurous/resources/loras.lua",
    ["aurous.resources.schemas"] = "lua/aurous/resources/schemas.lua",
    ["aurous.resources.webhook_endpoints"] = "lua/aurous/resources/webhook_endpoints.lua",
    ["aurous.retry"] = "lua/aurous/retry.lua",
    ["aurous.util"] = "lua/aurous/util.lua",
    ["aurous.validate"] = "lua/aurous/validate.lua",
    ["aurous.waiter"] = "lua/aurous/waiter.lua",
    ["aurous.webhooks"] = "lua/aurous/webhooks.lua",
  },
  install = {
    bin = { aurous = "bin/aurous" },
  },
}
