-- bench/startup.lua: the time of `require "aurous"` in a fresh interpreter
-- (CPU time by os.clock, one new process per sample), beside the same
-- measurement for `require "socket.http"` + `require "dkjson"` (what a script
-- using the usual Lua stack loads) and for an empty chunk (the clock's floor).
-- The children run without LUA_INIT, so that nothing is loaded before the clock starts.
--
--   lua bench/startup.lua        (env: AUROUS_BENCH_STARTUP_SAMPLES=60)
package.path = "bench/lib/?.lua;" .. package.path
local B = require("bench")

local SAMPLES = tonumber(os.getenv("AUROUS_BENCH_STARTUP_SAMPLES") or "") or 60
local lua = B.interpreter()
local rows = B.rows("startup")

print(string.format("== E. start-up: require in a fresh %s, %d samples each (CPU time, os.clock)", lua, SAMPLES))


local subjects = {
  { key = "aurous", label = 'require "aurous"', code = 'require"aurous"' },
  { key = "aurous_new", label = 'require "aurous" + aurous.new{}', code = 'require"aurous".new{api_key="al_live_x0123456789"}' },
  { key = "socket", label = 'require "socket.http" + "dkjson"', code = 'require"socket.http" require"dkjson"' },
  { key = "empty", label = "nothing (clock floor)", code = "" },
}
local samples = {}
for _, s in ipairs(subjects) do samples[s.key] = {} end
for i = 1, SAMPLES do
  for _, s in ipairs(subjects) do -- interleaved, so drift hits every subject alike
    local code = "local t=os.clock() " .. s.code .. " io.write(string.format('%.9f', os.clock()-t))"
    local out, ok = B.capture(string.format("env -u LUA_INIT -u LUA_INIT_5_1 -u LUA_INIT_5_2 -u LUA_INIT_5_3 -u LUA_INIT_5_4 %s -e %s 2>&1", lua, B.shq(code)))
    local v = tonumber(out)
    assert(ok and v, s.label .. " failed: " .. out)
    samples[s.key][i] = v * 1000
  end
end
for _, s in ipairs(subjects) do
  local med, p90 = B.median(samples[s.key]), B.percentile(samples[s.key], 90)
  local target, verdict
  if s.key == "aurous" then target, verdict = "< 5 ms", p90 < 5 end
  rows:add("startup", s.label .. ": median / p90", string.format("%.2f / %.2f ms", med, p90), target, verdict)
end
local r = {}
for i = 1, SAMPLES do r[i] = samples.aurous[i] / math.max(samples.socket[i], 1e-6) end
rows:add("startup", 'require "aurous" / require LuaSocket + dkjson', B.ratio(B.median(r)))
rows:save()
