-- bench/concurrency.lua: N requests as parallel aurous tasks vs the same N
-- requests one after another, against the mock with every response delayed
-- (fault slow_headers) — the speedup the coroutine engine buys.
--
--   lua bench/concurrency.lua    (env: AUROUS_BENCH_CONC_N=50, AUROUS_BENCH_CONC_DELAY=0.2)
package.path = "bench/lib/?.lua;" .. package.path
local B = require("bench")
local mock = require("helpers.mock")
local aurous = require("aurous")
local core = require("aurous.core")

local N = tonumber(os.getenv("AUROUS_BENCH_CONC_N") or "") or 50
local DELAY = tonumber(os.getenv("AUROUS_BENCH_CONC_DELAY") or "") or 0.2
local rows = B.rows("concurrency")
print(string.format("== B. concurrency: %d x GET /v1/balance, each answered after %.2f s (mock, slow_headers)", N, DELAY))

local m = mock.start{ latency = 1, spawn = true }
local ok, err = pcall(function()
  local client = aurous.new{ api_key = m.api_key, base_url = m.url, max_retries = 0 }
  assert(client.account:balance()) -- warm: connection, DNS

  m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = DELAY, times = N }
  local t0 = core.now()
  local tasks = {}
  for i = 1, N do tasks[i] = aurous.spawn(function() return assert(client.account:balance()) end) end
  assert(aurous.run())
  local par = core.now() - t0
  for i = 1, N do assert(tasks[i]:result(), "task failed") end

  m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = DELAY, times = N }
  t0 = core.now()
  for _ = 1, N do assert(client.account:balance()) end
  local seq = core.now() - t0

  rows:add("concurrency", string.format("%d requests in parallel tasks: wall", N), string.format("%.3f s", par),
    string.format("ideal %.2f s", DELAY))
  rows:add("concurrency", string.format("%d requests one after another: wall", N), string.format("%.3f s", seq),
    string.format("ideal %.2f s", N * DELAY))
  local speedup = seq / par
  rows:add("concurrency", "speedup: sequential / parallel", B.ratio(speedup),
    string.format("ideal %dx", N))
  rows:add("concurrency", "parallel efficiency: speedup / N", string.format("%.0f%%", speedup / N * 100))
end)
m:stop()
rows:save()
if not ok then error(err, 0) end
