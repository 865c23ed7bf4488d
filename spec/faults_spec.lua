-- The fault matrix: every fault the mock can inject, against the real pipeline.
-- Each call must end in success after retries or in the right typed error, and a
-- create must never be executed or charged twice (the Idempotency-Key is reused).
local aurous = require("aurous")
local core = require("aurous.core")
local mock = require("helpers.mock")

-- Short backoff so the matrix runs fast; retry_spec checks the real defaults.
local FAST = { base_delay = 0.01, max_delay = 0.05 }
local IMAGE = { prompt = "a red fox", size = "2k_1_1" }

local m
local COST -- credits held by one image create

local function new_client(o)
  o = o or {}
  o.api_key = o.api_key or m.api_key
  o.base_url = m.url
  o.retry = o.retry or FAST
  return aurous.new(o)
end

local function requests_to(method, path)
  local out = {}
  for _, r in ipairs(m:requests()) do
    if r.method == method and r.path == path then out[#out + 1] = r end
  end
  return out
end

-- Every POST /v1/images in the log carries one and the same key; returns it.
local function one_key()
  local key
  for _, r in ipairs(requests_to("POST", "/v1/images")) do
    local k = r.headers["idempotency-key"]
    assert.is_string(k)
    if key then assert.equal(key, k) end
    key = k
  end
  return key
end

local function timed(fn)
  local t0 = core.now()
  local a, b, c = fn()
  return core.now() - t0, a, b, c
end

setup(function()
  m = mock.start{ latency = 0.2 }
  m:reset()
  local c = new_client()
  assert(c.images:create(IMAGE))
  COST = m:counters().charged_credits
  assert.is_true(COST > 0)
end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

describe("the fault matrix on POST /v1/images (a paid create)", function()
  -- expect: "ok" (success after retry) or { type, code }; executed: creates run
  local MATRIX = {
    { "429 with Retry-After", { action = "status", status = 429, retry_after = 1 }, "ok", 1, min_time = 1 },
    { "429 without Retry-After", { action = "status", status = 429 }, "ok", 1 },
    { "429 balance_too_low (not retried)", { action = "status", status = 429, code = "balance_too_low",
      type = "invalid_request" }, { type = "invalid_request", code = "balance_too_low", status = 429 }, 0, tries = 1 },
    { "402 balance_too_low (not retried)", { action = "status", status = 402 },
      { type = "invalid_request", code = "balance_too_low", status = 402 }, 0, tries = 1 },
    { "500", { action = "status", status = 500 }, "ok", 1 },
    { "502", { action = "status", status = 502 }, "ok", 1 },
    { "503", { action = "status", status = 503 }, "ok", 1 },
    { "504", { action = "status", status = 504 }, "ok", 1 },
    { "503 after executing (replayed)", { action = "status", status = 503, execute = true }, "ok", 1, replayed = true },
    { "408", { action = "status", status = 408 }, "ok", 1 },
    { "409 idempotency_key_in_use", { action = "status", status = 409 }, "ok", 1 },
    { "connection reset", { action = "reset" }, "ok", 1 },
    { "truncated body", { action = "truncate" }, "ok", 1 },
    { "malformed JSON (not retried)", { action = "malformed" }, { type = "decode", code = "invalid_json" }, 0, tries = 1 },
    { "HTML 502 page", { action = "html" }, "ok", 1 },
    { "slow headers beyond the timeout", { action = "slow_headers", delay = 1.2 }, "ok", 1,
      client = { timeout = 0.4, max_retries = 12, retry = { base_delay = 0.1, max_delay = 0.2 } }, replayed = true },
    { "slow body under the low-speed limit", { action = "slow_body", delay = 4 }, "ok", 1,
      client = { low_speed_limit = 100000, low_speed_time = 1 }, replayed = true, max_time = 3.5 },
    { "huge body beyond max_response_size", { action = "huge", size = 4 * 1024 * 1024 },
      { type = "too_large", code = "too_large" }, 0, client = { max_response_size = 1024 * 1024 }, tries = 1 },
    { "executed, then the connection reset (lost answer)", { action = "execute_then_reset" }, "ok", 1, replayed = true },
  }

  for _, row in ipairs(MATRIX) do
    local name, fault, expect, executed = row[1], row[2], row[3], row[4]
    it(name, function()
      local spec = { method = "POST", path = "^/v1/images$" }
      for k, v in pairs(fault) do spec[k] = v end
      m:fault(spec)
      local c = new_client(row.client)
      local took, gen, err, meta = timed(function() return c.images:create(IMAGE) end)
      if expect == "ok" then
        assert.is_nil(err, err and tostring(err))
        assert.is_string(gen.id)
        -- retried: by the pipeline, or (a reset on a reused connection) by libcurl itself
        assert.is_true(#requests_to("POST", "/v1/images") >= 2, "retried")
        assert.equal(row.replayed or false, meta.idempotent_replayed)
        assert.equal(one_key(), meta.idempotency_key)
      else
        assert.is_nil(gen)
        assert.truthy(aurous.errors.is(err))
        assert.equal(expect.type, err.type)
        if expect.code then assert.equal(expect.code, err.code) end
        if expect.status then assert.equal(expect.status, err.status) end
        assert.is_false(err.retryable)
        assert.equal(one_key(), err.idempotency_key)
      end
      if row.tries then assert.equal(row.tries, #requests_to("POST", "/v1/images")) end
      if row.min_time then assert.is_true(took >= row.min_time, "waited " .. took) end
      if row.max_time then assert.is_true(took < row.max_time, "took " .. took) end
      local counters = m:counters()
      assert.equal(executed, counters.executed["POST /v1/images"] or 0)
      assert.equal(executed * COST, counters.charged_credits)
    end)
  end
end)

describe("the fault matrix on GET (safe to repeat)", function()
  local c
  before_each(function() c = new_client() end)

  for _, fault in ipairs{
    { action = "status", status = 429, retry_after = 0 }, { action = "status", status = 500 },
    { action = "status", status = 502 }, { action = "status", status = 503 }, { action = "status", status = 504 },
    { action = "status", status = 408 }, { action = "reset" }, { action = "truncate" }, { action = "html" },
  } do
    it(fault.action .. " " .. tostring(fault.status or "") .. " then success", function()
      fault.path = "^/v1/balance$"
      fault.times = 2
      m:fault(fault)
      local balance, err, meta = c.account:balance()
      assert.is_nil(err, err and tostring(err))
      assert.is_number(balance.credits)
      -- libcurl itself resends once on a reused connection that died unanswered
      if fault.action ~= "reset" then assert.equal(3, meta.attempts) end
      assert.equal(3, #requests_to("GET", "/v1/balance"))
    end)
  end

  it("malformed JSON is a decode error, not retried", function()
    m:fault{ path = "^/v1/balance$", action = "malformed" }
    local v, err = c.account:balance()
    assert.is_nil(v)
    assert.equal("decode", err.type)
    assert.equal(1, #requests_to("GET", "/v1/balance"))
  end)

  it("a huge body is a too_large error, not retried", function()
    local small = new_client{ max_response_size = 64 * 1024 }
    m:fault{ path = "^/v1/images$", method = "GET", action = "huge", size = 1024 * 1024, times = 3 }
    local v, err = small.images:list{ limit = 1 }
    assert.is_nil(v)
    assert.equal("too_large", err.type)
    assert.equal(1, #requests_to("GET", "/v1/images"))
  end)
end)

describe("retry rules", function()
  it("reuses the same idempotency key on every retry", function()
    m:fault{ method = "POST", path = "^/v1/images$", action = "status", status = 503, times = 2 }
    local c = new_client()
    local gen, err, meta = c.images:create(IMAGE)
    assert.is_nil(err)
    assert.truthy(gen)
    local rows = requests_to("POST", "/v1/images")
    assert.equal(3, #rows)
    assert.equal(meta.idempotency_key, rows[1].headers["idempotency-key"])
    assert.equal(meta.idempotency_key, one_key())
    assert.equal(1, m:executed("POST /v1/images"))
  end)

  it("reuses a caller's key, and replays instead of creating again", function()
    m:fault{ method = "POST", path = "^/v1/images$", action = "execute_then_reset" }
    local c = new_client()
    local gen, _, meta = c.images:create(IMAGE, { idempotency_key = "caller-key-42" })
    assert.truthy(gen)
    assert.equal("caller-key-42", one_key())
    assert.is_true(meta.idempotent_replayed)
    local again, _, meta2 = c.images:create(IMAGE, { idempotency_key = "caller-key-42" })
    assert.equal(gen.id, again.id)
    assert.is_true(meta2.idempotent_replayed)
    assert.equal(1, m:executed("POST /v1/images"))
    assert.equal(COST, m:counters().charged_credits)
  end)

  it("takes a key given in the alias header as the key: the same create is not run twice", function()
    local c = new_client()
    for _, name in ipairs{ "Aurous-Idempotent-Key", "aurous-idempotency-key" } do
      m:reset()
      local opts = { headers = { [name] = "order-42-" .. name } }
      local gen, _, meta = c.images:create(IMAGE, opts)
      local again, _, meta2 = c.images:create(IMAGE, opts)
      assert.equal(gen.id, again.id)
      assert.equal("order-42-" .. name, meta.idempotency_key)
      assert.is_true(meta2.idempotent_replayed)
      assert.equal("order-42-" .. name, one_key())
      assert.equal(1, m:executed("POST /v1/images"))
    end
  end)

  it("retries a 409 on its own key whatever the message says (the first request is in flight)", function()
    local c = new_client()
    m:fault{ method = "POST", path = "^/v1/images$", action = "status", status = 409,
      message = "Another request with this idempotency key is still being processed." }
    local gen, err, meta = c.images:create(IMAGE)
    assert.is_nil(err)
    assert.truthy(gen)
    assert.equal(2, meta.attempts)
    assert.equal(2, #requests_to("POST", "/v1/images"))
  end)

  it("says when a POST that was not retried may have run", function()
    local c = new_client()
    m:fault{ method = "POST", path = "^/v1/webhook_endpoints$", action = "execute_then_reset" }
    local _, err = c.webhook_endpoints:create{ url = "https://example.com/hook", events = { "*" } }
    assert.equal("connection", err.type)
    assert.is_true(err.may_have_executed)
    assert.matches("may have been executed", err.message)
    m:fault{ method = "POST", path = "^/v1/webhook_endpoints$", action = "status", status = 429 }
    _, err = c.webhook_endpoints:create{ url = "https://example.com/hook", events = { "*" } }
    assert.equal(429, err.status)
    assert.is_nil(err.may_have_executed) -- a 429 answers before running anything
  end)

  it("stops at max_retries", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, times = 10 }
    local c = new_client{ max_retries = 2 }
    local v, err = c.account:balance()
    assert.is_nil(v)
    assert.equal("server_error", err.type)
    assert.equal(3, err.attempts)
    assert.is_true(err.retryable)
    assert.equal(3, #requests_to("GET", "/v1/balance"))
    local v2, err2 = c.account:balance(nil, { max_retries = 0 })
    assert.is_nil(v2)
    assert.equal(1, err2.attempts)
    assert.equal(4, #requests_to("GET", "/v1/balance"))
  end)

  it("defaults to 2 retries", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 500, times = 10 }
    local _, err = new_client().account:balance()
    assert.equal(3, err.attempts)
  end)

  it("does not retry a POST without an idempotency key", function()
    local c = new_client()
    m:fault{ method = "POST", path = "^/v1/webhook_endpoints$", action = "status", status = 503, times = 5 }
    local v, err = c.webhook_endpoints:create{ url = "https://example.com/hook", events = { "*" } }
    assert.is_nil(v)
    assert.equal("server_error", err.type)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
    assert.equal(1, #requests_to("POST", "/v1/webhook_endpoints"))
    m:reset()
    assert(c.account:balance()) -- a warm connection: libcurl must not resend on it either
    m:fault{ method = "POST", path = "^/v1/webhook_endpoints$", action = "execute_then_reset" }
    v, err = c.webhook_endpoints:create{ url = "https://example.com/hook", events = { "*" } }
    assert.is_nil(v)
    assert.equal("connection", err.type)
    assert.equal(1, #requests_to("POST", "/v1/webhook_endpoints"))
    assert.equal(1, m:executed("POST /v1/webhook_endpoints"))
  end)

  it("does not retry a 409 for a key reused with another body", function()
    local c = new_client()
    assert(c.images:create(IMAGE, { idempotency_key = "k-409" }))
    local v, err = c.images:create({ prompt = "a wolf" }, { idempotency_key = "k-409" })
    assert.is_nil(v)
    assert.equal(409, err.status)
    assert.equal(1, err.attempts)
  end)

  it("a deadline bounds the total time, waits included", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, times = 100 }
    local c = new_client{ max_retries = 100, retry = { base_delay = 0.2, max_delay = 0.2 } }
    local took, v, err = timed(function() return c.account:balance(nil, { deadline = 1 }) end)
    assert.is_nil(v)
    assert.is_true(took < 1.3, "took " .. took)
    assert.is_true(err.attempts >= 2)
    assert.is_true(err.attempts < 10)
  end)

  it("a stall before the deadline is a timeout that is retried, not the deadline", function()
    m:fault{ path = "^/v1/balance$", action = "slow_body", delay = 4, times = 1 }
    local c = new_client{ timeout = 30, deadline = 10, low_speed_limit = 100000, low_speed_time = 1 }
    local took, v, err, meta = timed(function() return c.account:balance() end)
    assert.is_nil(err)
    assert.truthy(v)
    assert.equal(2, meta.attempts)
    assert.is_true(took < 4, "took " .. took)
  end)

  it("a deadline cuts a stalled attempt short", function()
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 3 }
    local c = new_client{ timeout = 30, deadline = 0.5 }
    local took, v, err = timed(function() return c.account:balance() end)
    assert.is_nil(v)
    assert.equal("timeout", err.type)
    assert.is_true(took < 1.2, "took " .. took)
  end)

  it("does not wait for a Retry-After longer than the cap", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 120 }
    local c = new_client()
    local took, v, err = timed(function() return c.account:balance() end)
    assert.is_nil(v)
    assert.equal("rate_limit", err.type)
    assert.equal(120, err.retry_after)
    assert.is_true(took < 1, "took " .. took)
    assert.equal(1, #requests_to("GET", "/v1/balance"))
    -- the cap is an option too
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 2 }
    local capped = new_client{ retry = { max_retry_after = 1 } }
    took, v, err = timed(function() return capped.account:balance() end)
    assert.is_nil(v)
    assert.equal(429, err.status)
    assert.is_true(took < 1, "took " .. took)
  end)

  it("honours an HTTP-date Retry-After", function()
    local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 2)
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, headers = { ["Retry-After"] = when } }
    local took, v, err = timed(function() return new_client().account:balance() end)
    assert.is_nil(err)
    assert.truthy(v)
    assert.is_true(took >= 0.9, "took " .. took)
  end)

  it("retries inside a task without blocking other tasks", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 1 }
    local c = new_client()
    local ticks = 0
    local task = aurous.spawn(function() return c.account:balance() end)
    aurous.spawn(function()
      while not task.done do ticks = ticks + 1; aurous.sleep(0.05) end
    end)
    assert.is_true(aurous.run())
    local balance = task:result()
    assert.is_number(balance.credits)
    assert.is_true(ticks >= 10, "other task ran " .. ticks .. " times")
  end)
end)

describe("timeouts: a stalled server never hangs the client", function()
  local blackhole
  setup(function()
    -- a listener whose accept queue is full: SYNs are dropped, connect() stalls
    local script = [[
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fill = []
for i in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
print(port, flush=True)
sys.stdin.read()
]]
    local src, out = os.tmpname(), os.tmpname()
    local f = assert(io.open(src, "w"))
    f:write(script)
    f:close()
    local pipe = assert(io.popen("exec python3 " .. src .. " > " .. out, "w"))
    local port
    for _ = 1, 250 do
      local fh = io.open(out, "r")
      port = fh and fh:read("*l")
      if fh then fh:close() end
      if port and port:match("^%d+$") then break end
      core.sleep(0.02)
    end
    blackhole = { pipe = pipe, port = port, files = { src, out } }
  end)
  teardown(function()
    blackhole.pipe:close()
    for _, f in ipairs(blackhole.files) do os.remove(f) end
  end)

  it("connect timeout", function()
    local c = aurous.new{ api_key = m.api_key, base_url = "http://127.0.0.1:" .. blackhole.port,
      connect_timeout = 0.3, timeout = 30, max_retries = 0 }
    local took, v, err = timed(function() return c.account:balance() end)
    assert.is_nil(v)
    assert.equal("timeout", err.type)
    assert.is_true(took < 1.5, "took " .. took)
  end)

  it("connect timeout with retries stays bounded", function()
    local c = aurous.new{ api_key = m.api_key, base_url = "http://127.0.0.1:" .. blackhole.port,
      connect_timeout = 0.2, max_retries = 2, retry = FAST }
    local took, _, err = timed(function() return c.account:balance() end)
    assert.equal("timeout", err.type)
    assert.equal(3, err.attempts)
    assert.is_true(took < 2, "took " .. took)
  end)

  it("total timeout (no headers)", function()
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 3 }
    local c = new_client{ timeout = 0.4, max_retries = 0 }
    local took, _, err = timed(function() return c.account:balance() end)
    assert.equal("timeout", err.type)
    assert.is_true(took < 1.2, "took " .. took)
  end)

  it("total timeout (slow body)", function()
    m:fault{ path = "^/v1/balance$", action = "slow_body", delay = 3 }
    local c = new_client{ timeout = 0.5, max_retries = 0 }
    local took, _, err = timed(function() return c.account:balance() end)
    assert.equal("timeout", err.type)
    assert.is_true(took < 1.3, "took " .. took)
  end)

  it("low-speed limit (a body that trickles)", function()
    m:fault{ path = "^/v1/balance$", action = "slow_body", delay = 6 }
    local c = new_client{ timeout = 30, low_speed_limit = 100000, low_speed_time = 1, max_retries = 0 }
    local took, _, err = timed(function() return c.account:balance() end)
    assert.equal("timeout", err.type)
    assert.is_true(took < 3, "took " .. took)
  end)

  it("a timeout inside a task does not stall other tasks", function()
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 2 }
    local c = new_client{ timeout = 0.5, max_retries = 0 }
    local ticks = 0
    local task = aurous.spawn(function() return c.account:balance() end)
    aurous.spawn(function()
      while not task.done do ticks = ticks + 1; aurous.sleep(0.05) end
    end)
    aurous.run()
    local _, err = task:result()
    assert.equal("timeout", err.type)
    assert.is_true(ticks >= 5)
  end)
end)

describe("limits", function()
  it("max_response_size is configurable per client", function()
    m:fault{ path = "^/v1/balance$", action = "huge", size = 300 * 1024, times = 2 }
    local _, err = new_client{ max_response_size = 256 * 1024 }.account:balance()
    assert.equal("too_large", err.type)
    local v, err2 = new_client{ max_response_size = 512 * 1024 }.account:balance()
    assert.is_nil(err2, err2 and tostring(err2))
    assert.is_table(v)
  end)

  it("huge response headers are a too_large error", function()
    local pads = {}
    for i = 1, 4 do pads["X-Pad-" .. i] = string.rep("p", 80 * 1024) end
    m:fault{ path = "^/v1/balance$", action = "status", status = 200, headers = pads }
    local _, err = new_client().account:balance()
    assert.equal("too_large", err.type)
    assert.truthy(err.message:find("max_header_size", 1, true))
    assert.equal(1, #requests_to("GET", "/v1/balance"))
    -- one header line over libcurl's own 100 KB limit
    m:fault{ path = "^/v1/balance$", action = "status", status = 200,
      headers = { ["X-Pad"] = string.rep("p", 150 * 1024) } }
    _, err = new_client().account:balance()
    assert.equal("too_large", err.type)
  end)

  it("max_header_size is configurable", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 503, headers = { ["X-Pad"] = string.rep("p", 4096) } }
    local _, err = new_client{ max_header_size = 2048 }.account:balance()
    assert.equal("too_large", err.type)
    assert.equal(1, #requests_to("GET", "/v1/balance"))
  end)

  it("deeply nested JSON is a decode error, not a crash", function()
    for _, depth in ipairs{ 1001, 100000 } do
      local v, msg = aurous.json.decode(string.rep("[", depth) .. string.rep("]", depth))
      assert.is_nil(v)
      assert.is_string(msg)
    end
    local deep = string.rep('{"a":', 5000) .. "1" .. string.rep("}", 5000)
    local v, msg = aurous.json.decode(deep)
    assert.is_nil(v)
    assert.is_string(msg)
    -- through the webhook path (a verified body that is too deep)
    local body = string.rep("[", 50000) .. string.rep("]", 50000)
    local header = aurous.webhooks.sign(body, "whsec_test")
    local event, err = aurous.webhooks.verify(body, header, "whsec_test")
    assert.is_nil(event)
    assert.equal("decode", err.type)
  end)
end)
