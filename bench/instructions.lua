-- bench/instructions.lua: instructions executed per request and per decode,
-- counted by valgrind's callgrind (user space, deterministic: the same code gives
-- the same count on a busy or an idle machine, unlike the timings of the other
-- benches). Use it to measure a change before and after.
--
-- Each figure is marginal: the count of a run with 2N operations minus that of
-- a run with N, divided by N, so start-up and the first connection cancel out.
--
--   lua bench/instructions.lua   (env: AUROUS_BENCH_INSN_N=200)
package.path = "bench/lib/?.lua;bench/?.lua;" .. package.path
local B = require("bench")
local F = require("fixtures")
local server = require("requests.server")

local N = tonumber(os.getenv("AUROUS_BENCH_INSN_N") or "") or 200
local root = B.root()
local lua = B.interpreter()
local rows = B.rows("instructions")
print(string.format("== F. instructions per operation (callgrind; marginal over %d operations)", N))

if not B.capture("command -v valgrind"):match("%S") then
  error("valgrind is not installed (make deps-test installs it)")
end

-- Instructions executed by `cmd` (a shell command) under callgrind.
local function count(cmd)
  local out, ok = B.capture("valgrind --tool=callgrind --callgrind-out-file=/dev/null " .. cmd .. " 2>&1")
  local n = out:match("Collected%s*:%s*(%d+)")
  if not ok or not n then error("callgrind run failed: " .. cmd .. "\n" .. out) end
  return tonumber(n)
end

local function per_op(make_cmd)
  return (count(make_cmd(2 * N)) - count(make_cmd(N))) / N
end

local function k(x) return string.format("%.0f k", x / 1000) end

local ngx, floor_bin = server.start(B, F)

local ok, err = pcall(function()
  local contender = B.shq(root .. "/bench/requests/contender.lua")
  for _, workload in ipairs({ "balance", "list" }) do
    local floor = per_op(function(n)
      return server.floor_cmd(B, F, floor_bin, ngx.url .. server.PATHS[workload], n, 0)
    end)
    local aurous = per_op(function(n)
      return string.format("%s %s aurous %s %s %d 0", lua, contender, workload, ngx.url, n)
    end)
    rows:add("instructions", string.format("[%s] per request: aurous / C floor", workload),
      B.ratio(aurous / floor), k(aurous) .. " / " .. k(floor))
  end

  local pipeline = B.shq(root .. "/bench/pipeline_loop.lua")
  local p = per_op(function(n) return string.format("%s %s %d", lua, pipeline, n) end)
  rows:add("instructions", "client pipeline per balance call, no I/O (canned reply; decode included)", k(p))

  local decode = B.shq(root .. "/bench/decode_loop.lua")
  if not pcall(require, "cjson") then error("lua-cjson is not installed") end
  local a = per_op(function(n) return string.format("%s %s aurous %d", lua, decode, n) end)
  local c = per_op(function(n) return string.format("%s %s cjson %d", lua, decode, n) end)
  rows:add("instructions", "page20 decode (18 KB): aurous / lua-cjson", B.ratio(a / c), k(a) .. " / " .. k(c))
end)
ngx.stop()
rows:save()
if not ok then error(err, 0) end
