-- bench/requests/run.lua: sequential requests against nginx serving canned API
-- responses; aurous-lua vs a C floor and vs the usual Lua ways.
--
-- Every contender runs in its own process, in rounds, the order rotated each
-- round; a ratio is taken within a round (same minute, same machine state) and
-- the median over rounds is reported. nginx and the contenders run on one CPU
-- (B.pin: the wakeup of another CPU made most of the noise; AUROUS_BENCH_PIN=0
-- lets the scheduler place them). 21 rounds: with 7, the median of the same two
-- builds moved by ±0.04 from run to run, more than the last changes showed (the
-- requests part then takes about 4 minutes).
--
--   lua bench/requests/run.lua      (env: AUROUS_BENCH_ROUNDS=21, AUROUS_BENCH_N=2000)
package.path = "bench/lib/?.lua;bench/?.lua;" .. package.path
local B = require("bench")
local F = require("fixtures")
local server = require("requests.server")

local ROUNDS = tonumber(os.getenv("AUROUS_BENCH_ROUNDS") or "") or 21
local N = tonumber(os.getenv("AUROUS_BENCH_N") or "") or 2000
local N_POPEN = math.max(20, math.floor(N / 10)) -- one process per request: ~100x slower
local WARMUP = 200
local root = B.root()
local lua = B.interpreter()
local rows = B.rows("requests")

local PIN = B.pin()
print(string.format("== A. requests: sequential, nginx static responses, %d rounds, N=%d (curl per request: N=%d)%s",
  ROUNDS, N, N_POPEN, PIN ~= "" and (", nginx and contenders on one CPU (" .. PIN:gsub("%s+$", "") .. ")") or ""))

local ngx, floor_bin = server.start(B, F, PIN)

local ok, err = pcall(function()
  local contender = B.shq(root .. "/bench/requests/contender.lua")
  local function lua_cmd(kind, workload, n)
    return string.format("%s %s %s %s %s %d %d", lua, contender, kind, workload, ngx.url, n, math.min(WARMUP, n))
  end
  local contenders = {
    { key = "floor", label = "C floor (libcurl easy + cJSON)", n = N,
      cmd = function(w)
        return server.floor_cmd(B, F, floor_bin, ngx.url .. server.PATHS[w], N, WARMUP)
      end },
    { key = "aurous", label = "aurous-lua (" .. _VERSION .. ")", n = N, cmd = function(w) return lua_cmd("aurous", w, N) end },
    { key = "socket_dkjson", label = "LuaSocket + dkjson", n = N, cmd = function(w) return lua_cmd("socket_dkjson", w, N) end },
    { key = "socket_cjson", label = "LuaSocket + lua-cjson", n = N, cmd = function(w) return lua_cmd("socket_cjson", w, N) end },
    { key = "curl_popen", label = "curl process per request + lua-cjson", n = N_POPEN,
      cmd = function(w) return lua_cmd("curl_popen", w, N_POPEN) end },
  }
  -- aurous on LuaJIT too, when its core is built with the JSON codec
  local jit_core = root .. "/build/luajit/aurous/core.so"
  if B.read_file(jit_core) then
    local probe = B.capture(string.format("LUA_CPATH=%s luajit -e 'print(require(\"aurous.core\").json_decode ~= nil)' 2>&1",
      B.shq(root .. "/build/luajit/?.so;;")))
    if probe:match("true") then
      table.insert(contenders, 3, { key = "aurous_jit", label = "aurous-lua (LuaJIT)", n = N, cmd = function(w)
        return string.format("env LUA_CPATH=%s luajit %s aurous %s %s %d %d", B.shq(root .. "/build/luajit/?.so;;"),
          contender, w, ngx.url, N, WARMUP)
      end })
    end
  end

  for _, workload in ipairs({ "balance", "list" }) do
    local rates, cpu = {}, {}
    for _, c in ipairs(contenders) do rates[c.key], cpu[c.key] = {}, {} end
    for round = 1, ROUNDS do
      for i = 0, #contenders - 1 do
        local c = contenders[(i + round - 1) % #contenders + 1]
        local o, good = B.capture(PIN .. c.cmd(workload) .. " 2>&1")
        local secs, cpus, checked = o:match("seconds ([%d.]+) cpu ([%d.]+) checked (%d+)")
        if not good or not secs or tonumber(checked) ~= c.n then
          error(c.label .. " failed: " .. o)
        end
        rates[c.key][round] = c.n / tonumber(secs)
        cpu[c.key][round] = tonumber(cpus) / c.n
      end
    end
    local function ratios(a, b) -- per round a/b, median
      local t = {}
      for r = 1, ROUNDS do t[r] = rates[a][r] / rates[b][r] end
      return B.median(t)
    end
    local what = workload == "list" and "GET /v1/images (20 items, 19 KB)" or "GET /v1/balance (150 B)"
    print("-- " .. what)
    local function row(_, _, metric, ...) return rows:add(workload, "[" .. workload .. "] " .. metric, ...) end
    local tagged = { add = row } -- rows of this workload, metric prefixed
    for _, c in ipairs(contenders) do
      tagged:add(workload, "req/s " .. c.label, string.format("%.0f", B.median(rates[c.key])),
        string.format("CPU %.0f us/req", B.median(cpu[c.key]) * 1e6))
    end
    local slow = 1 / ratios("aurous", "floor")
    tagged:add(workload, "time per request: aurous / C floor", B.ratio(slow), "<= 1.15x", slow <= 1.15)
    local cpu_r = {}
    for r = 1, ROUNDS do cpu_r[r] = cpu.aurous[r] / cpu.floor[r] end
    tagged:add(workload, "CPU per request: aurous / C floor", B.ratio(B.median(cpu_r)))
    if rates.aurous_jit then
      local sj = 1 / ratios("aurous_jit", "floor")
      tagged:add(workload, "time per request: aurous (LuaJIT) / C floor", B.ratio(sj), "<= 1.15x", sj <= 1.15)
    end
    local r1 = ratios("aurous", "socket_dkjson")
    tagged:add(workload, "req/s: aurous / LuaSocket+dkjson", B.ratio(r1), ">= 3x", r1 >= 3)
    local r2 = ratios("aurous", "socket_cjson")
    tagged:add(workload, "req/s: aurous / LuaSocket+lua-cjson", B.ratio(r2), "> 1x", r2 > 1)
    local r3 = ratios("aurous", "curl_popen")
    tagged:add(workload, "req/s: aurous / curl per request", B.ratio(r3), ">= 10x", r3 >= 10)
  end
  rows:note("LuaSocket's http.request opens a connection per request (it sends Connection: close): no keep-alive is possible with it")
  rows:note(PIN ~= "" and ("nginx and every contender ran on one CPU (" .. PIN:gsub("%s+$", "") .. ")")
    or "processes not pinned to a CPU (taskset missing or AUROUS_BENCH_PIN=0): expect more noise")
end)
ngx.stop()
rows:save()
if not ok then error(err, 0) end
