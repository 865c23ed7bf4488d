-- Unit tests of the retry policy (aurous.retry) and of Retry-After parsing.
local retry = require("aurous.retry")
local errors = require("aurous.errors")
local aurous = require("aurous")

local function api(status, code, message)
  return errors.from_response(status, { type = errors.type_for_status(status), code = code,
    message = message or "x" }, {})
end

describe("retry.retryable", function()
  it("retries transport failures", function()
    assert.is_true(retry.retryable(errors.from_transfer{ kind = "connection", message = "reset" }, true))
    assert.is_true(retry.retryable(errors.from_transfer{ kind = "timeout", message = "t" }, true))
    assert.is_true(retry.retryable(errors.from_transfer{ kind = "transfer", message = "t" }, true))
    assert.is_true(retry.retryable(errors.from_transfer{ kind = "protocol", curl_code = 8, message = "weird" }, true))
  end)

  it("does not retry local or permanent transport failures", function()
    for _, kind in ipairs{ "too_large", "tls", "cancelled", "file" } do
      assert.is_false(retry.retryable(errors.from_transfer{ kind = kind, message = kind }, true), kind)
    end
    assert.is_false(retry.retryable(errors.from_transfer{ kind = "protocol", curl_code = 1, message = "scheme" }, true))
    assert.is_false(retry.retryable(errors.from_transfer{ kind = "protocol", curl_code = 47, message = "redirects" }, true))
    assert.is_false(retry.retryable(errors.new{ type = "timeout", code = "deadline_exceeded" }, true))
    assert.is_false(retry.retryable(errors.new{ type = "decode", code = "invalid_json", status = 200 }, true))
    assert.is_false(retry.retryable(errors.argument("x", "bad"), true))
  end)

  it("retries 408, 429, 5xx", function()
    for _, s in ipairs{ 408, 429, 500, 502, 503, 504, 599 } do
      assert.is_true(retry.retryable(api(s), true), s)
    end
  end)

  it("does not retry other statuses", function()
    for _, s in ipairs{ 400, 401, 402, 403, 404, 405, 410, 422, 600 } do
      assert.is_false(retry.retryable(api(s), true), s)
    end
  end)

  it("does not retry credit or quota 429s", function()
    for _, code in ipairs{ "balance_too_low", "insufficient_credits", "quota_exceeded", "insufficient_quota" } do
      assert.is_false(retry.retryable(api(429, code), true), code)
    end
    assert.is_true(retry.retryable(api(429, "too_many_requests"), true))
    assert.is_true(retry.retryable(api(429, "concurrency_limit_exceeded"), true))
  end)

  it("retries 409 only for a key still in flight", function()
    assert.is_true(retry.retryable(api(409, "idempotency_key_in_use",
      "A request with this idempotency key is still being processed."), true))
    assert.is_false(retry.retryable(api(409, "idempotency_key_in_use",
      "Idempotency key reused with a different request body or route."), true))
    assert.is_false(retry.retryable(api(409, "conflict"), true))
  end)

  it("retries nothing that is not safe to repeat", function()
    assert.is_false(retry.retryable(api(503), false))
    assert.is_false(retry.retryable(errors.from_transfer{ kind = "connection", message = "reset" }, false))
    assert.is_false(retry.retryable(nil, true))
  end)
end)

describe("retry.delay", function()
  local function fixed(x) return function() return x end end

  it("has the documented defaults", function()
    assert.equal(0.5, retry.BASE_DELAY)
    assert.equal(8, retry.MAX_DELAY)
    assert.equal(2, retry.DEFAULT_MAX_RETRIES)
    assert.is_true(retry.MAX_RETRY_AFTER >= 30)
  end)

  it("doubles from 0.5 s, capped at 8 s", function()
    local top = { random = fixed(1) }
    assert.equal(0.5, retry.delay(1, nil, top))
    assert.equal(1, retry.delay(2, nil, top))
    assert.equal(2, retry.delay(3, nil, top))
    assert.equal(4, retry.delay(4, nil, top))
    assert.equal(8, retry.delay(5, nil, top))
    assert.equal(8, retry.delay(6, nil, top))
    assert.equal(8, retry.delay(1000, nil, top))
  end)

  it("adds jitter: between half and all of the backoff", function()
    assert.equal(0.25, retry.delay(1, nil, { random = fixed(0) }))
    assert.equal(4, retry.delay(5, nil, { random = fixed(0) }))
    for attempt = 1, 8 do
      for _ = 1, 50 do
        local d = retry.delay(attempt)
        local b = math.min(8, 0.5 * 2 ^ (attempt - 1))
        assert.is_true(d >= b / 2 and d <= b, attempt .. ": " .. d)
      end
    end
    -- the old calling convention: a random function as third argument
    assert.equal(0.5, retry.delay(1, nil, fixed(1)))
  end)

  it("never waits less than Retry-After", function()
    local e = api(429)
    e.retry_after = 5
    assert.equal(5, retry.delay(1, e, { random = fixed(1) }))
    e.retry_after = 0
    assert.equal(0.5, retry.delay(1, e, { random = fixed(1) }))
    e.retry_after = 3
    assert.equal(8, retry.delay(5, e, { random = fixed(1) }))
  end)

  it("gives up (nil) on a Retry-After over the cap", function()
    local e = api(429)
    e.retry_after = retry.MAX_RETRY_AFTER + 1
    assert.is_nil(retry.delay(1, e))
    e.retry_after = retry.MAX_RETRY_AFTER
    assert.equal(retry.MAX_RETRY_AFTER, retry.delay(1, e))
    e.retry_after = 10
    assert.is_nil(retry.delay(1, e, { max_retry_after = 5 }))
  end)

  it("can be made fast for tests", function()
    assert.equal(0.01, retry.delay(1, nil, { base_delay = 0.01, random = fixed(1) }))
    assert.equal(0.05, retry.delay(9, nil, { base_delay = 0.01, max_delay = 0.05, random = fixed(1) }))
  end)

  it("is a client option, checked", function()
    assert.has_error(function()
      aurous.new{ api_key = "al_live_abcdefgh1234", retry = { base_dealy = 1 } }
    end)
    assert.has_error(function()
      aurous.new{ api_key = "al_live_abcdefgh1234", retry = { base_delay = "1" } }
    end)
    assert.has_error(function() aurous.new{ api_key = "al_live_abcdefgh1234", max_retries = -1 } end)
    assert.has_error(function() aurous.new{ api_key = "al_live_abcdefgh1234", max_retries = math.huge } end,
      "aurous.new: max_retries must be finite")
    local c = aurous.new{ api_key = "al_live_abcdefgh1234" }
    assert.equal(2, c.max_retries)
    local _, err = c.account:balance(nil, { max_retries = math.huge })
    assert.equal("opts.max_retries", err.param)
  end)
end)

describe("errors.parse_retry_after", function()
  local NOW = 784111777 -- Sun, 06 Nov 1994 08:49:37 GMT

  it("reads delta-seconds", function()
    assert.equal(0, errors.parse_retry_after("0"))
    assert.equal(12, errors.parse_retry_after("12"))
    assert.equal(12, errors.parse_retry_after(" 12 "))
    assert.equal(1.5, errors.parse_retry_after("1.5"))
    assert.equal(3, errors.parse_retry_after(3))
  end)

  it("reads the three HTTP date formats", function()
    assert.equal(10, errors.parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", NOW))
    assert.equal(10, errors.parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", NOW))
    assert.equal(10, errors.parse_retry_after("Sun Nov  6 08:49:47 1994", NOW))
    assert.equal(86400 + 3600, errors.parse_retry_after("Mon, 07 Nov 1994 09:49:37 GMT", NOW))
  end)

  it("handles month and year boundaries and leap days", function()
    local t = 1709164800 -- 2024-02-29T00:00:00Z
    assert.equal(0, errors.parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", t))
    assert.equal(86400, errors.parse_retry_after("Fri, 01 Mar 2024 00:00:00 GMT", t))
    local ny = 1767225599 -- 2025-12-31T23:59:59Z
    assert.equal(1, errors.parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", ny))
  end)

  it("a date in the past means no wait", function()
    assert.equal(0, errors.parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", NOW))
  end)

  it("agrees with the clock for a date just ahead", function()
    local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 30)
    local s = errors.parse_retry_after(when)
    assert.is_true(s >= 29 and s <= 30, tostring(s))
  end)

  it("rejects anything else", function()
    for _, v in ipairs{ "", "soon", "-5", "1e3", "12s", "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
        "inf", "nan" } do
      assert.is_nil(errors.parse_retry_after(v, NOW), v)
    end
    assert.is_nil(errors.parse_retry_after(nil))
    assert.is_nil(errors.parse_retry_after({}))
    assert.is_nil(errors.parse_retry_after(-1))
    assert.is_nil(errors.parse_retry_after(0 / 0))
  end)

  it("is used for the error's retry_after", function()
    local e = errors.from_response(429, nil, { ["retry-after"] = "7" })
    assert.equal(7, e.retry_after)
    assert.equal("rate_limit", e.type)
  end)

  it("falls back on X-RateLimit-Reset for a 429 without it", function()
    local e = errors.from_response(429, nil, { ["x-ratelimit-reset"] = tostring(os.time() + 5) })
    assert.is_true(e.retry_after >= 4 and e.retry_after <= 5, tostring(e.retry_after))
    assert.equal(0, errors.from_response(429, nil, { ["x-ratelimit-reset"] = "1000" }).retry_after)
    assert.equal(7, errors.from_response(429, nil, { ["retry-after"] = "7", ["x-ratelimit-reset"] = "1000" }).retry_after)
    assert.is_nil(errors.from_response(503, nil, { ["x-ratelimit-reset"] = tostring(os.time() + 5) }).retry_after)
  end)
end)

describe("errors.body_hint", function()
  it("says what a body without the API's envelope says, on one line", function()
    assert.equal("content-type application/json: Forbidden: IP not allowed",
      errors.body_hint('{"message":"Forbidden: IP not allowed"}', "application/json"))
    assert.equal("content-type text/plain: Request Header Or Cookie Too Large",
      errors.body_hint("Request Header Or Cookie Too Large\r\n", "text/plain"))
    assert.equal("content-type text/html, empty body", errors.body_hint("", "text/html"))
    local long = errors.body_hint(string.rep("é", 150), "text/plain")
    local utf8 = rawget(_G, "utf8") -- 5.3+
    assert.truthy(utf8 == nil or utf8.len(long), "a cut leaves valid UTF-8")
    assert.is_true(#long < 230)
  end)
end)
