-- bench/decode_loop.lua: decodes the 20-item list page N times with one library
-- (run under callgrind by bench/instructions.lua).
--
--   lua bench/decode_loop.lua aurous|cjson N
package.path = "bench/lib/?.lua;" .. package.path
local F = require("fixtures")
local lib, n = arg[1], tonumber(arg[2])
assert((lib == "aurous" or lib == "cjson") and n, "usage: decode_loop.lua aurous|cjson N")
local decode = lib == "cjson" and require("cjson").decode or require("aurous.core").json_decode
local text = F.page(20, true)
for _ = 1, n do
  local value = decode(text)
  assert(#value.data == 20)
end
