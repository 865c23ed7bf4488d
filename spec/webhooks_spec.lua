-- aurous.webhooks: signature verification and signing (REFERENCE §13.5).
local aurous = require("aurous")
local core = require("aurous.core")
local webhooks = aurous.webhooks

local SECRET = "whsec_test_secret_0123456789"
local BODY = '{"id":"evt_01","type":"image.completed","data":{"id":"img_01","status":"succeeded"}}'
local NOW = 1767225600

local function header_for(body, secret, t)
  return "t=" .. t .. ",v1=" .. core.hmac_sha256_hex(secret, t .. "." .. body)
end

describe("HMAC-SHA256", function()
  it("matches RFC 4231 test case 2", function()
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      core.hmac_sha256_hex("Jefe", "what do ya want for nothing?"))
  end)
  it("matches RFC 4231 test case 1 (binary key)", function()
    assert.equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
      core.hmac_sha256_hex(string.rep("\11", 20), "Hi There"))
  end)
  it("matches RFC 4231 test case 6 (key longer than the block)", function()
    assert.equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
      core.hmac_sha256_hex(string.rep("\170", 131), "Test Using Larger Than Block-Size Key - Hash Key First"))
  end)
  it("compares in constant time and only equal strings are equal", function()
    assert.is_true(core.constant_time_equal("abc", "abc"))
    assert.is_false(core.constant_time_equal("abc", "abd"))
    assert.is_false(core.constant_time_equal("abc", "abcd"))
    assert.is_true(core.constant_time_equal("", ""))
  end)
end)

describe("webhooks.verify", function()
  it("accepts a valid signature and returns the decoded event", function()
    local event, err = webhooks.verify(BODY, header_for(BODY, SECRET, NOW), SECRET, { now = NOW })
    assert.is_nil(err)
    assert.equal("image.completed", event.type)
    assert.equal("img_01", event.data.id)
  end)

  it("signs over t.raw_body exactly: one changed byte fails", function()
    local h = header_for(BODY, SECRET, NOW)
    local event, err = webhooks.verify(BODY:gsub("img_01", "img_02"), h, SECRET, { now = NOW })
    assert.is_nil(event)
    assert.equal("signature_verification", err.type)
    assert.equal("no_matching_signature", err.code)
  end)

  it("rejects the wrong secret", function()
    local _, err = webhooks.verify(BODY, header_for(BODY, "whsec_other", NOW), SECRET, { now = NOW })
    assert.equal("no_matching_signature", err.code)
  end)

  it("rejects timestamps too old and too new, at the default tolerance of 300 s", function()
    local old = header_for(BODY, SECRET, NOW - 301)
    local new = header_for(BODY, SECRET, NOW + 301)
    local _, e1 = webhooks.verify(BODY, old, SECRET, { now = NOW })
    local _, e2 = webhooks.verify(BODY, new, SECRET, { now = NOW })
    assert.equal("timestamp_out_of_tolerance", e1.code)
    assert.equal("timestamp_out_of_tolerance", e2.code)
    assert.truthy(webhooks.verify(BODY, header_for(BODY, SECRET, NOW - 300), SECRET, { now = NOW }))
    assert.truthy(webhooks.verify(BODY, header_for(BODY, SECRET, NOW + 299), SECRET, { now = NOW }))
  end)

  it("honours a custom tolerance", function()
    local h = header_for(BODY, SECRET, NOW - 20)
    local _, err = webhooks.verify(BODY, h, SECRET, { now = NOW, tolerance = 10 })
    assert.equal("timestamp_out_of_tolerance", err.code)
    assert.truthy(webhooks.verify(BODY, h, SECRET, { now = NOW, tolerance = 30 }))
  end)

  it("uses the wall clock by default", function()
    local h = header_for(BODY, SECRET, os.time())
    assert.truthy(webhooks.verify(BODY, h, SECRET))
  end)

  it("covers the rotation window with a list of secrets", function()
    local previous = "whsec_previous"
    local h = header_for(BODY, previous, NOW)
    assert.truthy(webhooks.verify(BODY, h, { "whsec_new", previous }, { now = NOW }))
    local _, err = webhooks.verify(BODY, h, { "whsec_new" }, { now = NOW })
    assert.equal("no_matching_signature", err.code)
  end)

  it("accepts any of several v1 values", function()
    local good = core.hmac_sha256_hex(SECRET, NOW .. "." .. BODY)
    local h = "t=" .. NOW .. ",v1=" .. string.rep("0", 64) .. ",v1=" .. good
    assert.truthy(webhooks.verify(BODY, h, SECRET, { now = NOW }))
  end)

  it("ignores unknown schemes and tolerates spaces", function()
    local good = core.hmac_sha256_hex(SECRET, NOW .. "." .. BODY)
    local h = "t=" .. NOW .. ", v0=deadbeef, v1=" .. good:upper()
    assert.truthy(webhooks.verify(BODY, h, SECRET, { now = NOW }))
  end)

  it("skips a v1 entry that is not hex and verifies with the others", function()
    local good = header_for(BODY, SECRET, NOW):match("v1=(%x+)")
    local h = "t=" .. NOW .. ",v1=not-hex,v1=" .. good
    assert.truthy(webhooks.verify(BODY, h, SECRET, { now = NOW }))
    local _, err = webhooks.verify(BODY, "t=" .. NOW .. ",v1=not-hex", SECRET, { now = NOW })
    assert.equal("malformed_signature", err.code)
    assert.matches("no v1 signature", err.message)
  end)

  it("rejects missing and malformed headers with a reason", function()
    local cases = {
      { nil, "missing_signature" },
      { "", "missing_signature" },
      { "v1=" .. string.rep("a", 64), "malformed_signature" },
      { "t=" .. NOW, "malformed_signature" },
      { "t=abc,v1=" .. string.rep("a", 64), "malformed_signature" },
      { "t=" .. NOW .. ",v1=xyz", "malformed_signature" },
      { "t=1,t=2,v1=aa", "malformed_signature" },
      { "garbage", "malformed_signature" },
    }
    for _, c in ipairs(cases) do
      local event, err = webhooks.verify(BODY, c[1], SECRET, { now = NOW })
      assert.is_nil(event)
      assert.equal(c[2], err.code, "header " .. tostring(c[1]))
    end
  end)

  it("verifies over the timestamp as written (a leading zero is signed as sent)", function()
    local t = "0" .. NOW
    local header = "t=" .. t .. ",v1=" .. core.hmac_sha256_hex(SECRET, t .. "." .. BODY)
    assert.truthy(webhooks.verify(BODY, header, SECRET, { now = NOW }))
  end)

  it("takes a header given once as a table; refuses one given twice", function()
    local header = header_for(BODY, SECRET, NOW)
    assert.truthy(webhooks.verify(BODY, { header }, SECRET, { now = NOW }))
    local _, err = webhooks.verify(BODY, { header, header }, SECRET, { now = NOW })
    assert.equal("malformed_signature", err.code)
    assert.matches("given 2 times", err.message)
  end)

  it("returns only an object as the event", function()
    for _, body in ipairs{ "false", "null", "42", '"x"', "[1,2]" } do
      local event, err = webhooks.verify(body, header_for(body, SECRET, NOW), SECRET, { now = NOW })
      assert.is_nil(event, body)
      assert.equal("invalid_event", err.code, body)
    end
  end)

  it("reports a signed body that is not JSON as a decode error", function()
    local body = "not json"
    local _, err = webhooks.verify(body, header_for(body, SECRET, NOW), SECRET, { now = NOW })
    assert.equal("decode", err.type)
  end)

  it("checks its arguments", function()
    local _, e1 = webhooks.verify(nil, "t=1,v1=aa", SECRET)
    assert.equal("invalid_argument", e1.type)
    assert.equal("raw_body", e1.param)
    local _, e2 = webhooks.verify(BODY, "t=1,v1=aa", {})
    assert.equal("secret", e2.param)
    local _, e3 = webhooks.verify(BODY, "t=1,v1=aa", SECRET, { tolerance = -1 })
    assert.equal("opts.tolerance", e3.param)
    -- NaN would turn the timestamp check off
    local _, e4 = webhooks.verify(BODY, header_for(BODY, SECRET, 1), SECRET, { tolerance = 0 / 0, now = NOW })
    assert.equal("opts.tolerance", e4.param)
    local _, e5 = webhooks.verify(BODY, header_for(BODY, SECRET, 1), SECRET, { now = 0 / 0 })
    assert.equal("opts.now", e5.param)
    local _, e6 = webhooks.verify(BODY, header_for(BODY, SECRET, 1), SECRET, { now = "1" })
    assert.equal("opts.now", e6.param)
  end)

  it("reports a stale timestamp with fractional now and tolerance", function()
    local _, err = webhooks.verify(BODY, header_for(BODY, SECRET, NOW), SECRET, { now = NOW + 1000.5, tolerance = 0.5 })
    assert.equal("timestamp_out_of_tolerance", err.code)
    assert.matches("the tolerance is 0.5s", err.message)
  end)

  it("never puts the secret in an error message", function()
    local _, err = webhooks.verify(BODY, header_for(BODY, "whsec_wrong", NOW), SECRET, { now = NOW })
    assert.is_nil(tostring(err):find(SECRET, 1, true))
    -- the secret and the header swapped: the message names the mistake, not the secret
    _, err = webhooks.verify(BODY, SECRET, header_for(BODY, SECRET, NOW), { now = NOW })
    assert.equal("malformed_signature", err.code)
    assert.is_nil(tostring(err):find(SECRET, 1, true))
    assert.matches("is the secret passed as the header", err.message)
  end)
end)

describe("webhooks.sign", function()
  it("produces a header that verify accepts", function()
    local h = webhooks.sign(BODY, SECRET, NOW)
    assert.matches("^t=" .. NOW .. ",v1=%x+$", h)
    assert.equal(header_for(BODY, SECRET, NOW), h)
    assert.truthy(webhooks.verify(BODY, h, SECRET, { now = NOW }))
  end)
  it("defaults the timestamp to now", function()
    local t = tonumber(webhooks.sign(BODY, SECRET):match("^t=(%d+)"))
    assert.is_true(math.abs(t - os.time()) <= 2)
  end)
  it("raises on bad arguments", function()
    assert.has_error(function() webhooks.sign(nil, SECRET) end)
    assert.has_error(function() webhooks.sign(BODY, "") end)
  end)
end)
