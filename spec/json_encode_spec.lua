-- core.json_encode: every rule of CORE.md "JSON" (encode part), on Lua 5.4, 5.3,
-- 5.1 and LuaJIT. Round trips go through core.json_decode.
local core = require("aurous.core")
local enc = core.json_encode
local dec = core.json_decode

local HAS_INTEGERS = math.type ~= nil

local function arr(t) return setmetatable(t or {}, core.json_array_mt) end
local function obj(t) return setmetatable(t or {}, core.json_object_mt) end

-- asserts that encoding v fails with a message containing each of `parts` (plain)
local function fails(v, ...)
  local s, err = enc(v)
  assert.is_nil(s)
  assert.is_string(err)
  for i = 1, select("#", ...) do
    local part = select(i, ...)
    if not err:find(part, 1, true) then
      error(("message %q does not contain %q"):format(err, part), 2)
    end
  end
  return err
end

-- `it` when the decoder exists, else pending
local function it_rt(name, fn)
  if dec then it(name, fn) else pending(name .. " (core.json_decode missing)") end
end

describe("json_encode scalars", function()
  it("booleans and null", function()
    assert.equal("true", enc(true))
    assert.equal("false", enc(false))
    assert.equal("null", enc(core.null))
  end)

  it("strings", function()
    assert.equal('""', enc(""))
    assert.equal('"hello"', enc("hello"))
    assert.equal('"a/b"', enc("a/b"))   -- '/' is not escaped
    assert.equal('"\127"', enc("\127")) -- DEL stays raw
  end)

  it("integral numbers have no fraction", function()
    assert.equal("0", enc(0))
    assert.equal("1", enc(1))
    assert.equal("-42", enc(-42))
    assert.equal("1", enc(1.0))
    assert.equal("-3", enc(-3.0))
    assert.equal("1000000", enc(1e6))
    assert.equal("9007199254740991", enc(2^53 - 1))
    assert.equal("-9007199254740991", enc(-(2^53 - 1)))
  end)

  it("floats", function()
    assert.equal("1.5", enc(1.5))
    assert.equal("-0.25", enc(-0.25))
    assert.equal("0.1", enc(0.1))
    assert.equal("0.7", enc(0.7))
    assert.equal("1e+300", enc(1e300))
    assert.equal("1e-07", enc(1e-7))
  end)

  it("floats round-trip through tonumber (shortest form)", function()
    local values = { 0.1, 0.2, 0.3, 1 / 3, 2 / 3, math.pi, -math.pi, 1e-300, 5e-324,
                     1.7976931348623157e308, 123456.789, 0.1 + 0.2, 2^53, 2^53 + 2, 2^60, -2^63, 2^64 }
    for _, v in ipairs(values) do
      local s = enc(v)
      assert.equal(v, tonumber(s), s)
      assert.is_nil(s:find(",", 1, true))
    end
    assert.equal("0.1", enc(0.1))
    assert.equal("0.30000000000000004", enc(0.1 + 0.2))
    assert.equal("0.3333333333333333", enc(1 / 3))
    assert.equal(2^53, tonumber(enc(2^53)))
  end)

  it("short decimals match the shortest of %.15g/%.16g/%.17g", function()
    local function ref(d)
      for _, f in ipairs({ "%.15g", "%.16g", "%.17g" }) do
        local s = f:format(d)
        if tonumber(s) == d then return s end
      end
    end
    assert.equal("1234.5", enc(1234.5))
    assert.equal("-0.001", enc(-0.001))
    assert.equal("0.0001", enc(0.0001))
    assert.equal("0.00012", enc(0.00012))
    assert.equal("1e-05", enc(0.00001))
    assert.equal("12345678.12345678", enc(12345678.12345678))
    assert.equal(ref(123456789012345.6), enc(123456789012345.6))
    math.randomseed(7)
    for _ = 1, 20000 do
      local d = math.random(-1000000000, 1000000000) / 10 ^ math.random(0, 9)
      if d ~= math.floor(d) then assert.equal(ref(d), enc(d)) end
      d = math.random(1, 1000000) / 10 ^ math.random(0, 12)
      if d ~= math.floor(d) then assert.equal(ref(d), enc(d)) end
    end
  end)

  it("random doubles round-trip", function()
    math.randomseed(42)
    for _ = 1, 2000 do
      local v = (math.random() - 0.5) * 10 ^ math.random(-20, 20)
      assert.equal(v, tonumber(enc(v)))
    end
  end)

  if HAS_INTEGERS then
    it("5.3+: integers vs floats", function()
      assert.equal("1", enc(1))
      assert.equal("1", enc(1.0))
      assert.equal("1.5", enc(1.5))
      assert.equal("9223372036854775807", enc(math.maxinteger))
      assert.equal("-9223372036854775808", enc(math.mininteger))
      assert.equal("4611686018427387904", enc(math.tointeger(2^62)))
      assert.equal("float", math.type(2^53))
      assert.equal(2^53, tonumber(enc(2^53)))
      -- a float beyond 2^53 is written so it reads back as the same float
      assert.equal(2.0^63, tonumber(enc(2.0^63)) + 0.0)
    end)
  else
    pending("5.3+: integers vs floats (no integer subtype here)")
  end

  it("NaN and infinities are errors", function()
    assert.equal("cannot encode NaN at $", fails(0 / 0))
    assert.equal("cannot encode inf at $", fails(math.huge))
    assert.equal("cannot encode -inf at $", fails(-math.huge))
    assert.equal("cannot encode NaN at $.x", fails({ x = 0 / 0 }))
    assert.equal("cannot encode inf at $[2]", fails({ 1, math.huge }))
  end)

  it("functions, threads, userdata, light userdata are errors", function()
    assert.equal("cannot encode function at $", fails(print))
    assert.equal("cannot encode thread at $", fails(coroutine.create(function() end)))
    fails(io.stdout, "cannot encode userdata at $")
    fails({ a = { 1, { b = print } } }, "cannot encode function at $.a[2].b")
    fails({ co = coroutine.create(function() end) }, "cannot encode thread at $.co")
    fails({ f = io.stdout }, "cannot encode userdata at $.f")
  end)

  it("nil is null (top level, holes of a marked array)", function()
    assert.equal("null", enc(nil))
    local holey = enc(arr({ 1, nil, 3 }))   -- #t is a border: 3 or 1
    assert.truthy(holey == "[1,null,3]" or holey == "[1]", holey)
    assert.equal("[1,null,3]", enc(arr({ 1, core.null, 3 })))
  end)
end)

describe("json_encode string escapes", function()
  it("escapes quote, backslash and control characters", function()
    assert.equal([["a\"b"]], enc('a"b'))
    assert.equal([["a\\b"]], enc("a\\b"))
    assert.equal([["\b\f\n\r\t"]], enc("\b\f\n\r\t"))
    assert.equal([["\u0000\u0001\u001f"]], enc("\0\1\31"))
    assert.equal([["\u000b"]], enc("\11"))
    assert.equal([[" !#~"]], enc(" !#~"))
  end)

  it("every byte below 0x20 is escaped, nothing else ASCII except \" and \\", function()
    for b = 0, 127 do
      local s = enc(string.char(b))
      if b < 32 then
        assert.truthy(s:match('^"\\[bfnrtu]'), tostring(b))
      elseif b == 34 or b == 92 then
        assert.equal('"\\' .. string.char(b) .. '"', s)
      else
        assert.equal('"' .. string.char(b) .. '"', s)
      end
    end
  end)

  it("escapes in long strings (word-at-a-time scan)", function()
    local long = ("abcdefgh"):rep(10)
    assert.equal('"' .. long .. '\\n' .. long .. '"', enc(long .. "\n" .. long))
    assert.equal('"' .. long .. '\\"x"', enc(long .. '"x'))
    for pos = 1, 20 do
      local s = ("x"):rep(pos - 1) .. "\\" .. ("y"):rep(20 - pos)
      assert.equal('"' .. ("x"):rep(pos - 1) .. "\\\\" .. ("y"):rep(20 - pos) .. '"', enc(s))
    end
    local many = ("\n"):rep(1000)
    assert.equal('"' .. ("\\n"):rep(1000) .. '"', enc(many))
    local ctl = ("\1"):rep(500)
    assert.equal('"' .. ("\\u0001"):rep(500) .. '"', enc(ctl))
  end)

  it("keys are escaped too", function()
    assert.equal([[{"a\"b\n":1}]], enc({ ['a"b\n'] = 1 }))
  end)
end)

describe("json_encode UTF-8", function()
  it("accepts 2, 3 and 4-byte sequences, written raw", function()
    assert.equal('"é"', enc("é"))                  -- U+00E9
    assert.equal('"\194\128"', enc("\194\128"))     -- U+0080
    assert.equal('"\223\191"', enc("\223\191"))     -- U+07FF
    assert.equal('"€"', enc("€"))                  -- U+20AC
    assert.equal('"\224\160\128"', enc("\224\160\128"))   -- U+0800
    assert.equal('"\237\159\191"', enc("\237\159\191"))   -- U+D7FF
    assert.equal('"\238\128\128"', enc("\238\128\128"))   -- U+E000
    assert.equal('"\239\191\191"', enc("\239\191\191"))   -- U+FFFF
    assert.equal('"😀"', enc("😀"))                -- U+1F600
    assert.equal('"\240\144\128\128"', enc("\240\144\128\128")) -- U+10000
    assert.equal('"\244\143\191\191"', enc("\244\143\191\191")) -- U+10FFFF
    local mixed = ("héllo wörld 日本語 😀 "):rep(20)
    assert.equal('"' .. mixed .. '"', enc(mixed))
  end)

  it("rejects invalid UTF-8, naming the path", function()
    local bad = {
      "\128", "\191", "\192\128", "\193\191",          -- continuation, overlong 2-byte
      "\194", "\194\065", "\224\128\128", "\224\159\191", -- truncated, bad cont, overlong 3-byte
      "\237\160\128", "\237\191\191",                   -- surrogates
      "\240\128\128\128", "\240\143\191\191",           -- overlong 4-byte
      "\244\144\128\128", "\245\128\128\128", "\255", "\254",  -- > U+10FFFF, invalid bytes
      "\226\130", "\240\159\152", "abc\226\130",        -- truncated at the end
      ("a"):rep(40) .. "\255" .. ("b"):rep(40),
    }
    for _, s in ipairs(bad) do
      local out, err = enc(s)
      assert.is_nil(out, ("%q"):format(s))
      assert.equal("invalid UTF-8 in string at $", err)
    end
    fails({ name = "\255" }, "invalid UTF-8 in string at $.name")
    fails({ a = { "ok", "\192\175" } }, "invalid UTF-8 in string at $.a[2]")
    fails({ ["\255"] = 1 }, "invalid UTF-8 in object key at $")
  end)
end)

describe("json_encode tables", function()
  it("arrays", function()
    assert.equal("[1,2,3]", enc({ 1, 2, 3 }))
    assert.equal('["a",true,null]', enc({ "a", true, core.null }))
    assert.equal("[[1,[2]],[]]", enc({ { 1, { 2 } }, arr() }))
  end)

  it("objects with one key, nested", function()
    assert.equal('{"a":1}', enc({ a = 1 }))
    assert.equal('{"a":{"b":{"c":"d"}}}', enc({ a = { b = { c = "d" } } }))
    assert.equal('{"list":[1,{"x":false}]}', enc({ list = { 1, { x = false } } }))
  end)

  it("objects with several keys (lua_next order)", function()
    local s = enc({ a = 1, b = 2, c = 3 })
    assert.equal(19, #s)
    for _, k in ipairs({ '"a":1', '"b":2', '"c":3' }) do assert.truthy(s:find(k, 1, true)) end
    assert.equal("{", s:sub(1, 1))
    assert.equal("}", s:sub(-1))
  end)

  it("empty plain table is {}", function()
    assert.equal("{}", enc({}))
    assert.equal('{"a":{}}', enc({ a = {} }))
  end)

  it("marked empty array is [] and marked empty object is {}", function()
    assert.equal("[]", enc(arr()))
    assert.equal("{}", enc(obj()))
    assert.equal('{"items":[]}', enc({ items = arr() }))
  end)

  it("marked array writes t[1..#t], ignoring other keys", function()
    local t = arr({ 1, 2 })
    t.extra = "ignored"
    assert.equal("[1,2]", enc(t))
  end)

  it("marked object: string keys; a number key is an error naming it", function()
    assert.equal('{"a":1}', enc(obj({ a = 1 })))
    fails(obj({ a = 1, [1] = 2 }), "(key 1)", "at $")
    fails({ x = obj({ [2.5] = 1 }) }, "(key 2.5) at $.x")
  end)

  it("integer keys added out of order still make an array", function()
    local t = {}
    t[3] = "c"; t[1] = "a"; t[2] = "b"
    assert.equal('["a","b","c"]', enc(t))
    local big = {}
    for i = 200, 1, -1 do big[i] = i end
    local want = {}
    for i = 1, 200 do want[i] = tostring(i) end
    assert.equal("[" .. table.concat(want, ",") .. "]", enc(big))
  end)

  it("mixed, sparse, float, negative, zero, boolean keys are errors naming the key", function()
    assert.equal("table has mixed or non-sequence keys (key 3.5) at $", fails({ [3.5] = 1 }))
    assert.equal("table has mixed or non-sequence keys (key 3) at $", fails({ [1] = 1, [3] = 3 }))
    assert.equal("table has mixed or non-sequence keys (key -1) at $", fails({ [-1] = 1 }))
    assert.equal("table has mixed or non-sequence keys (key 0) at $", fails({ [0] = 1 }))
    assert.equal("table has mixed or non-sequence keys (key true) at $", fails({ [true] = 1 }))
    fails({ 1, 2, x = 1 }, "table has mixed or non-sequence keys (key ", "at $")
    fails({ a = { b = { 1, 2, [4] = 4 } } }, "table has mixed or non-sequence keys (key 4) at $.a.b")
    fails({ [{}] = 1 }, "(key of type table) at $")
    -- a key quoted in a message is escaped, on one line, and cut at a character boundary
    assert.equal('table has mixed or non-sequence keys (key "x\\"y?") at $.a', fails({ a = { 1, ['x"y\n'] = 2 } }))
    local long = fails({ a = { 1, [("é"):rep(50) .. "z"] = 2 } })
    assert.truthy(long:find('(key "' .. ("é"):rep(50) .. '...")', 1, true), long)
    local m = { x = 1 }
    m[1] = 1
    fails(m, "table has mixed or non-sequence keys")
  end)

  it("a string key that looks like a number is a string key", function()
    assert.equal('{"1":true}', enc({ ["1"] = true }))
  end)

  it("other metatables are ignored; no metamethod runs", function()
    local called = false
    local mt = { __index = function() called = true; return 1 end,
                 __pairs = function() called = true end,
                 __len = function() called = true; return 5 end }
    assert.equal("[1,2]", enc(setmetatable({ 1, 2 }, mt)))
    assert.equal('{"a":1}', enc(setmetatable({ a = 1 }, mt)))
    assert.equal("[1]", enc(setmetatable(arr({ 1 }), nil)))
    assert.is_false(called)
  end)

  it("paths: non-identifier keys in brackets, 1-based indices", function()
    fails({ ["a b"] = { print } }, 'cannot encode function at $["a b"][1]')
    fails({ ["1x"] = print }, 'at $["1x"]')
    fails({ { { { print } } } }, "at $[1][1][1][1]")
  end)
end)

describe("json_encode cycles and depth", function()
  it("a table inside itself is a cycle error", function()
    local t = {}
    t[1] = t
    fails(t, "cycle detected at $[1]")
    local u = { a = {} }
    u.a.b = u
    assert.equal("cycle detected at $.a.b", fails(u))
    local v = { a = {} }
    v.a.b = v.a
    assert.equal("cycle detected at $.a.b", fails(v))
    local m = arr()
    m[1] = { x = m }
    fails(m, "cycle detected at $[1].x")
  end)

  it("a shared (non-cyclic) table is fine", function()
    local shared = { 1 }
    assert.equal('{"a":[1],"b":[1]}', (enc({ a = shared, b = shared }):gsub('"b":%[1%],"a"', '"a":[1],"b"')))
    assert.equal("[[1],[1]]", enc({ shared, shared }))
  end)

  local function nest(n)
    local t = {}
    local cur = t
    for _ = 2, n do
      local nx = {}
      cur[1] = nx
      cur = nx
    end
    return t
  end

  it("default limit 1000", function()
    assert.equal(("["):rep(999) .. "{}" .. ("]"):rep(999), enc(nest(1000)))
    local s, err = enc(nest(1001))
    assert.is_nil(s)
    assert.truthy(err:find("nesting", 1, true))
    assert.truthy(err:find("at $[1][1]", 1, true))
  end)

  it("max_depth argument", function()
    assert.equal("[[1]]", enc({ { 1 } }, 2))
    local s, err = enc({ { 1 } }, 1)
    assert.is_nil(s)
    assert.equal("nesting deeper than the limit at $[1]", err)
    assert.equal("1", enc(1, 1))
    assert.equal("{}", enc({}, 1))
  end)

  it("a bad max_depth raises", function()
    assert.has_error(function() enc({}, 0) end)
    assert.has_error(function() enc({}, 1001) end)
    assert.has_error(function() enc({}, "x") end)
  end)

  it("no argument raises", function()
    assert.has_error(function() enc() end)
  end)
end)

describe("json_encode big values", function()
  it("a large array and long strings", function()
    local t = {}
    for i = 1, 100000 do t[i] = i end
    local s = enc(t)
    assert.equal("[1,2,3,", s:sub(1, 7))
    assert.equal(",100000]", s:sub(-8))
    local long = ("x"):rep(1000000)
    assert.equal(1000002, #enc(long))
  end)
end)

describe("json_encode round trips through json_decode", function()
  it_rt("documents", function()
    local docs = {
      '{"a":1}', "[1,2,3]", "[]", "{}", '{"a":[]}', '{"a":{}}', '"x"', "null", "true",
      '[1.5,-0.25,"\\n\\u0001",null,false,{"k":[{}]}]',
      '{"nested":{"deep":[[[[]]]]}}',
    }
    for _, d in ipairs(docs) do
      assert.equal(d, enc(dec(d)))
    end
  end)

  it_rt("values", function()
    local v = { name = "héllo \"😀\"\n", list = { 1, 2.5, 0.1, true, core.null }, empty = arr(), o = obj() }
    local back = dec(enc(v))
    assert.equal(v.name, back.name)
    assert.equal(0.1, back.list[3])
    assert.equal(2.5, back.list[2])
    assert.equal(core.null, back.list[5])
    assert.equal("[]", enc(back.empty))
    assert.equal("{}", enc(back.o))
    if HAS_INTEGERS then
      assert.equal(math.maxinteger, dec(enc(math.maxinteger)))
      assert.equal("integer", math.type(dec(enc({ 1 }))[1]))
    end
  end)

  it_rt("all byte values survive (valid UTF-8)", function()
    local parts = {}
    for b = 0, 127 do parts[#parts + 1] = string.char(b) end
    local s = table.concat(parts) .. "é€😀"
    assert.equal(s, dec(enc(s)))
  end)
end)
