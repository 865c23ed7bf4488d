--- aurous_nvim: generate images from Neovim without ever blocking the editor.
--
--   require("aurous_nvim").setup{ size = "2k_1_1", dir = "~/Pictures/aurous" }
--   :AurousGenerate a red fox in the snow
--
-- Each generation is an aurous task (create, wait, download). A libuv timer calls
-- aurous.step(), which advances every transfer and timer without blocking, and stops
-- itself when no task is left. Progress is shown with vim.notify (scheduled, since
-- the timer callback runs in libuv's fast context).
local M = {}

local uv = vim.uv or vim.loop

M.config = {
  api_key = nil,        -- default: $AUROUS_API_KEY
  base_url = nil,       -- default: $AUROUS_BASE_URL or the public API
  size = "2k_1_1",
  dir = nil,            -- where images are saved; default: the current directory
  step_ms = 20,         -- how often the timer calls aurous.step()
  poll_interval = nil,  -- seconds between status polls (default: the library's)
  on_done = nil,        -- function(result) called (scheduled) when a generation ends
}

local aurous, client, timer

local function notify(msg, level)
  vim.schedule(function()
    vim.notify("aurous: " .. msg, level or vim.log.levels.INFO, { title = "aurous" })
  end)
end

local function get_client()
  if client then return client end
  aurous = aurous or require("aurous")
  client = aurous.new{ api_key = M.config.api_key, base_url = M.config.base_url }
  return client
end

-- Starts the driver timer if it is not running.
local function drive()
  if timer then return end
  timer = uv.new_timer()
  timer:start(0, M.config.step_ms, function()
    local ok, pending = pcall(aurous.step)
    if not ok then notify("internal error: " .. tostring(pending), vim.log.levels.ERROR) end
    if not ok or pending == 0 then
      if timer then
        timer:stop()
        timer:close()
        timer = nil
      end
    end
  end)
end

--- Whether the driver timer is running (tasks are in flight).
function M.busy()
  return timer ~= nil
end

--- Starts a generation for `prompt`: create, wait, download. Returns at once (the task).
function M.generate(prompt, opts)
  opts = opts or {}
  local ok, c = pcall(get_client)
  if not ok then
    notify(tostring(c), vim.log.levels.ERROR)
    return nil
  end
  local dir = vim.fn.expand(opts.dir or M.config.dir or vim.fn.getcwd())
  local done = opts.on_done or M.config.on_done
  vim.fn.mkdir(dir, "p") -- here, not in the task: the task runs in libuv's fast context
  local task = aurous.spawn(function()
    local result = { prompt = prompt }
    local function finish(err)
      result.error = err and tostring(err) or nil
      if err then notify(result.error, vim.log.levels.ERROR) end
      if done then vim.schedule(function() done(result) end) end
    end
    local gen, err = c.images:create{ prompt = prompt, size = opts.size or M.config.size }
    if not gen then return finish(err) end
    result.id = gen.id
    notify(string.format("%s created (%s)", gen.id, gen.status))
    local last = gen.status
    gen, err = c.images:wait(gen.id, { interval = M.config.poll_interval, on_progress = function(g)
      if g.status ~= last then
        last = g.status
        notify(string.format("%s is %s", g.id, g.status))
      end
    end })
    if not gen then return finish(err) end
    result.status = gen.status
    if gen.status ~= "succeeded" then
      return finish(string.format("%s ended as %s", gen.id, gen.status))
    end
    local path = dir .. "/" .. gen.id .. ".png"
    local saved, derr = c.images:download(gen, { index = 1, path = path })
    if not saved then return finish(derr) end
    result.path, result.bytes = saved.path, saved.bytes
    notify(string.format("saved %s (%d bytes)", saved.path, saved.bytes or 0))
    return finish(nil)
  end)
  drive()
  return task
end

--- Configures the plugin and defines :AurousGenerate {prompt}.
function M.setup(opts)
  M.config = vim.tbl_extend("force", M.config, opts or {})
  client = nil
  vim.api.nvim_create_user_command("AurousGenerate", function(cmd)
    M.generate(cmd.args)
  end, { nargs = "+", desc = "Generate an image with Aurous (never blocks)" })
end

return M
