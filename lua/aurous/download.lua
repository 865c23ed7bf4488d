--- Downloads through the output proxies: the proxy answers 302 to the media (or,
-- in newer deployments, the bytes themselves). The media request never carries
-- the API key. Bodies stream to a file or to a sink, never into memory.
-- @module aurous.download
local errors = require("aurous.errors")
local loop = require("aurous.loop")

local download = {}

local MAX_HOPS = 5
local EXPIRED_HELP = "the output has expired: the API keeps generated media for about 24 hours "
  .. "after completion; download what you want to keep soon after the generation succeeds"

local function read_file(path, limit)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read(limit) or ""
  f:close()
  return s
end

-- The error of a non-2xx download response whose body is `body`.
local function response_error(resp, body)
  local err = errors.of_response(resp, body)
  if resp.status == 410 then
    err.code = err.code or "output_expired"
    err.message = EXPIRED_HELP .. " (" .. tostring(err.message) .. ")"
  end
  return err
end

-- Resolves a Location header against the URL it came from (RFC 3986 §5.2, without
-- dot-segment removal: the server resolves those).
local function resolve(location, base)
  if location:lower():match("^https?://") then return location end
  if location:sub(1, 2) == "//" then return base:match("^(%a+:)") .. location end -- same scheme, another host
  base = base:gsub("#.*$", "")
  if location:sub(1, 1) == "?" then return (base:gsub("%?.*$", "")) .. location end
  base = base:gsub("%?.*$", "")
  local origin = base:match("^(%a+://[^/]+)")
  if location:sub(1, 1) == "/" then return origin .. location end
  return (base:gsub("[^/]*$", "")) .. location
end

download._resolve = resolve -- for the specs

--- Fetches `url` (the proxy path) into `dest` ({path=…} or {sink=fn}), following
-- redirects by hand so that the API key stays on the API's host.
-- opts: on_progress(received, total), timeout, max_size (bytes; more is an error).
-- @return { path, bytes, content_type, url, response } | nil, err
function download.fetch(client, path, dest, opts)
  local url = client.base_url .. path
  local anonymous = false
  local tmp = dest.path and (dest.path .. ".part")
  for _ = 1, MAX_HOPS do
    local err_body = {}
    local err_size = 0
    local sink_err, sink_error
    local handlers = {}
    if opts.on_progress then
      handlers.on_progress = function(dn, dt) opts.on_progress(dn, dt) end
    end
    local req = { method = "GET", url = url, raw = true, anonymous = anonymous,
      -- no total time limit unless asked (a large video on a slow link takes what it
      -- takes); a stalled one still fails after the client's low_speed_time
      opts = { timeout = opts.timeout or 0 }, handlers = handlers, max_response_size = opts.max_size or 2 ^ 40 }
    if dest.path then
      req.output_path = tmp
    else
      req.stream = true
      req.opts.max_retries = 0 -- a retry would hand the sink the same bytes twice
      handlers.on_chunk = function(chunk, transfer)
        local status = transfer:status()
        if status >= 200 and status < 300 then
          if sink_err then return end
          local ok, r1, r2 = pcall(dest.sink, chunk)
          if not ok then sink_err = r1 elseif r1 == false or (r1 == nil and r2 ~= nil) then sink_err = r2 or "sink refused the data" end
          if sink_err then
            sink_error = errors.new{ type = "invalid_argument", code = "sink_failed", param = "sink",
              message = "sink: " .. tostring(sink_err) }
            error(sink_error, 0)
          end
        elseif err_size < 65536 then
          err_body[#err_body + 1] = chunk
          err_size = err_size + #chunk
        end
      end
    end
    -- no pcall here: send yields inside tasks, and PUC Lua 5.1 cannot yield across pcall
    local forget = loop.on_cancel(function() if tmp then os.remove(tmp) end end)
    local resp, err = client:send(req)
    forget()
    if not resp then
      if tmp then os.remove(tmp) end
      -- the pipeline reports a refusing sink as an aborted transfer: give the sink's own error
      return nil, sink_error or err
    end
    local status = resp.status
    if status >= 300 and status < 400 and resp.headers["location"] then
      if tmp then os.remove(tmp) end
      url = resolve(resp.headers["location"], url)
      anonymous = true
    elseif status >= 200 and status < 300 then
      local result = { bytes = resp.size, content_type = resp.headers["content-type"], url = url, response = resp }
      if tmp then
        local renamed, rerr = os.rename(tmp, dest.path)
        if not renamed then
          os.remove(tmp)
          return nil, errors.new{ type = "file", code = "rename_failed", message = "cannot move the download into place: " .. tostring(rerr) }
        end
        result.path = dest.path
      end
      return result
    else
      local body = tmp and read_file(tmp, 65536) or table.concat(err_body)
      if tmp then os.remove(tmp) end
      return nil, client:_scrub_error(response_error(resp, body))
    end
  end
  return nil, errors.new{ type = "connection", code = "too_many_redirects", message = "more than " .. (MAX_HOPS - 1) .. " redirects" }
end

--- Checks the destination options shared by image and video downloads.
function download.destination(opts)
  local ok_keys = { index = true, path = true, sink = true, on_progress = true, timeout = true, max_size = true }
  for k in pairs(opts) do
    if not ok_keys[k] then return nil, errors.argument("opts." .. tostring(k), "is not an option of download") end
  end
  if (opts.path == nil) == (opts.sink == nil) then
    return nil, errors.argument("opts.path", "give exactly one of path (a file name) or sink (a function)")
  end
  if opts.path ~= nil and (type(opts.path) ~= "string" or opts.path == "") then
    return nil, errors.argument("opts.path", "a non-empty string is expected")
  end
  if opts.sink ~= nil and type(opts.sink) ~= "function" then
    return nil, errors.argument("opts.sink", "a function is expected, got " .. type(opts.sink))
  end
  if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
    return nil, errors.argument("opts.on_progress", "a function is expected, got " .. type(opts.on_progress))
  end
  if opts.timeout ~= nil and type(opts.timeout) ~= "number" then
    return nil, errors.argument("opts.timeout", "a number is expected, got " .. type(opts.timeout))
  end
  if opts.max_size ~= nil and (type(opts.max_size) ~= "number" or opts.max_size <= 0) then
    return nil, errors.argument("opts.max_size", "a positive number of bytes is expected")
  end
  return { path = opts.path, sink = opts.sink }
end

return download
