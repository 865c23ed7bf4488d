-- core.json_decode: values, marks, integers, limits and error messages.
local core = require("aurous.core")
local json = require("aurous.json")
local decode = core.json_decode
local child = require("helpers.child")

describe("json_decode", function()
  it("decodes scalars and containers", function()
    assert.equal(true, decode("true"))
    assert.equal(false, decode("false"))
    assert.equal("hé", decode('"h\\u00e9"'))
    assert.equal(1.5, decode("1.5"))
    assert.same({ 1, 2, 3 }, decode("[1,2,3]"))
    assert.same({ a = { b = "c" } }, decode('{"a":{"b":"c"}}'))
  end)

  it("maps null to aurous.null, in arrays and objects", function()
    assert.equal(json.null, decode("null"))
    local t = decode('{"a":null,"b":[null,1]}')
    assert.equal(json.null, t.a)
    assert.equal(json.null, t.b[1])
    assert.equal(2, #t.b)
  end)

  it("marks arrays and objects, empty ones too", function()
    assert.is_true(json.is_array(decode("[]")))
    assert.equal(core.json_object_mt, getmetatable(decode("{}")))
    assert.equal(core.json_array_mt, getmetatable(decode('{"a":[]}').a))
  end)

  it("keeps integers as integers and floats as floats where Lua has both", function()
    if not math.type then return end
    assert.equal("integer", math.type(decode("42")))
    assert.equal("integer", math.type(decode("-0")))
    assert.equal("float", math.type(decode("42.0")))
    assert.equal("float", math.type(decode("4e1")))
    assert.equal(math.maxinteger, decode("9223372036854775807"))
    assert.equal(math.mininteger, decode("-9223372036854775808"))
    assert.equal("float", math.type(decode("9223372036854775808")))
  end)

  it("decodes surrogate pairs and escapes", function()
    assert.equal("\240\157\132\158", decode('"\\ud834\\udd1e"'))
    assert.equal("\"\\/\b\f\n\r\t", decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
    assert.equal("a\0b", decode('"a\\u0000b"'))
    assert.equal(7, decode('{"k\\u0000":7}')["k\0"])
  end)

  it("reads numbers longer than cJSON's 63-character buffer", function()
    local long = "0." .. string.rep("0", 70) .. "1"
    local v = decode("[" .. long .. ", 2]")
    assert.equal(tonumber(long), v[1])
    assert.equal(2, v[2])
  end)

  it("decodes integers of every length beside floats, with or without spaces around", function()
    -- the integers' values come from the strict scan, cJSON reads "0" in their place
    local parts, expected, state = {}, {}, 7
    for i = 1, 400 do
      state = (state * 1103515245 + 12345) % 2147483648
      local digits = 1 + state % 18
      local literal = tostring(state):rep(3):sub(1, digits):gsub("^0+(%d)", "%1")
      if state % 5 == 0 then literal = "-" .. literal end
      if state % 7 == 0 then literal = literal .. ".5" end
      if state % 11 == 0 then literal = literal .. "e2" end
      parts[i] = (state % 3 == 0 and " " or "") .. literal .. (state % 4 == 0 and "\n" or "")
      expected[i] = tonumber(literal)
    end
    local text = "[" .. table.concat(parts, ",") .. "]"
    assert.same(expected, decode(text))
    assert.same({ a = expected, b = 0, c = -1 }, decode('{"a":' .. text .. ',"b":0,"c":-1}'))
    if math.type then assert.equal("integer", math.type(decode("[7]")[1])) end
  end)

  it("rejects what cJSON alone would accept", function()
    for _, bad in ipairs({ "[01]", "[2.]", "[-2.]", "[.e1]", '["\t"]', '["\n"]', '["\\u00G0"]',
      "[1]\f", "[1] x", "\239\187\191[]", "[1,]", '{"a":1,}', "", " ", "[\"\\x\"]", "[NaN]", "[+1]" }) do
      local v, err = decode(bad)
      assert.is_nil(v, "accepted " .. string.format("%q", bad))
      assert.matches("^invalid JSON at byte %d+: ", err)
    end
  end)

  it("rejects invalid UTF-8 and lone surrogates", function()
    for _, bad in ipairs({ '"\192\175"', '"\237\160\128"', '"\244\144\128\128"', '"\255"', '"\\udc00"', '"\\ud800x"' }) do
      assert.is_nil(decode(bad), string.format("%q", bad))
    end
  end)

  it("names the byte and the problem", function()
    local _, err = decode('{"a": tru}')
    assert.equal("invalid JSON at byte 7: unexpected character 't'", err)
    local _, err2 = decode("[1, 2")
    assert.equal("invalid JSON at byte 6: unterminated array", err2)
    -- a bad surrogate is reported where its escape begins
    assert.equal("invalid JSON at byte 3: high surrogate not followed by a low surrogate", select(2, decode('["\\ud800"]')))
    assert.equal("invalid JSON at byte 3: high surrogate not followed by a low surrogate", select(2, decode('["\\ud800\\u0041"]')))
    assert.equal("invalid JSON at byte 3: lone low surrogate in \\u escape", select(2, decode('["\\udc00"]')))
  end)

  it("limits nesting (default 1000, settable lower)", function()
    local deep = string.rep("[", 1000) .. string.rep("]", 1000)
    assert.truthy(decode(deep))
    local _, err = decode("[" .. deep .. "]")
    assert.matches("nesting", err)
    assert.is_nil(decode("[[[1]]]", 2))
    assert.truthy(decode("[[[1]]]", 3))
    local _, err2 = decode(string.rep("[", 100000))
    assert.matches("nesting", err2)
    assert.has_error(function() decode("[]", 0) end)
    assert.has_error(function() decode("[]", 1001) end)
  end)

  it("raises only for a non-string argument", function()
    assert.has_error(function() decode({}) end)
    assert.has_error(function() decode() end)
  end)

  -- The scan checks string bytes eight at a time and jumps to the first one that
  -- needs a closer look; the end of the text is found by the Lua string's NUL.
  it("finds the first byte a string must not hold as it is, wherever it falls", function()
    local fill = "abcdefghijklmnopqrstuvwxyz0123456789"
    for len = 0, 26 do
      for at = 0, len do
        local before, after = fill:sub(1, at), fill:sub(at + 1, len)
        for _, ok in ipairs({ "\195\169", "\226\130\172", "\240\159\142\168", "\\\"", "\\u00e9" }) do
          local want = before .. (ok:sub(1, 1) == "\\" and (ok == "\\\"" and "\"" or "\195\169") or ok) .. after
          assert.equal(want, decode('"' .. before .. ok .. after .. '"'))
          assert.same({ k = want }, decode('{"k":"' .. before .. ok .. after .. '"}'))
        end
        -- the first bad byte is named even when more follow it
        for _, bad in ipairs({ { "\1", "control character" }, { "\0", "control character" },
            { "\255", "invalid UTF-8" }, { "\195(", "invalid UTF-8" }, { "\\x", "invalid escape" } }) do
          local _, err = decode('"' .. before .. bad[1] .. after .. "\1\255" .. '"')
          assert.equal("invalid JSON at byte " .. (at + 2) .. ": " .. bad[2], err:sub(1, #("invalid JSON at byte " .. (at + 2) .. ": " .. bad[2])))
        end
        -- cut short: the string never ends
        local _, err = decode('"' .. before .. after)
        assert.equal("invalid JSON at byte " .. (len + 2) .. ": unterminated string", err)
        local _, err2 = decode('"' .. before .. after .. "\\")
        assert.equal("invalid JSON at byte " .. (len + 2) .. ": unterminated escape", err2)
        local _, err3 = decode('"' .. before .. after .. "\\u12")
        assert.equal("invalid JSON at byte " .. (len + 2) .. ": bad \\u escape (four hex digits expected)", err3)
        local _, err4 = decode('"' .. before .. after .. "\226\130")
        assert.equal("invalid JSON at byte " .. (len + 2) .. ": invalid UTF-8 in string", err4)
      end
    end
  end)

  it("stops at the end of the text in every token", function()
    for _, cut in ipairs({ { "[tru", 2, "unexpected character 't'" }, { "[1.", 4, "digit expected after decimal point" },
        { "[1e", 4, "digit expected in exponent" }, { "[-", 3, "digit expected in number" },
        { '{"a"', 5, "':' expected after object key" }, { '{"a":', 6, "value expected" },
        { "[1,", 4, "value expected" }, { "[\0]", 2, "unexpected character" } }) do
      local _, err = decode(cut[1])
      assert.equal("invalid JSON at byte " .. cut[2] .. ": " .. cut[3], err, string.format("%q", cut[1]))
    end
  end)
end)

describe("json_decode of long documents", function()
  -- A container over 16 KB of text is walked by the decoder, which hands its
  -- elements to cJSON one at a time: nothing may differ from a one-piece parse.
  local long_number = "1." .. string.rep("0", 70) .. "5"

  local function item(i)
    local text = string.format('{\n\t"id": "img_%05d", "n": %d, "big": 9007199254740993, "f": 0.25, "long": %s,\n'
      .. '  "s": "a\\u0000b\\n\\u00e9\\ud834\\udd1e", "k\\u0000": 1, "dup": 1, "dup": %d,\r\n'
      .. '  "list": [1, "x", null, true, false, {}, []] }', i, i, long_number, i)
    local value = { id = string.format("img_%05d", i), n = i, big = 9007199254740993, f = 0.25,
      long = tonumber(long_number), s = "a\0b\n\195\169\240\157\132\158", ["k\0"] = 1, dup = i,
      list = { 1, "x", json.null, true, false, {}, {} } }
    return text, value
  end

  local function document(n, inner)
    local texts, values = {}, {}
    for i = 1, n do texts[i], values[i] = item(i) end
    local inner_values = {}
    for i = 1, inner do inner_values[i] = values[i] end
    local long_string = string.rep("x", 20000)
    local long_key = string.rep("k\\u00e9", 50)
    local text = '{ "object" : "list",\n "k\\u0000ey": 1, "dup": 0, "' .. long_key .. '": 2,\n "data": [\n'
      .. table.concat(texts, ",\n") .. '\n],\n "scalars": [ "a\\u0000", -12, ' .. long_number
      .. ', 1e3, true, false, null, "' .. long_string .. '" ],\n "nested": { "inner": ['
      .. table.concat(texts, ",", 1, inner) .. '] },\n "long": ' .. long_number .. ' , "empty": [], "dup": 2 }'
    local value = { object = "list", ["k\0ey"] = 1, dup = 2, [string.rep("k\195\169", 50)] = 2, data = values,
      scalars = { "a\0", -12, tonumber(long_number), 1000, true, false, json.null, long_string },
      nested = { inner = inner_values }, long = tonumber(long_number), empty = {} }
    return text, value
  end

  it("decodes nested long containers exactly as their parts", function()
    local text, expected = document(300, 100)
    assert.is_true(#text > 4 * 16384)
    local v = assert(decode(text))
    assert.same(expected, v)
    -- each walked element matches its own (short, one-piece) decode
    for i = 1, 300 do
      assert.same(decode((item(i))), v.data[i])
    end
    assert.equal(core.json_object_mt, getmetatable(v))
    assert.is_true(json.is_array(v.data))
    assert.is_true(json.is_array(v.scalars))
    assert.is_true(json.is_array(v.empty))
    assert.equal(core.json_object_mt, getmetatable(v.nested))
    assert.equal(core.json_object_mt, getmetatable(v.data[300]))
    assert.is_true(json.is_array(v.data[300].list[7]))
    assert.equal(core.json_object_mt, getmetatable(v.data[300].list[6]))
    if math.type then
      assert.equal("integer", math.type(v.data[1].big))
      assert.equal("integer", math.type(v.scalars[2]))
      assert.equal("float", math.type(v.scalars[4]))
    end
  end)

  it("decodes a long array of scalars", function()
    local parts, expected = {}, {}
    for i = 1, 5000 do
      parts[i] = (i % 3 == 0) and ('"s' .. i .. '\\u0000"') or tostring(i * 7)
      expected[i] = (i % 3 == 0) and ("s" .. i .. "\0") or i * 7
    end
    local v = assert(decode(" [ " .. table.concat(parts, " , ") .. " ] "))
    assert.same(expected, v)
  end)

  it("decodes the same document twice in a row (buffers reused)", function()
    local text, expected = document(100, 80)
    assert.same(expected, decode(text))
    assert.is_nil(decode(text:sub(1, -3)))
    assert.same(expected, decode(text))
  end)
end)

describe("json_decode of arrays of objects", function()
  -- An object's member names are reused from the previous object of its array
  -- when the bytes at the same position match: nothing may differ from fresh names.
  local names = { "a", "ab", "abc", "b", "k\\u0000", "k", "\\u00e9t\\u00e9", "\195\169t\195\169", "id", "" }
  local decoded = { a = "a", ab = "ab", abc = "abc", b = "b", ["k\\u0000"] = "k\0", k = "k",
    ["\\u00e9t\\u00e9"] = "\195\169t\195\169", ["\195\169t\195\169"] = "\195\169t\195\169", id = "id", [""] = "" }
  for i = 1, 60 do names[#names + 1] = "f" .. i end

  local function objects(count, seed)
    local texts, values, state = {}, {}, seed
    for i = 1, count do
      state = (state * 1103515245 + 12345) % 2147483648
      local members, value = {}, {}
      local width = 1 + state % 70 -- past the 48 positions remembered
      for j = 1, width do
        -- mostly the same name at the same position, sometimes another
        local pick = (math.floor(state / 2 ^ (j % 16)) % 7 == 0) and (1 + (state + j) % #names) or (1 + j % #names)
        local name = names[pick]
        members[#members + 1] = string.format('"%s": %d', name, i * 100 + j)
        value[decoded[name] or name] = i * 100 + j -- a repeated name: the last one wins
      end
      texts[i], values[i] = "{" .. table.concat(members, ", ") .. "}", value
    end
    return "[" .. table.concat(texts, ",\n") .. "]", values
  end

  it("gives every object its own names, in one piece and walked", function()
    for _, count in ipairs({ 4, 30, 400 }) do -- 400 objects: over 16 KB, walked element by element
      local text, expected = objects(count, count)
      assert.same(expected, assert(decode(text)))
      local wrapped = assert(decode('{"data": ' .. text .. ', "more": [' .. text .. "]}"))
      assert.same(expected, wrapped.data)
      assert.same(expected, wrapped.more[1])
    end
  end)

  it("tells a name from the same name cut at an escaped NUL", function()
    local v = assert(decode('[{"k": 1, "a": 1}, {"k\\u0000": 2, "a": 2}, {"k": 3, "a\\u0000b": 3}, {"k": 4, "a": 4}]'))
    assert.same({ { k = 1, a = 1 }, { ["k\0"] = 2, a = 2 }, { k = 3, ["a\0b"] = 3 }, { k = 4, a = 4 } }, v)
    -- a name holding NUL is never remembered, so the plain one after it is not taken for it
    v = assert(decode('[{"k\\u0000": 1}, {"k": 2}, {"k": 3}, {"k": 4}]'))
    assert.same({ { ["k\0"] = 1 }, { k = 2 }, { k = 3 }, { k = 4 } }, v)
  end)

  it("decodes arrays of objects nested deeper than the names are remembered", function()
    local text, expected = '{"x": 1, "y": 2}', { x = 1, y = 2 }
    for depth = 1, 12 do
      text = "[" .. text .. ", " .. text .. ', {"x": ' .. depth .. "}, " .. text .. "]"
      expected = { expected, expected, { x = depth }, expected }
    end
    assert.same(expected, assert(decode(text)))
  end)
end)

describe("json_decode run by a finalizer during another decode", function()
  -- An allocation of a decode may run __gc handlers, which may decode JSON
  -- themselves: the inner decode must not touch the outer one's buffers. Run in
  -- a fresh interpreter (the collector's pace there does not depend on what the
  -- other specs left on the heap), with an eager collector so that collections,
  -- and the finalizers they queue, happen inside the outer decodes.
  local SCRIPT = [==[
local decode = require("aurous.core").json_decode
local newproxy = rawget(_G, "newproxy") -- 5.1 / LuaJIT: tables have no __gc there
if _VERSION == "Lua 5.4" then collectgarbage("generational", 1, 100) else collectgarbage("setpause", 100) end
local N, parts = 5000, {}
for i = 1, N do
  parts[i] = string.format('{"id":"img_%05d","n":%d,"tags":["a","b","c"],"s":"%s"}', i, i, string.rep("x", 20))
end
local text = "[" .. table.concat(parts, ",") .. "]"
local nums = {}
for i = 1, 60 do nums[i] = tostring(i * 11) end
local inner_text = '{"a":[1,2,3],"b":"' .. string.rep("y", 50) .. '","c":{"d":[' .. table.concat(nums, ",") .. ']}}'
local during, inner_bad, outer, corrupted = 0, 0, false, 0
local function handler()
  if outer then during = during + 1 end
  local v = decode(inner_text)
  if not (v and v.a[3] == 3 and #v.b == 50 and v.c.d[60] == 660) then inner_bad = inner_bad + 1 end
end
for _ = 1, 5 do
  for _ = 1, 3000 do
    if newproxy then
      local p = newproxy(true)
      getmetatable(p).__gc = handler
    else
      setmetatable({}, { __gc = handler })
    end
  end
  outer = true
  local ok, v = pcall(decode, text)
  outer = false
  for i = 1, N do
    local item = ok and v and v[i]
    if not (item and item.id == string.format("img_%05d", i) and item.n == i and item.s == string.rep("x", 20)
        and #item.tags == 3 and item.tags[3] == "c" and (not math.type or math.type(item.n) == "integer")) then
      corrupted = corrupted + 1
    end
  end
end
collectgarbage()
print(string.format("during %d inner_bad %d corrupted %d", during, inner_bad, corrupted))
]==]

  it("leaves both decodes intact", function()
    local out = child.run(SCRIPT)
    local during, inner_bad, corrupted = out:match("during (%d+) inner_bad (%d+) corrupted (%d+)")
    assert(during, "the child interpreter failed: " .. out)
    assert.is_true(tonumber(during) > 0, "no finalizer ran during a decode: the spec tested nothing")
    assert.equal(0, tonumber(inner_bad))
    assert.equal(0, tonumber(corrupted))
  end)
end)
