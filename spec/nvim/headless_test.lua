-- Headless Neovim test (run by scripts/test-extra.d/neovim through
-- `nvim --headless -u NONE -c "luafile spec/nvim/headless_test.lua"` under the mock):
--  1. a generation runs as an aurous task driven by aurous.step() from a libuv timer,
--     its result delivered with vim.schedule, while a fast timer proves that the
--     editor loop kept ticking (many ticks, no long gap);
--  2. the example plugin's :AurousGenerate does the same from a user command.
-- Quits with status 0 when everything passed, 1 otherwise.
local uv = vim.uv or vim.loop

local ROOT = os.getenv("AUROUS_ROOT") or vim.fn.getcwd()
local CORE_DIR = os.getenv("AUROUS_CORE_DIR") or (ROOT .. "/build/luajit")
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = CORE_DIR .. "/?.so;" .. package.cpath

local MAX_GAP_MS = tonumber(os.getenv("AUROUS_NVIM_MAX_GAP_MS") or "") or 250
local failures, checks = 0, 0

local function out(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

local function check(cond, what)
  checks = checks + 1
  if cond then out("ok     " .. what) else failures = failures + 1 out("FAILED " .. what) end
end

-- A fast timer that counts ticks and records the longest gap between two of them.
local function ticker(period_ms)
  local t = { ticks = 0, max_gap = 0, timer = uv.new_timer() }
  local last = uv.hrtime()
  t.timer:start(period_ms, period_ms, function()
    local now = uv.hrtime()
    local gap = (now - last) / 1e6
    if gap > t.max_gap then t.max_gap = gap end
    last = now
    t.ticks = t.ticks + 1
  end)
  function t:stop() self.timer:stop() self.timer:close() end
  return t
end

local function test_step_from_timer()
  local aurous = require("aurous")
  local client = aurous.new{} -- AUROUS_API_KEY / AUROUS_BASE_URL from the environment
  local result
  local path = os.tmpname()
  os.remove(path) -- os.tmpname creates the file
  path = path .. ".png"
  local gen_task = aurous.spawn(function()
    local gen = assert(client.images:create{ prompt = "a red fox, from neovim", size = "2k_1_1" })
    gen = assert(client.images:wait(gen.id, { interval = 0.1 }))
    local saved = assert(client.images:download(gen, { index = 1, path = path }))
    return gen.status, saved.bytes
  end)
  local tick = ticker(5)
  local driver = uv.new_timer()
  local steps = 0
  local started = uv.hrtime()
  driver:start(0, 10, function()
    steps = steps + 1
    local ok, pending = pcall(aurous.step)
    if not ok or pending == 0 then
      driver:stop()
      driver:close()
      -- deliver the result on the main loop, as a plugin would
      local status, bytes = gen_task:result()
      vim.schedule(function()
        result = { ok = ok, step_err = not ok and pending or nil, status = status, err = status == nil and bytes or nil }
      end)
    end
  end)
  local finished = vim.wait(30000, function() return result ~= nil end, 10)
  local elapsed = (uv.hrtime() - started) / 1e6
  tick:stop()
  check(finished, "the generation finished within 30 s (" .. math.floor(elapsed) .. " ms)")
  check(result and result.ok, "aurous.step() never raised" .. (result and result.step_err and (": " .. tostring(result.step_err)) or ""))
  check(result and result.status == "succeeded", "the task's generation succeeded" .. (result and result.err and (": " .. tostring(result.err)) or ""))
  local f = io.open(path, "rb")
  local size = f and #f:read("*a") or 0
  if f then f:close() end
  os.remove(path)
  check(size > 0, "the image was downloaded (" .. size .. " bytes)")
  check(steps > 5, "the driver timer stepped " .. steps .. " times")
  check(tick.ticks > elapsed / 5 / 4, string.format("the editor loop kept ticking: %d ticks in %d ms", tick.ticks, elapsed))
  check(tick.max_gap < MAX_GAP_MS, string.format("no long stall: longest gap between ticks %.1f ms (limit %d)", tick.max_gap, MAX_GAP_MS))
end

local function test_plugin_command()
  vim.opt.runtimepath:append(ROOT .. "/examples/nvim")
  local messages = {}
  vim.notify = function(msg, level) messages[#messages + 1] = { msg = msg, level = level } end
  local dir = vim.fn.tempname()
  local done
  local plugin = require("aurous_nvim")
  plugin.setup{ dir = dir, poll_interval = 0.1, on_done = function(r) done = r end }
  local tick = ticker(5)
  local t0 = uv.hrtime()
  vim.cmd("AurousGenerate a lighthouse at dusk")
  local returned_ms = (uv.hrtime() - t0) / 1e6
  local finished = vim.wait(30000, function() return done ~= nil end, 10)
  tick:stop()
  check(returned_ms < 100, string.format(":AurousGenerate returned at once (%.1f ms)", returned_ms))
  check(finished, ":AurousGenerate finished")
  check(done and done.error == nil, "the plugin reported no error" .. (done and done.error and (": " .. done.error) or ""))
  check(done and done.path and vim.fn.filereadable(done.path) == 1, "the plugin saved the image: " .. tostring(done and done.path))
  local saw_created, saw_saved = false, false
  for _, m in ipairs(messages) do
    if m.msg:find("created", 1, true) then saw_created = true end
    if m.msg:find("saved", 1, true) then saw_saved = true end
  end
  check(saw_created and saw_saved, "progress went through vim.notify (" .. #messages .. " messages)")
  check(tick.max_gap < MAX_GAP_MS, string.format("no long stall during the command: %.1f ms", tick.max_gap))
  vim.wait(1000, function() return not plugin.busy() end, 10)
  check(not plugin.busy(), "the driver timer stopped when no task was left")
  vim.fn.delete(dir, "rf")
end

local ok, err = xpcall(function()
  test_step_from_timer()
  test_plugin_command()
end, debug.traceback)
if not ok then
  failures = failures + 1
  out("FAILED with an error: " .. tostring(err))
end
out(string.format("%d passed, %d failed", checks - (failures - (ok and 0 or 1)), failures))
if failures == 0 then vim.cmd("qall!") else vim.cmd("cquit 1") end
