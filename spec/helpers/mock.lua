-- spec/helpers/mock.lua: start, drive and stop the local Aurous API mock
-- (spec/mock/server.py) from busted specs and examples.
--
--   local mock = require("helpers.mock")
--   local m = mock.start{ latency = 0.2 }    -- or reuses $AUROUS_MOCK_URL
--   ... m.url, m.api_key ...
--   m:fault{ path = "^/v1/images$", action = "status", status = 429, retry_after = 1 }
--   m:requests(), m:last_request(), m:counters(), m:expire(id), m:config{...}, m:reset{...}
--   m:stop()
--
-- Runs on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT. Control calls raise on failure
-- (they are test plumbing, not the code under test).

local core = require("aurous.core")

local M = {}
M.api_key = "al_live_mockkey_0123456789abcdef"
M.readonly_key = "al_live_readonly_0123456789"
M.revoked_key = "al_live_revoked_0123456789"

-- keys of the start options that are mock config (sent to /_mock/reset)
local CONFIG_KEYS = { "latency", "character_latency", "character_review", "poll_retry_after",
  "media_size", "balance" }

---------------------------------------------------------------------- JSON
-- The control routes speak JSON through the core's codec.
M.null = core.null

local function encode(v)
  local s, err = core.json_encode(v)
  if not s then error("mock: json_encode: " .. tostring(err)) end
  return s
end

local decode = core.json_decode

M.json_encode, M.json_decode = encode, decode

---------------------------------------------------------------- utilities
local sleep = core.sleep

local function shq(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function this_dir()
  local src = debug.getinfo(1, "S").source or ""
  if src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)[/\\][^/\\]*$")
    if dir then return dir end
  end
  return "spec/helpers"
end

local SERVER = this_dir() .. "/../mock/server.py"
M.server_path = SERVER
M.read_file = read_file -- the contents of a file, or nil

local function config_of(opts)
  local cfg = {}
  for _, k in ipairs(CONFIG_KEYS) do
    if opts[k] ~= nil then cfg[k] = opts[k] end
  end
  return cfg
end

local function merged(a, b)
  local out = {}
  for k, v in pairs(a or {}) do out[k] = v end
  for k, v in pairs(b or {}) do out[k] = v end
  return out
end

------------------------------------------------------------------- object
local Mock = {}
Mock.__index = Mock

function Mock:__tostring()
  return "aurous mock at " .. tostring(self.url)
end

-- One control call: returns the decoded JSON body; raises on failure.
function Mock:control(method, path, body)
  local opts = { method = method, url = self.url .. path, timeout = 15,
                 headers = { "Content-Type: application/json" } }
  if body ~= nil then opts.body = encode(body) end
  local t = core.transfer(opts)
  local resp, err = t:perform()
  if t.close then t:close() end
  if not resp then
    local msg = type(err) == "table" and (tostring(err.kind) .. ": " .. tostring(err.message)) or tostring(err)
    error("mock: " .. method .. " " .. path .. " failed: " .. msg, 2)
  end
  local val, derr = decode(resp.body or "")
  if resp.status ~= 200 then
    error("mock: " .. method .. " " .. path .. " answered " .. tostring(resp.status) .. ": " ..
      tostring(resp.body), 2)
  end
  if val == nil then error("mock: bad JSON from " .. path .. ": " .. tostring(derr), 2) end
  return val
end

-- Reset all state (requests log, faults, counters, config). cfg values
-- override the start options, which override the server's CLI defaults.
function Mock:reset(cfg)
  local r = self:control("POST", "/_mock/reset", merged(self.defaults, cfg))
  return r.config
end

function Mock:config(cfg)
  return self:control("POST", "/_mock/config", cfg or {}).config
end

function Mock:requests()
  return self:control("GET", "/_mock/requests").data
end

function Mock:clear_requests()
  self:control("DELETE", "/_mock/requests")
end

function Mock:last_request()
  local rows = self:requests()
  return rows[#rows]
end

-- spec: {method=, path=<regex>, times=1, action="status"|"reset"|"truncate"|
-- "malformed"|"html"|"slow_headers"|"slow_body"|"huge"|"execute_then_reset",
-- status=, retry_after=, type=, code=, delay=, size=}; or an array of specs.
function Mock:fault(spec)
  if spec[1] ~= nil then
    return self:control("POST", "/_mock/faults", { faults = spec }).pending
  end
  return self:control("POST", "/_mock/faults", spec).pending
end

function Mock:faults()
  return self:control("GET", "/_mock/faults").data
end

function Mock:clear_faults()
  self:control("DELETE", "/_mock/faults")
end

function Mock:counters()
  return self:control("GET", "/_mock/counters")
end

-- How many times the route template ran, e.g. m:executed("POST /v1/images").
function Mock:executed(route)
  return self:counters().executed[route] or 0
end

function Mock:expire(id)
  return self:control("POST", "/_mock/expire/" .. id, {})
end

-- t: {fail_next=n, consecutive_failures=n, is_active=bool}
function Mock:webhook_state(id, t)
  return self:control("POST", "/_mock/webhook_endpoints/" .. id .. "/fail_count", t or {})
end

function Mock:stop()
  if self.stopped then return end
  self.stopped = true
  if self.external then return end
  if self.pid then os.execute("kill " .. self.pid .. " 2>/dev/null") end
  if self.pipe then pcall(self.pipe.close, self.pipe) end
  for _, f in ipairs(self.tmpfiles or {}) do os.remove(f) end
end

------------------------------------------------------------------- start
-- opts: latency (default 0.2 for a server started here; an external
-- $AUROUS_MOCK_URL server keeps its own unless given), character_latency, character_review,
-- poll_retry_after, media_size, balance; python (default $AUROUS_MOCK_PYTHON
-- or python3); spawn=true to start a server even when $AUROUS_MOCK_URL is set.
function M.start(opts)
  opts = opts or {}
  local self = setmetatable({ api_key = opts.api_key or M.api_key }, Mock)
  self.defaults = config_of(opts)
  local env_url = os.getenv("AUROUS_MOCK_URL")
  if env_url and env_url ~= "" and not opts.spawn then
    self.url = env_url:gsub("/+$", "")
    self.external = true
    self:reset()
    return self
  end

  local base = os.tmpname()
  local urlfile, pidfile, errfile = base .. ".url", base .. ".pid", base .. ".err"
  self.tmpfiles = { base, urlfile, pidfile, errfile }
  local python = opts.python or os.getenv("AUROUS_MOCK_PYTHON") or "python3"
  -- sh -c: record the shell's pid, then exec the server in its place, so the
  -- pid is the server's. Its stdin is our pipe: if this process dies, the
  -- server sees EOF and exits.
  local cmd = string.format(
    "echo $$ > %s; exec %s %s --port 0 --quiet --exit-on-stdin-eof --latency %s > %s 2> %s",
    shq(pidfile), python, shq(SERVER), tostring(opts.latency or 0.2), shq(urlfile), shq(errfile))
  local pipe, perr = io.popen(cmd, "w")
  if not pipe then error("mock: cannot start the server: " .. tostring(perr), 2) end
  self.pipe = pipe

  local deadline = os.time() + 6
  local waited = 0
  while true do
    local out = read_file(urlfile) or ""
    local url = out:match("AUROUS_MOCK_URL=(%S+)")
    if url then
      self.url = url
      break
    end
    if waited >= 5 or os.time() > deadline then
      local err = read_file(errfile) or ""
      self:stop()
      error("mock: the server did not start within 5 s: " .. err, 2)
    end
    sleep(0.02)
    waited = waited + 0.02
  end
  self.pid = (read_file(pidfile) or ""):match("%d+")
  local cfg = config_of(opts)
  cfg.latency = nil
  if next(cfg) ~= nil then self:reset() end
  return self
end

-- Run fn(m) with a fresh mock, stopping it afterwards even on error.
function M.with(opts, fn)
  local m = M.start(opts)
  local ok, err = pcall(fn, m)
  m:stop()
  if not ok then error(err, 0) end
end

return M
