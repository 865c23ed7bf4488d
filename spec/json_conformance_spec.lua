-- The third-party JSONTestSuite (../shared/conformance/JSONTestSuite): every y_
-- file accepted, every n_ file rejected, every i_ file answered without a crash.
local core = require("aurous.core")

local DIR = os.getenv("AUROUS_CONFORMANCE_DIR") or "../shared/conformance/JSONTestSuite"

local function list(dir)
  local names = {}
  local p = assert(io.popen('ls -1 "' .. dir .. '" 2>/dev/null'))
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  table.sort(names)
  return names
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local parsing = list(DIR .. "/test_parsing")
local by_kind = { y = {}, n = {}, i = {} }
for _, name in ipairs(parsing) do
  local kind = name:sub(1, 1)
  if by_kind[kind] then table.insert(by_kind[kind], name) end
end

describe("JSONTestSuite corpus", function()
  it("is present, complete, and read from " .. DIR, function()
    assert.equal(95, #by_kind.y)
    assert.equal(188, #by_kind.n)
    assert.equal(35, #by_kind.i)
  end)
end)

describe("JSONTestSuite y_ (must parse)", function()
  for _, name in ipairs(by_kind.y) do
    it(name, function()
      local value, err = core.json_decode(read(DIR .. "/test_parsing/" .. name))
      assert(value ~= nil, err)
    end)
  end
end)

describe("JSONTestSuite n_ (must be rejected)", function()
  for _, name in ipairs(by_kind.n) do
    it(name, function()
      local value, err = core.json_decode(read(DIR .. "/test_parsing/" .. name))
      assert.is_nil(value)
      assert.matches("^invalid JSON at byte %d+: ", err)
    end)
  end
end)

describe("JSONTestSuite i_ (either way, never a crash)", function()
  local outcomes = {}
  for _, name in ipairs(by_kind.i) do
    it(name, function()
      local ok, value, err = pcall(core.json_decode, read(DIR .. "/test_parsing/" .. name))
      assert.is_true(ok, "raised: " .. tostring(value))
      assert.is_true(value ~= nil or type(err) == "string")
      outcomes[#outcomes + 1] = (value ~= nil) and "accepted" or "rejected"
    end)
  end
  it("(summary)", function()
    local accepted = 0
    for _, o in ipairs(outcomes) do if o == "accepted" then accepted = accepted + 1 end end
    print(string.format("\nJSONTestSuite i_: %d accepted, %d rejected", accepted, #outcomes - accepted))
    assert.equal(#by_kind.i, #outcomes)
  end)
end)

describe("JSONTestSuite test_transform (our documented choices)", function()
  local function decode(name)
    return core.json_decode(read(DIR .. "/test_transform/" .. name))
  end
  it("keeps 64-bit integers exact where the Lua has integers", function()
    local v = decode("number_9223372036854775807.json")
    if math.type then
      assert.equal(math.maxinteger, v[1])
      assert.equal(math.mininteger, decode("number_-9223372036854775808.json")[1])
      assert.equal("float", math.type(decode("number_9223372036854775808.json")[1]))
      assert.equal("float", math.type(decode("number_1.0.json")[1]))
    else
      assert.equal(2 ^ 63, v[1])
    end
  end)
  it("reads a huge negative exponent as 0 and an overlong integer as a float", function()
    assert.equal(0, decode("number_1e-999.json")[1])
    local big = decode("number_10000000000000000999.json")[1]
    assert.equal(1e19, big)
    if math.type then assert.equal("float", math.type(big)) end
  end)
  it("keeps the last of repeated keys", function()
    assert.equal(2, decode("object_same_key_different_values.json").a)
  end)
  it("keeps an escaped NUL inside strings", function()
    local v = decode("string_with_escaped_NULL.json")
    assert.equal("A\0B", v[1])
  end)
  it("rejects lone surrogates (every decoded string is valid UTF-8)", function()
    assert.is_nil(decode("string_1_escaped_invalid_codepoint.json"))
    assert.is_nil(decode("string_1_invalid_codepoint.json"))
  end)
end)
