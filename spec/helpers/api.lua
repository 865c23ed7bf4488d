-- spec/helpers/api.lua: shared plumbing of the namespace specs (images, videos,
-- files, characters, loras, webhook endpoints, account).
--
--   local api = require("helpers.api")
--   local m, client = api.start{ latency = 0.15 }
--   api.requests_to(m, "GET", "^/v1/images/[^/]+$")   -- the logged requests of a route
--   api.png(64, 48), api.jpeg(64, 48), api.webp(64, 48)  -- tiny images (magic bytes + size)
--   api.media(m, id, 0)                                -- the bytes the mock's media route serves
--
-- Test plumbing: failures here raise.

local aurous = require("aurous")
local core = require("aurous.core")
local mock = require("helpers.mock")

local api = {}

--- Starts a mock (opts as mock.start) and a client on it without retries.
-- `client_opts` are merged into the client's options.
function api.start(opts, client_opts)
  local m = mock.start(opts or { latency = 0.15 })
  local copts = { api_key = m.api_key, base_url = m.url, max_retries = 0 }
  for k, v in pairs(client_opts or {}) do copts[k] = v end
  return m, aurous.new(copts)
end

--- The logged requests whose method is `method` and path matches `pattern`, oldest first.
function api.requests_to(m, method, pattern)
  local out = {}
  for _, r in ipairs(m:requests()) do
    if (method == nil or r.method == method) and r.path:find(pattern) then out[#out + 1] = r end
  end
  return out
end

--- The last logged request of a route, or nil.
function api.last_to(m, method, pattern)
  local rows = api.requests_to(m, method, pattern)
  return rows[#rows]
end

--- The multipart part named `name` of a logged request, or nil.
function api.part(r, name)
  for _, p in ipairs(r.multipart or {}) do
    if p.name == name then return p end
  end
  return nil
end

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

local function le16(n) return string.char(n % 256, math.floor(n / 256) % 256) end

local function le24(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256)
end

--- A PNG signature + IHDR chunk of w × h (enough for the mock's sniffer), plus padding.
function api.png(w, h)
  local ihdr = be32(w) .. be32(h) .. "\8\2\0\0\0"
  return "\137PNG\r\n\26\n" .. be32(#ihdr) .. "IHDR" .. ihdr .. "\0\0\0\0" .. string.rep("\0", 32)
end

--- A JPEG SOI + SOF0 segment of w × h, plus EOI.
function api.jpeg(w, h)
  local sof = "\255\192" .. "\0\17" .. "\8" .. string.char(math.floor(h / 256), h % 256)
    .. string.char(math.floor(w / 256), w % 256) .. "\3" .. string.rep("\1\17\0", 3)
  return "\255\216\255\224\0\16JFIF\0\1\1\0\0\1\0\1\0\0" .. sof .. string.rep("\0", 16) .. "\255\217"
end

--- A WebP (VP8X) header of w × h.
function api.webp(w, h)
  local chunk = "VP8X" .. "\10\0\0\0" .. "\0\0\0\0" .. le24(w - 1) .. le24(h - 1)
  return "RIFF" .. le16(4 + #chunk) .. "\0\0" .. "WEBP" .. chunk .. string.rep("\0", 16)
end

--- A fresh temporary file name (the file does not exist).
function api.tmpname(suffix)
  local name = os.tmpname()
  os.remove(name)
  return name .. (suffix or "")
end

api.read = mock.read_file

function api.write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

function api.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

--- One plain HTTP exchange outside the client: returns the core Response.
function api.http(method, url, body, headers)
  local t = core.transfer{ method = method, url = url, body = body, headers = headers, timeout = 15 }
  local resp, err = t:perform()
  t:close()
  assert(resp, "http " .. method .. " " .. url .. ": " .. tostring(err and err.message))
  return resp
end

--- The bytes the mock's media route serves for output `n` (0-based) of `id`.
function api.media(m, id, n)
  local resp = api.http("GET", m.url .. "/_media/" .. id .. "/" .. (n or 0))
  assert(resp.status == 200, "media " .. id .. " answered " .. resp.status)
  return resp.body, resp.headers["content-type"]
end

--- Creates `n` images (prompts "<prefix> 1" … "<prefix> n"); returns them oldest first.
function api.create_images(client, n, prefix)
  local out = {}
  for i = 1, n do
    out[i] = assert(client.images:create{ prompt = (prefix or "image") .. " " .. i })
  end
  return out
end

--- The ids of a list of objects.
function api.ids(rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.id end
  return out
end

--- The ids of `rows` in reverse order (the lists are newest first).
function api.reversed_ids(rows)
  local out = {}
  for i = #rows, 1, -1 do out[#out + 1] = rows[i].id end
  return out
end

--- Asserts `v, err` is a failure and returns the error object.
function api.fails(v, err)
  assert(v == nil, "a failure was expected, got " .. tostring(v))
  assert(aurous.errors.is(err), "an error object was expected, got " .. tostring(err))
  return err
end

--- A client option `log` that keeps its lines in `lines`.
function api.logger()
  local lines = {}
  return lines, function(line) lines[#lines + 1] = line end
end

--- An RFC 3339 time `seconds` before now.
function api.ago(seconds)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - seconds)
end

return api
