-- Security: the API key stays secret, headers cannot be injected, ids are escaped
-- in paths, TLS is verified unless `insecure = true` (which warns), and the Lua
-- layer never runs a shell.
local aurous = require("aurous")
local core = require("aurous.core")
local util = require("aurous.util")
local mock = require("helpers.mock")

local KEY = "al_live_SECRETsecret0123456789wxyz"
local m

setup(function() m = mock.start{ latency = 0.2 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Every string reachable from `v` (tables through pairs, keys and values, and
-- metatables' __index tables are not followed: this is what a dump would show).
local function strings_of(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      strings_of(k, out, seen)
      strings_of(x, out, seen)
    end
  end
  return out
end

local function assert_no_key(v, what)
  for _, s in ipairs(strings_of(v)) do
    assert.is_nil(s:find(KEY, 1, true), (what or "value") .. " shows the key: " .. s)
    assert.is_nil(s:find(KEY:sub(9, -5), 1, true), (what or "value") .. " shows the key's middle: " .. s)
  end
end

describe("the API key", function()
  local lines, c
  before_each(function()
    lines = {}
    c = aurous.new{ api_key = KEY, base_url = m.url, retry = { base_delay = 0.01, max_delay = 0.02 },
      log = function(l) lines[#lines + 1] = l end }
  end)

  it("is redacted to its prefix and last 4 characters", function()
    assert.equal("al_live_…wxyz", util.redact(KEY))
    assert.equal("aurous.Client (" .. m.url .. ", key al_live_…wxyz)", tostring(c))
    assert.equal("og_…wxyz", util.redact("og_abcdefghijklmwxyz"))
    assert.is_nil(util.redact("al_live_short"):find("short", 1, true))
  end)

  it("is not in the client table (a debug dump), before or after requests", function()
    assert.is_nil(c.api_key)
    assert_no_key(c, "client")
    assert.truthy(c.account:balance()) -- and still sent
    assert.equal(KEY, m:last_request().headers["x-api-key"])
    assert.truthy(c.images:create{ prompt = "a fox" })
    assert_no_key(c, "client after requests") -- the cached header lines hold it
    assert_no_key(c.images, "a resource (it points back to the client)")
  end)

  it("is not in the error of a download whose error body echoes it", function()
    local gen = assert(c.images:wait(assert(c.images:create{ prompt = "fox" }).id, { interval = 0.05, timeout = 10 }))
    m:fault{ path = "^/v1/images/.*/output/0$", action = "status", status = 401, code = "invalid_api_key",
      message = "Invalid API key " .. KEY .. "." }
    local _, err = c.images:download(gen, { path = os.tmpname() })
    assert.equal(401, err.status)
    assert.is_nil(tostring(err):find(KEY, 1, true), tostring(err))
    assert_no_key(err, "download error")
  end)

  it("is not in any field of an error, whatever field the API echoes it in", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 400, code = "bad_header",
      message = "bad header", param = "X-Api-Key: " .. KEY }
    local _, err = c.account:balance()
    assert.equal(400, err.status)
    assert.is_nil(tostring(err):find(KEY, 1, true), tostring(err))
    assert_no_key(err, "error")
  end)

  it("base_url cannot carry credentials (they would show wherever the URL does)", function()
    local ok, err = pcall(aurous.new, { api_key = KEY, base_url = "http://gw:gwPASSWORD123@127.0.0.1:9" })
    assert.is_false(ok)
    assert.matches("must not carry credentials", err)
    assert.is_nil(err:find("gwPASSWORD123", 1, true))
  end)

  it("never appears in an error, its tostring, or a log line, for every error type", function()
    local errs = {}
    local function collect(v, err)
      assert.is_nil(v)
      assert.truthy(aurous.errors.is(err), tostring(err))
      errs[#errs + 1] = err
      return err
    end
    -- invalid_argument
    collect(c.images:create{})
    collect(c.images:get(""))
    collect(c.account:balance(nil, { headers = { ["X-Bad"] = KEY .. "\r\nX-Injected: 1" } }))
    -- API errors, one with a message that echoes the key
    m:fault{ path = "^/v1/balance$", action = "status", status = 401, code = "invalid_api_key",
      message = "Invalid API key " .. KEY .. "." }
    assert.equal("authentication", collect(c.account:balance()).type)
    collect(c.images:get("img_missing"))
    collect(c.images:create{ prompt = "fox", lora_id = "no-such-style" })
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 120 }
    assert.equal("rate_limit", collect(c.account:balance()).type)
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, times = 3,
      message = "upstream said " .. KEY }
    assert.equal("server_error", collect(c.account:balance()).type)
    m:fault{ path = "^/v1/balance$", action = "malformed" }
    assert.equal("decode", collect(c.account:balance()).type)
    m:fault{ path = "^/v1/balance$", action = "html", times = 3 }
    collect(c.account:balance())
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 1 }
    assert.equal("timeout", collect(c.account:balance(nil, { timeout = 0.2, max_retries = 0 })).type)
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 1 }
    local late = collect(c.account:balance(nil, { deadline = 0.2 }))
    assert.equal("timeout", late.type)
    assert.equal("deadline_exceeded", late.code)
    m:fault{ path = "^/v1/balance$", action = "huge", size = 2 * 1024 * 1024 }
    local small = aurous.new{ api_key = KEY, base_url = m.url, max_response_size = 1024,
      log = function(l) lines[#lines + 1] = l end }
    assert.equal("too_large", collect(small.account:balance()).type)
    -- connection, tls
    local dead = aurous.new{ api_key = KEY, base_url = "http://127.0.0.1:9", max_retries = 0,
      log = function(l) lines[#lines + 1] = l end }
    assert.equal("connection", collect(dead.account:balance()).type)
    local tls = aurous.new{ api_key = KEY, base_url = m.url:gsub("^http:", "https:"), max_retries = 0,
      log = function(l) lines[#lines + 1] = l end }
    collect(tls.account:balance())
    -- webhook verification failures
    collect(aurous.webhooks.verify("{}", "t=1,v1=00", KEY))
    -- a cancelled task
    local task = aurous.spawn(function() return c.account:balance() end)
    aurous.step()
    task:cancel()
    errs[#errs + 1] = select(2, task:result())

    local types = {}
    for _, e in ipairs(errs) do
      types[e.type] = true
      assert.is_nil(tostring(e):find(KEY, 1, true), tostring(e))
      assert_no_key(e, "error " .. tostring(e.type))
    end
    for _, t in ipairs{ "invalid_argument", "authentication", "not_found", "invalid_request", "rate_limit",
        "server_error", "decode", "timeout", "too_large", "connection", "tls", "cancelled",
        "signature_verification" } do
      assert.truthy(types[t], "covered " .. t)
    end
    assert.truthy(#lines > 10)
    local all = table.concat(lines, "\n")
    assert.is_nil(all:find(KEY, 1, true))
    assert.truthy(all:find("X-Api-Key: al_live_…wxyz", 1, true))
    -- the echoed key was replaced by its redacted form
    local echoed = errs[4]
    assert.truthy(echoed.message:find("al_live_…wxyz", 1, true), echoed.message)
  end)

  it("is redacted in other credential headers of the log", function()
    c.account:balance(nil, { headers = { Authorization = "Bearer " .. KEY } })
    local all = table.concat(lines, "\n")
    assert.is_nil(all:find(KEY, 1, true))
    assert.truthy(all:find("Authorization: Bearer al_live_…wxyz", 1, true), all)
  end)

  it("and any other credential header are not sent on an anonymous request (a redirect target)", function()
    local c2 = aurous.new{ api_key = KEY, base_url = m.url, max_retries = 0,
      headers = { Authorization = "Bearer " .. KEY, ["X-Trace"] = "t1" } }
    c2:send{ method = "GET", url = m.url .. "/v1/balance", anonymous = true,
      opts = { headers = { Cookie = "s=" .. KEY } } }
    local r = m:last_request()
    assert.is_nil(r.headers["x-api-key"])
    assert.is_nil(r.headers["authorization"])
    assert.is_nil(r.headers["cookie"])
    assert.equal("t1", r.headers["x-trace"])
  end)

  it("is not in the AUROUS_LOG=debug output", function()
    local lua = os.getenv("AUROUS_TEST_LUA") or "lua5.4"
    local script = string.format([[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      local aurous = require("aurous")
      local c = aurous.new{ api_key = %q, base_url = %q, max_retries = 1,
        retry = { base_delay = 0.01 } }
      c.account:balance()
      c.images:get("img_nope")
      c.account:balance()
    ]], KEY, m.url)
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, times = 1 }
    local f = assert(io.popen("AUROUS_LOG=debug " .. lua .. " -e " .. shq(script) .. " 2>&1"))
    local out = f:read("*a")
    f:close()
    assert.truthy(out:find("GET " .. m.url .. "/v1/balance -> 503", 1, true), out)
    assert.truthy(out:find("retry 1/1", 1, true), out)
    assert.truthy(out:find("X-Api-Key: al_live_…wxyz", 1, true), out)
    assert.is_nil(out:find(KEY, 1, true))
  end)
end)

describe("debug logging", function()
  it("shows method, URL, status, timing, retry decisions and redacted headers", function()
    local lines = {}
    local c = aurous.new{ api_key = KEY, base_url = m.url, retry = { base_delay = 0.01 },
      log = function(l) lines[#lines + 1] = l end }
    m:fault{ method = "POST", path = "^/v1/images$", action = "status", status = 503 }
    assert.truthy(c.images:create{ prompt = "fox" })
    local all = table.concat(lines, "\n")
    assert.truthy(all:find("POST " .. m.url .. "/v1/images attempt 1/3", 1, true), all)
    assert.truthy(all:find("POST " .. m.url .. "/v1/images %-> 503 %(%d+%.%d+s%) attempt 1 req_"), all)
    assert.truthy(all:find("retry 1/2 in %d+%.%d+s after: aurous: server_error"), all)
    assert.truthy(all:find("POST " .. m.url .. "/v1/images %-> 201 %(%d+%.%d+s%) attempt 2"), all)
    assert.truthy(all:find("Idempotency%-Key: %x+%-"), all)
    assert.truthy(all:find("X-Api-Key: al_live_…wxyz", 1, true), all)
    -- the decisions not to retry
    lines = {}
    m:fault{ path = "^/v1/webhook_endpoints$", method = "POST", action = "status", status = 503 }
    c.webhook_endpoints:create{ url = "https://example.com/h", events = { "*" } }
    assert.truthy(table.concat(lines, "\n"):find("no retry (POST without an idempotency key", 1, true))
    lines = {}
    c.images:get("img_missing")
    assert.truthy(table.concat(lines, "\n"):find("no retry (not retryable)", 1, true))
    lines = {}
    m:fault{ path = "^/v1/balance$", action = "status", status = 500, times = 5 }
    c.account:balance(nil, { max_retries = 1 })
    assert.truthy(table.concat(lines, "\n"):find("no retry (max_retries (1) reached)", 1, true))
    lines = {}
    m:clear_faults()
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 600 }
    c.account:balance()
    assert.truthy(table.concat(lines, "\n"):find("Retry-After 600s is over the 60s cap", 1, true))
  end)

  it("hides token-like query parameters of URLs", function()
    local r = require("aurous.client")._redacted_url
    assert.equal("https://x/v1/images/img_1/output/0?token=REDACTED&w=1",
      r("https://x/v1/images/img_1/output/0?token=abc123&w=1"))
    assert.equal("https://x/p?a=1&sig=REDACTED", r("https://x/p?a=1&sig=zzz"))
    -- presigned storage URLs (S3, BytePlus TOS, GCS, CloudFront)
    assert.equal("https://s/m.png?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Tos-Signature=REDACTED"
      .. "&X-Goog-Signature=REDACTED&Policy=REDACTED&Key-Pair-Id=REDACTED&w=1",
      r("https://s/m.png?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=dead&X-Tos-Signature=tos"
      .. "&X-Goog-Signature=goog&Policy=pol&Key-Pair-Id=K1&w=1"))
  end)
end)

describe("header injection", function()
  it("is refused in client headers", function()
    for _, bad in ipairs{ "a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b" } do
      assert.has_error(function() aurous.new{ api_key = KEY, base_url = m.url, headers = { ["X-A"] = bad } } end)
    end
    assert.has_error(function() aurous.new{ api_key = KEY, base_url = m.url, headers = { ["X-A: b\r\nX"] = "v" } } end)
    assert.has_error(function() aurous.new{ api_key = KEY, base_url = m.url, headers = { ["X A"] = "v" } } end)
    assert.has_error(function() aurous.new{ api_key = KEY .. "\r\nX-Injected: 1", base_url = m.url } end)
    assert.has_error(function() aurous.new{ api_key = KEY, base_url = m.url, version = "2026-05-15\r\nX: 1" } end)
    assert.has_error(function() aurous.new{ api_key = KEY, base_url = m.url .. "/\r\nX: 1" } end)
  end)

  it("is refused in per-call headers, keys and versions, before any I/O", function()
    local c = aurous.new{ api_key = KEY, base_url = m.url }
    local cases = {
      function() return c.account:balance(nil, { headers = { ["X-A"] = "a\r\nX-Injected: 1" } }) end,
      function() return c.account:balance(nil, { headers = { ["X-A"] = "a\0b" } }) end,
      function() return c.account:balance(nil, { headers = { ["Bad Name"] = "v" } }) end,
      function() return c.images:create({ prompt = "x" }, { idempotency_key = "k\r\nX-Injected: 1" }) end,
      function() return c.images:create({ prompt = "x" }, { idempotency_key = "k\0" }) end,
      function() return c.account:balance(nil, { version = "2026-05-15\nX: 1" }) end,
    }
    for i, fn in ipairs(cases) do
      local v, err = fn()
      assert.is_nil(v, "case " .. i)
      assert.equal("invalid_argument", err.type, "case " .. i)
    end
    assert.equal(0, #m:requests())
  end)

  it("is refused by the core", function()
    local url = m.url .. "/v1/balance"
    for _, h in ipairs{ "X-A: a\r\nX-Injected: 1", "X-A: a\nb", "X-A: a\rb", "X-A: a\0b", "X A: b", ": b", "X-A" } do
      assert.has_error(function() core.transfer{ url = url, headers = { h } } end, nil, h)
    end
    assert.has_error(function() core.transfer{ url = url, user_agent = "ua\r\nX: 1" } end)
    assert.has_error(function() core.transfer{ url = url, method = "GET /x HTTP/1.1\r\n" } end)
    assert.has_error(function() core.transfer{ url = url .. "\0x" } end)
    assert.has_error(function() core.transfer{ url = url, parts = { { name = "a\r\nb", data = "x" } } } end)
    assert.has_error(function() core.transfer{ url = url, parts = { { name = "a", data = "x", filename = "f\r\n" } } } end)
  end)
end)

describe("ids in paths", function()
  local c
  before_each(function() c = aurous.new{ api_key = KEY, base_url = m.url, max_retries = 0 } end)

  it("are escaped: no path traversal, query or fragment injection", function()
    for _, id in ipairs{ "img_../../v1/balance", "img_1?limit=1", "img_1#x", "img_1/cancel", "img 1", "img_%2e%2e" } do
      local v, err = c.images:get(id)
      assert.is_nil(v)
      assert.equal("not_found", err.type, id)
      local r = m:last_request()
      assert.equal("GET", r.method)
      assert.truthy(r.path:find("^/v1/images/"), r.path)
      assert.is_nil(next(r.query or {}), id)
    end
    for _, r in ipairs(m:requests()) do
      assert.truthy(r.path:find("^/v1/images/"), r.path)
    end
    assert.equal(util.escape("img_../x?y#z"), "img_..%2Fx%3Fy%23z")
  end)

  it("refuse control characters, empty ids and dot segments", function()
    for _, id in ipairs{ "", "img_1\r\nX: 1", "img\0", "img\n", ".", ".." } do
      local v, err = c.images:get(id)
      assert.is_nil(v)
      assert.equal("invalid_argument", err.type)
    end
    assert.equal(0, #m:requests())
  end)
end)

describe("TLS", function()
  it("is verified unless insecure = true", function()
    local c = aurous.new{ api_key = KEY, base_url = m.url }
    local opts = c:_transfer_options("GET", "https://x", nil, {}, {})
    assert.is_nil(opts.insecure)
    local lines = {}
    local c2 = aurous.new{ api_key = KEY, base_url = m.url, insecure = true, log = function(l) lines[#lines + 1] = l end }
    assert.is_true(c2:_transfer_options("GET", "https://x", nil, {}, {}).insecure)
    assert.truthy(table.concat(lines):find("WARNING: TLS certificate verification is disabled", 1, true))
    assert.has_error(function() aurous.new{ api_key = KEY, insecure = "yes" } end)
  end)

  it("warns on stderr when there is no logger", function()
    local lua = os.getenv("AUROUS_TEST_LUA") or "lua5.4"
    local script = [[
      package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
      require("aurous").new{ api_key = "al_live_abcdefgh12345678", insecure = true }
    ]]
    local f = assert(io.popen(lua .. " -e " .. shq(script) .. " 2>&1 >/dev/null"))
    local out = f:read("*a")
    f:close()
    assert.truthy(out:find("TLS certificate verification is disabled", 1, true), out)
  end)

  describe("against a self-signed server", function()
    local srv
    setup(function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p " .. dir))
      local ok = os.execute("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "
        .. dir .. "/k.pem -out " .. dir .. "/c.pem >/dev/null 2>&1")
      if ok ~= true and ok ~= 0 then return end
      local script = string.format([[
import http.server, ssl, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b'{"credits": 1}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(%q, %q)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
threading.Thread(target=s.serve_forever, daemon=True).start()
sys.stdin.read()
]], dir .. "/c.pem", dir .. "/k.pem")
      local f = assert(io.open(dir .. "/srv.py", "w"))
      f:write(script)
      f:close()
      local pipe = assert(io.popen("exec python3 " .. dir .. "/srv.py > " .. dir .. "/port", "w"))
      local port
      for _ = 1, 250 do
        local fh = io.open(dir .. "/port")
        port = fh and fh:read("*l")
        if fh then fh:close() end
        if port and port:match("^%d+$") then break end
        core.sleep(0.02)
      end
      srv = { pipe = pipe, port = port, dir = dir }
    end)
    teardown(function()
      if srv then srv.pipe:close() end
    end)

    it("refuses an unverifiable certificate, and accepts it only with insecure = true", function()
      if not srv then return pending("openssl is not available") end
      local url = "https://127.0.0.1:" .. srv.port
      local c = aurous.new{ api_key = KEY, base_url = url, max_retries = 0 }
      local v, err = c.account:balance()
      assert.is_nil(v)
      assert.equal("tls", err.type)
      assert.is_false(err.retryable)
      local c2 = aurous.new{ api_key = KEY, base_url = url, insecure = true, max_retries = 0, log = function() end }
      local bal, err2 = c2.account:balance()
      assert.is_nil(err2, err2 and tostring(err2))
      assert.equal(1, bal.credits)
    end)
  end)
end)

describe("the Lua layer", function()
  it("never runs a shell or loads code from strings", function()
    local files = {}
    local p = io.popen("find lua/aurous -name '*.lua'")
    for line in p:lines() do files[#files + 1] = line end
    p:close()
    assert.truthy(#files > 5)
    for _, path in ipairs(files) do
      local f = assert(io.open(path))
      local src = f:read("*a")
      f:close()
      for _, bad in ipairs{ "os%.execute", "io%.popen", "loadstring%s*%(", "[^%w_.]load%s*%(", "dofile%s*%(", "os%.exit" } do
        assert.is_nil(src:find(bad), path .. " uses " .. bad)
      end
    end
  end)
end)
