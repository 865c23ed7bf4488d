-- bench/memory.lua: peak RSS while iterating 100,000 items through
-- client.images:each and while downloading a 200 MB output, against nginx.
--
-- Each scenario runs in a fresh child interpreter, which reports its VmHWM
-- (peak RSS) right after `require "aurous"` + `aurous.new` (the baseline) and
-- at the end. Flat memory = the peak does not grow with the amount of work:
-- the same scenario at 1/10 of the size runs beside it and the peaks are compared.
--
--   lua bench/memory.lua
package.path = "bench/lib/?.lua;" .. package.path
local B = require("bench")
local F = require("fixtures")

local function child(mode, base, amount, outdir)
  local aurous = require("aurous")
  local client = aurous.new{ api_key = F.API_KEY, base_url = base }
  collectgarbage()
  local baseline = B.proc_status().hwm
  local done = 0
  if mode == "each" then
    -- nginx answers every page with has_more=true and the same next_cursor:
    -- the pager would loop forever; stop after `amount` items
    for g in client.images:each{ limit = 100 } do
      assert(g.object == "generation")
      done = done + 1
      if done >= amount then break end
    end
  else
    local path = outdir .. "/out-" .. mode .. ".bin"
    local r = assert(client.images:download(mode, { path = path }))
    done = r.bytes
    os.remove(path)
  end
  local st = B.proc_status()
  io.write(string.format("baseline %d peak %d rss %d done %d lua_kb %d\n", baseline, st.hwm, st.rss, done,
    math.floor(collectgarbage("count"))))
end

if arg[1] == "child" then
  child(arg[2], arg[3], tonumber(arg[4]), arg[5])
  os.exit(0)
end

local MB = 1024 * 1024
local rows = B.rows("memory")
print("== D. memory: peak RSS (VmHWM) of a child interpreter, nginx serving pages and media")
local ngx = B.nginx({ ["list100.json"] = F.page(100, true) }, [[
    location = /v1/images { alias %ROOT%/www/list100.json; }
    location = /v1/images/img_big/output/0 { return 302 /media/big.bin; }
    location = /v1/images/img_small/output/0 { return 302 /media/small.bin; }
    location /media/ { alias %ROOT%/media/; default_type image/png; }
]])
local ok, err = pcall(function()
  os.execute(string.format("mkdir -p %s/media && truncate -s %d %s/media/big.bin && truncate -s %d %s/media/small.bin",
    ngx.dir, 200 * MB, ngx.dir, 20 * MB, ngx.dir))
  local self_path = B.shq(B.root() .. "/bench/memory.lua")
  local function run(mode, amount)
    local out, good = B.capture(string.format("%s %s child %s %s %d %s 2>&1", B.interpreter(), self_path, mode,
      ngx.url, amount, B.shq(ngx.dir)))
    local base, peak, rss, done = out:match("baseline (%d+) peak (%d+) rss (%d+) done (%d+)")
    assert(good and base, "memory child failed: " .. out)
    return { base = tonumber(base), peak = tonumber(peak), rss = tonumber(rss), done = tonumber(done) }
  end
  local function mb(kb) return string.format("%.1f MB", kb / 1024) end

  local small, big = run("each", 10000), run("each", 100000)
  assert(big.done == 100000, "each stopped early")
  rows:add("memory", "images:each 100,000 items (1000 pages x 100): peak RSS", mb(big.peak),
    "baseline " .. mb(big.base))
  rows:add("memory", "images:each 10,000 items: peak RSS", mb(small.peak), "baseline " .. mb(small.base))
  local g1 = (big.peak - big.base) / math.max(1024, small.peak - small.base)
  rows:add("memory", "images:each growth over baseline: 100k / 10k items", B.ratio(g1), "flat (<= 1.5x)", g1 <= 1.5)
  rows:add("memory", "images:each peak / baseline (100k items)", B.ratio(big.peak / big.base))

  local dsmall, dbig = run("img_small", 0), run("img_big", 0)
  assert(dbig.done == 200 * MB, "download size " .. tostring(dbig.done))
  rows:add("memory", "images:download 200 MB to a file: peak RSS", mb(dbig.peak), "baseline " .. mb(dbig.base))
  rows:add("memory", "images:download 20 MB to a file: peak RSS", mb(dsmall.peak), "baseline " .. mb(dsmall.base))
  local g2 = (dbig.peak - dbig.base) / math.max(1024, dsmall.peak - dsmall.base)
  rows:add("memory", "download growth over baseline: 200 MB / 20 MB", B.ratio(g2), "flat (<= 1.5x)", g2 <= 1.5)
  rows:add("memory", "download peak / baseline (200 MB)", B.ratio(dbig.peak / dbig.base))
  rows:note(string.format("growth = peak - baseline; each: %s (100k) vs %s (10k); download: %s (200 MB) vs %s (20 MB); "
    .. "a growth under 1 MB is counted as 1 MB", mb(big.peak - big.base), mb(small.peak - small.base),
    mb(dbig.peak - dbig.base), mb(dsmall.peak - dsmall.base)))
end)
ngx.stop()
rows:save()
if not ok then error(err, 0) end
