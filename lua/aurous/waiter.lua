--- Polling until a terminal status: generations and characters.
-- Yields inside tasks (the loop's timers), sleeps outside.
-- @module aurous.waiter
local core = require("aurous.core")
local errors = require("aurous.errors")
local loop = require("aurous.loop")
local validate = require("aurous.validate")

local waiter = {}

local WAIT_OPTIONS = { timeout = "number", interval = "number", max_interval = "number",
  on_progress = "function", cancel_on_timeout = "boolean", request = "table" }

--- Polls `get(id)` until `policy.terminal[status]`.
-- policy: { terminal = set, interval = first interval, max_interval, backoff = factor,
--   timeout = default seconds, cancel = fn(id) or nil }.
-- opts: timeout, interval (fixed), max_interval, on_progress(obj), cancel_on_timeout,
--   request (per-call options for each poll).
-- @return the last object, nil, meta  |  nil, err (`err.last` holds the last object seen)
function waiter.wait(get, id_or_obj, opts, policy)
  local id = id_or_obj
  if type(id_or_obj) == "table" then id = id_or_obj.id end
  local ok, err = validate.id(id, "id")
  if not ok then return nil, err end
  if opts ~= nil and type(opts) ~= "table" then return nil, errors.argument("opts", "a table is expected, got " .. type(opts)) end
  opts = opts or {}
  for k, v in pairs(opts) do
    if not WAIT_OPTIONS[k] then return nil, errors.argument("opts." .. tostring(k), "is not an option of wait") end
    if type(v) ~= WAIT_OPTIONS[k] then return nil, errors.argument("opts." .. k, "a " .. WAIT_OPTIONS[k] .. " is expected, got " .. type(v)) end
  end
  if opts.interval and opts.interval <= 0 then return nil, errors.argument("opts.interval", "must be positive") end
  if opts.max_interval and opts.max_interval <= 0 then return nil, errors.argument("opts.max_interval", "must be positive") end
  if opts.timeout and opts.timeout < 0 then return nil, errors.argument("opts.timeout", "must not be negative") end
  local timeout = opts.timeout or policy.timeout
  local deadline = core.now() + timeout
  local interval = opts.interval or policy.interval
  local max_interval = opts.max_interval or policy.max_interval or interval
  local last
  while true do
    local obj, gerr, meta = get(id, opts.request)
    if not obj then
      gerr.last = last
      return nil, gerr
    end
    last = obj
    if opts.on_progress then opts.on_progress(obj) end
    if policy.terminal[obj.status] then return obj, nil, meta end
    local now = core.now()
    if now >= deadline then
      local terr = errors.new{ type = "timeout", code = "wait_timeout", retryable = false, last = obj,
        message = string.format("gave up waiting for %s after %gs (last status: %s)", id, timeout, tostring(obj.status)) }
      if opts.cancel_on_timeout and policy.cancel then
        local cancelled = policy.cancel(id)
        if cancelled then terr.last = cancelled end
        terr.message = terr.message .. "; cancel requested"
      end
      return nil, terr
    end
    -- a server hint (Retry-After on the poll response) wins, within sane bounds
    local wait = interval
    local hint = meta and meta.headers and tonumber(meta.headers["retry-after"])
    if hint then wait = math.min(math.max(hint, 0.05), 60) end
    if not opts.interval then interval = math.min(interval * (policy.backoff or 1), max_interval) end
    if now + wait > deadline then wait = deadline - now end
    loop.sleep(wait)
  end
end

return waiter
