-- The request pipeline: headers, versions, errors of every type, idempotency.
local aurous = require("aurous")
local mock = require("helpers.mock")

local m, client
setup(function()
  m = mock.start{ latency = 0.2 }
  client = aurous.new{ api_key = m.api_key, base_url = m.url, max_retries = 0 }
end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

describe("what the pipeline sends", function()
  it("sends the key, the version, a user agent and JSON", function()
    assert.truthy(client.images:create{ prompt = "a red fox", size = "2k_1_1" })
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/images", r.path)
    assert.equal(m.api_key, r.headers["x-api-key"])
    assert.equal("2026-05-15", r.headers["aurous-version"])
    assert.equal("application/json", r.headers["content-type"])
    assert.matches("^aurous%-lua/%d+%.%d+%.%d+ %(.+; libcurl %d+%.%d+%.%d+%)$", r.headers["user-agent"])
    assert.equal("a red fox", r.json.prompt)
    assert.equal("2k_1_1", r.json.size)
  end)

  it("sends a request that must not run twice on a new connection, the others on a kept one", function()
    -- characters:delete runs at most once: libcurl would resend it on a kept connection
    -- that died before answering, so it asks for a fresh one (usual headers, and its own)
    local ports = {}
    local function port_of_last() ports[#ports + 1] = m:last_request().client_port end
    assert.truthy(client.account:balance()); port_of_last()
    assert.truthy(client.account:balance()); port_of_last()
    client.characters:delete("char_missing"); port_of_last()
    assert.truthy(client.account:balance()); port_of_last()
    client.characters:delete("char_missing", nil, { headers = { ["X-Trace"] = "1" } }); port_of_last()
    assert.equal(ports[1], ports[2]) -- kept alive
    assert.are_not.equal(ports[2], ports[3])
    assert.are_not.equal(ports[4], ports[5])
    assert.are_not.equal(ports[3], ports[5])
    assert.equal("DELETE", m:last_request().method)
  end)

  it("sends no Content-Type with a POST that has no body", function()
    local gen = assert(client.images:create{ prompt = "a red fox", size = "2k_1_1" })
    assert.truthy(client.images:cancel(gen.id))
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal(0, r.body_size)
    assert.is_nil(r.headers["content-type"])
  end)

  it("overrides the version per client and per call", function()
    local c2 = aurous.new{ api_key = m.api_key, base_url = m.url, version = "2026-06-19" }
    assert.truthy(c2.account:balance())
    assert.equal("2026-06-19", m:last_request().headers["aurous-version"])
    local _, _, meta = client.account:balance(nil, { version = "2026-06-03" })
    assert.equal("2026-06-03", m:last_request().headers["aurous-version"])
    assert.equal("2026-06-03", meta.version)
  end)

  it("adds per-call and per-client headers", function()
    local c2 = aurous.new{ api_key = m.api_key, base_url = m.url, headers = { ["X-Team-Tag"] = "t1" } }
    c2.account:balance(nil, { headers = { ["X-Trace"] = "abc" } })
    local r = m:last_request()
    assert.equal("t1", r.headers["x-team-tag"])
    assert.equal("abc", r.headers["x-trace"])
  end)

  it("sends one header per name, whatever the case of the one that replaces it", function()
    local c2 = aurous.new{ api_key = m.api_key, base_url = m.url,
      headers = { ["user-agent"] = "mine/1", accept = "text/plain", ["x-team-tag"] = "t1" } }
    assert.truthy(c2.account:balance(nil, { headers = { ["aurous-version"] = "2026-06-03", ["X-TEAM-TAG"] = "t2" } }))
    local h = m:last_request().headers -- the mock joins repeated headers with ", "
    assert.equal("mine/1", h["user-agent"])          -- the client's replaces the SDK's
    assert.equal("application/json", h["accept"])    -- the pipeline's own stay
    assert.equal("2026-06-03", h["aurous-version"])  -- per-call ones replace any
    assert.equal("t2", h["x-team-tag"])
    assert.truthy(c2.images:create({ prompt = "a red fox", size = "2k_1_1" }, { headers = { ["content-type"] = "application/json; charset=utf-8" } }))
    h = m:last_request().headers
    assert.equal("application/json; charset=utf-8", h["content-type"])
  end)

  it("refuses an idempotency_key on a call that sends none", function()
    local _, err = client.account:balance(nil, { idempotency_key = "k1" })
    assert.equal("invalid_argument", err.type)
    assert.equal("opts.idempotency_key", err.param)
    assert.equal(0, #m:requests())
  end)

  it("takes an Idempotency-Key given as a header as the request's key", function()
    local g, _, meta = client.images:create({ prompt = "a red fox", size = "2k_1_1" },
      { headers = { ["idempotency-key"] = "my-key-1" } })
    assert.truthy(g)
    assert.equal("my-key-1", m:last_request().headers["idempotency-key"])
    assert.equal("my-key-1", meta.idempotency_key) -- what a caller saves to retry with
    local _, err = client.images:create({ prompt = "a red fox", size = "2k_1_1" },
      { idempotency_key = "a", headers = { ["Idempotency-Key"] = "b" } })
    assert.equal("invalid_argument", err.type)
    assert.equal("opts.headers.Idempotency-Key", err.param)
  end)

  it("keeps per-call headers, versions and bodies out of the client's later requests", function()
    local c2 = aurous.new{ api_key = m.api_key, base_url = m.url, headers = { ["X-Team-Tag"] = "t1" } }
    assert.truthy(c2.account:balance())                 -- the plain request, whose headers are reused
    assert.truthy(c2.account:balance(nil, { headers = { ["X-Trace"] = "abc" }, version = "2026-06-03" }))
    assert.truthy(c2.images:create{ prompt = "a red fox", size = "2k_1_1" })
    assert.truthy(c2.account:balance())
    local reqs = m:requests()
    assert.equal(4, #reqs)
    for i, r in ipairs(reqs) do
      assert.equal(m.api_key, r.headers["x-api-key"])
      assert.equal("t1", r.headers["x-team-tag"])
      assert.equal(i == 2 and "abc" or nil, r.headers["x-trace"])
      assert.equal(i == 2 and "2026-06-03" or "2026-05-15", r.headers["aurous-version"])
      assert.equal(i == 3 and "application/json" or nil, r.headers["content-type"])
    end
    assert.truthy(reqs[3].headers["idempotency-key"])
    assert.is_nil(reqs[4].headers["idempotency-key"])
  end)

  it("builds query strings: escaping, booleans, arrays", function()
    client.account:usage{ start_time = "2026-05-01T00:00:00Z", group_by = { "status", "type" }, limit = 5 }
    local r = m:last_request()
    assert.same({ "2026-05-01T00:00:00Z" }, r.query.start_time)
    assert.same({ "status", "type" }, r.query["group_by[]"])
    assert.same({ "5" }, r.query.limit)
  end)

  it("escapes ids in paths", function()
    local _, err = client.images:get("img_../../v1/balance?x=1")
    assert.equal("not_found", err.type)
    assert.equal("/v1/images/img_..%2F..%2Fv1%2Fbalance%3Fx%3D1", m:last_request().raw_path or m:last_request().path)
  end)

  it("escapes spaces and control characters in ids; send refuses them in a path or URL it is given", function()
    local _, err = client.images:get("img_a b\tc")
    assert.equal("invalid_argument", err.type) -- control character: validate.id
    _, err = client.images:get("img_a b")
    assert.equal("not_found", err.type)
    assert.equal("/v1/images/img_a%20b", m:last_request().raw_path or m:last_request().path)
    local before = #m:requests()
    for _, target in ipairs({ { path = "/v1/a b" }, { path = "/v1/a\rb" }, { url = m.url .. "/v1/balance\n" } }) do
      target.method = "GET"
      local value, serr = client:send(target)
      assert.is_nil(value)
      assert.equal("invalid_argument", serr.type)
      assert.equal("url", serr.param)
      assert.matches("spaces or control characters", serr.message)
    end
    assert.equal(before, #m:requests()) -- refused before any I/O
  end)

  it("returns the response beside the result", function()
    local balance, err, meta = client.account:balance()
    assert.is_nil(err)
    assert.is_number(balance.credits)
    assert.equal(200, meta.status)
    assert.matches("^req_", meta.request_id)
    assert.equal(1, meta.attempts)
    assert.equal("2026-05-15", meta.version)
    assert.is_false(meta.idempotent_replayed)
    assert.is_number(meta.elapsed)
    -- the headers: built from raw_headers when first read, kept, case-insensitive
    assert.matches("^HTTP/1%.[01] 200 ", meta.raw_headers)
    assert.is_nil(rawget(meta, "headers"))
    local headers = meta.headers
    assert.equal(headers, rawget(meta, "headers"))
    assert.equal(meta.request_id, headers["aurous-request-id"])
    assert.equal(meta.request_id, headers["Aurous-Request-Id"])
    assert.matches("^application/json", headers["content-type"])
    assert.is_nil(meta.no_such_field)
    -- pairs lists it before any read where Lua honours __pairs (5.2+)
    local _, _, fresh = client.account:balance()
    local keys = {}
    for k in pairs(fresh) do keys[k] = true end
    if _VERSION ~= "Lua 5.1" then assert.is_true(keys.headers) end
    assert.is_true(keys.raw_headers and keys.request_id and keys.status and true)
  end)

  it("keeps unknown response fields and unknown statuses", function()
    local gen = assert(client.images:create{ prompt = "fox" })
    assert.is_string(gen.id)
    assert.is_string(gen.status)
  end)
end)

describe("errors", function()
  local function fails(fn)
    local v, err = fn()
    assert.is_nil(v)
    assert.truthy(aurous.errors.is(err), "an error object")
    return err
  end

  it("authentication: missing, invalid, revoked keys and missing scope", function()
    local bad = aurous.new{ api_key = "nope", base_url = m.url, max_retries = 0 }
    local e1 = fails(function() return bad.account:balance() end)
    assert.equal("authentication", e1.type)
    assert.equal("invalid_api_key", e1.code)
    assert.equal(401, e1.status)
    assert.is_false(e1.retryable)
    local revoked = aurous.new{ api_key = "al_live_revoked_0123456789", base_url = m.url }
    assert.equal("revoked_api_key", fails(function() return revoked.account:balance() end).code)
    local ro = aurous.new{ api_key = "al_live_readonly_0123456789", base_url = m.url }
    local e3 = fails(function() return ro.images:create{ prompt = "x" } end)
    assert.equal("missing_scope", e3.code)
    assert.equal(403, e3.status)
    local none = aurous.new{ api_key = "al_live_x1234567890", base_url = m.url, headers = {} }
    assert.truthy(none.account:balance()) -- a valid key passes
  end)

  it("not_found with the request id of the header", function()
    local err = fails(function() return client.images:get("img_missing") end)
    assert.equal("not_found", err.type)
    assert.equal("resource_not_found", err.code)
    assert.equal(404, err.status)
    assert.matches("^req_", err.request_id)
    assert.equal(m:last_request().request_id, err.request_id)
  end)

  it("invalid_request from the server, with param and doc_url", function()
    local err = fails(function() return client.images:create{ prompt = "fox", lora_id = "no-such-style" } end)
    assert.equal("invalid_request", err.type)
    assert.equal("lora_id", err.param)
    assert.is_string(err.doc_url)
  end)

  it("rate_limit with Retry-After", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 429, retry_after = 7 }
    local err = fails(function() return client.account:balance() end)
    assert.equal("rate_limit", err.type)
    assert.equal(429, err.status)
    assert.equal(7, err.retry_after)
    assert.is_true(err.retryable)
  end)

  it("server_error", function()
    m:fault{ path = "^/v1/balance$", action = "status", status = 503 }
    local err = fails(function() return client.account:balance() end)
    assert.equal("server_error", err.type)
    assert.equal(503, err.status)
    assert.is_true(err.retryable)
  end)

  it("an HTML error page becomes a typed error, not a decode crash", function()
    m:fault{ path = "^/v1/balance$", action = "html" }
    local err = fails(function() return client.account:balance() end)
    assert.equal("server_error", err.type)
    assert.equal(502, err.status)
    assert.truthy(err.message:find("text/html", 1, true))
  end)

  it("malformed JSON in a 200 is a decode error", function()
    m:fault{ path = "^/v1/balance$", action = "malformed" }
    local err = fails(function() return client.account:balance() end)
    assert.equal("decode", err.type)
  end)

  it("connection refused is a connection error", function()
    local dead = aurous.new{ api_key = m.api_key, base_url = "http://127.0.0.1:9", max_retries = 0 }
    local err = fails(function() return dead.account:balance() end)
    assert.equal("connection", err.type)
    assert.is_true(err.retryable)
  end)

  it("a slow server is a timeout error", function()
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 2 }
    local err = fails(function() return client.account:balance(nil, { timeout = 0.3 }) end)
    assert.equal("timeout", err.type)
  end)

  it("prints as one line without the key", function()
    local bad = aurous.new{ api_key = "al_live_" .. string.rep("9", 64), base_url = m.url }
    m:fault{ path = "^/v1/balance$", action = "status", status = 400 }
    local err = fails(function() return bad.account:balance() end)
    local s = tostring(err)
    assert.is_nil(s:find("\n"))
    assert.is_nil(s:find(string.rep("9", 64), 1, true))
    assert.matches("^aurous: invalid_request", s)
    assert.truthy(s:find("request_id req_", 1, true))
  end)
end)

describe("idempotency", function()
  it("generates a UUID v4 key for creates and shows replays", function()
    local gen, _, meta = client.images:create{ prompt = "fox" }
    assert.truthy(gen)
    local key = m:last_request().headers["idempotency-key"]
    assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", key)
    assert.equal(key, meta.idempotency_key)
    assert.is_false(meta.idempotent_replayed)
    local again, _, meta2 = client.images:create({ prompt = "fox" }, { idempotency_key = key })
    assert.equal(gen.id, again.id)
    assert.is_true(meta2.idempotent_replayed)
    assert.equal(1, m:counters().executed["POST /v1/images"])
  end)

  it("uses a new key for each logical call", function()
    client.images:create{ prompt = "one" }
    local k1 = m:last_request().headers["idempotency-key"]
    client.images:create{ prompt = "one" }
    local k2 = m:last_request().headers["idempotency-key"]
    assert.are_not.equal(k1, k2)
  end)

  it("sends no key where the API takes none", function()
    client.account:balance()
    assert.is_nil(m:last_request().headers["idempotency-key"])
    client.webhook_endpoints:create{ url = "https://example.com/h", events = { "*" } }
    assert.is_nil(m:last_request().headers["idempotency-key"])
  end)

  it("a reused key with another body is a 409 the caller sees", function()
    client.images:create({ prompt = "fox" }, { idempotency_key = "fixed-key-1" })
    local _, err = client.images:create({ prompt = "wolf" }, { idempotency_key = "fixed-key-1" })
    assert.equal(409, err.status)
    assert.equal("idempotency_key_in_use", err.code)
    assert.equal("fixed-key-1", err.idempotency_key)
  end)
end)

describe("debug logging", function()
  it("logs method, URL, status, timing and redacted headers, never the key", function()
    local lines = {}
    local c = aurous.new{ api_key = m.api_key, base_url = m.url, log = function(l) lines[#lines + 1] = l end }
    c.account:balance()
    local all = table.concat(lines, "\n")
    assert.truthy(all:find("GET " .. m.url .. "/v1/balance -> 200", 1, true))
    assert.truthy(all:find("X-Api-Key: al_live_…", 1, true))
    assert.is_nil(all:find(m.api_key, 1, true))
  end)
end)
