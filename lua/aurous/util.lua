--- Small helpers shared by the Lua layer: URL escaping, query strings, UUIDs, redaction.
-- @module aurous.util
local core = require("aurous.core")

local util = {}

--- Percent-encodes everything but RFC 3986's unreserved characters.
function util.escape(s)
  -- RFC 3986 unreserved bytes, spelled out: %w follows the C locale's isalnum,
  -- which a host (Neovim calls setlocale) may extend to bytes over 127
  return (tostring(s):gsub("[^A-Za-z0-9%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function query_value(v)
  if v == true then return "true" end
  if v == false then return "false" end
  if math.type and math.type(v) == "float" and v == math.floor(v) and v > -2^53 and v < 2^53 then
    return string.format("%d", v)
  end
  return tostring(v)
end

--- `k=v&…` in sorted key order; an array repeats its key with `[]` appended
-- (`type[]=a&type[]=b`); booleans as `true`/`false`.
function util.query(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = params[k]
    if type(v) == "table" then
      local name = k:sub(-2) == "[]" and k or (k .. "[]")
      for _, item in ipairs(v) do out[#out + 1] = util.escape(name) .. "=" .. util.escape(query_value(item)) end
    else
      out[#out + 1] = util.escape(k) .. "=" .. util.escape(query_value(v))
    end
  end
  return table.concat(out, "&")
end

--- A random (version 4) UUID from OpenSSL's CSPRNG.
function util.uuid4()
  local b = { core.random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 64   -- version 4
  b[9] = b[9] % 64 + 128  -- variant 10xx
  return string.format("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
    b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15], b[16])
end

--- A key as it may be shown: its prefix and last 4 characters (`al_live_…cdef`).
function util.redact(key)
  if type(key) ~= "string" or key == "" then return "(none)" end
  local prefix = key:match("^(%a+_%a+_)") or key:match("^(%a+_)") or ""
  if #key <= #prefix + 8 then return prefix .. "…" end
  return prefix .. "…" .. key:sub(-4)
end

--- A shallow copy of a table (nil gives an empty table).
function util.copy(t)
  local c = {}
  if t then for k, v in pairs(t) do c[k] = v end end
  return c
end

--- The file name part of a path.
function util.basename(path)
  return (path:match("([^/\\]+)$")) or path
end

return util
