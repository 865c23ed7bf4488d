--- The error type: every failure of the library is one of these.
-- Fields: `type`, `code`, `status`, `message`, `param`, `request_id`, `doc_url`,
-- `retryable`, `retry_after`, `idempotency_key`; it prints as one line.
-- @module aurous.errors
local json = require("aurous.json")

local errors = {}

local Error = {}
Error.__index = Error
Error.__name = "aurous.Error"

--- The types the client itself produces (the API's own types pass through).
errors.CLIENT_TYPES = {
  invalid_argument = true, connection = true, timeout = true, decode = true,
  cancelled = true, too_large = true, tls = true, file = true, protocol = true, aborted = true,
}

local function one_line(s)
  return (tostring(s):gsub("[\r\n]+", " "))
end

function Error.__tostring(e)
  local parts = { "aurous: ", e.type or "error" }
  local detail = {}
  if e.code and e.code ~= e.type then detail[#detail + 1] = e.code end
  if e.status then detail[#detail + 1] = "HTTP " .. tostring(e.status) end
  if #detail > 0 then parts[#parts + 1] = " (" .. table.concat(detail, ", ") .. ")" end
  parts[#parts + 1] = ": " .. one_line(e.message or "unknown error")
  local msg = tostring(e.message or "")
  if e.param and msg:sub(1, #tostring(e.param)) ~= tostring(e.param) then
    parts[#parts + 1] = " [param " .. tostring(e.param) .. "]"
  end
  if e.request_id then parts[#parts + 1] = " [request_id " .. tostring(e.request_id) .. "]" end
  return table.concat(parts)
end

--- Builds an error object from a table of fields.
function errors.new(fields)
  return setmetatable(fields, Error)
end

--- True when `v` is an error object of this library.
function errors.is(v)
  return getmetatable(v) == Error
end

--- An `invalid_argument` error naming the argument; raised before any I/O.
function errors.argument(param, message)
  return errors.new{ type = "invalid_argument", code = "invalid_argument", param = param,
    message = param and (param .. ": " .. message) or message, retryable = false }
end

-- The type the API would give a status, for bodies without an envelope.
local function type_for_status(status)
  if status == 429 then return "rate_limit" end
  if status >= 500 then return "server_error" end
  if status == 401 or status == 403 then return "authentication" end
  if status == 404 or status == 410 then return "not_found" end
  return "invalid_request"
end
errors.type_for_status = type_for_status

--- The `error` table of an API error body, or nil (empty, not JSON, no envelope).
-- `content_type` (optional): a JSON type makes the body worth decoding even when
-- it does not start with `{`.
function errors.envelope_of(body, content_type)
  if type(body) ~= "string" or body == "" then return nil end
  if body:sub(1, 1) ~= "{" and not (content_type or ""):find("json", 1, true) then return nil end
  local decoded = json.decode(body)
  if type(decoded) == "table" and type(decoded.error) == "table" then return decoded.error end
  return nil
end

--- What a body without the API's error envelope says (a gateway's, a proxy's), for
-- an error message: its content type, then a JSON body's `message`, `error` or
-- `detail` string, or else the body's first 200 bytes on one line.
function errors.body_hint(body, content_type)
  local hint = (content_type and content_type ~= "") and ("content-type " .. content_type) or nil
  if type(body) ~= "string" or body == "" then return hint and (hint .. ", empty body") or "empty body" end
  local text = body
  if body:sub(1, 1) == "{" then
    local decoded = json.decode(body)
    if type(decoded) == "table" then
      for _, field in ipairs{ "message", "error", "detail" } do
        if type(decoded[field]) == "string" and decoded[field] ~= "" then text = decoded[field] break end
      end
    end
  end
  local excerpt = text:sub(1, 200):gsub("%c+", " "):match("^%s*(.-)%s*$")
  if #text > 200 then
    excerpt = excerpt:gsub("[\192-\255][\128-\191]*$", "") .. "…" -- not half a UTF-8 character
  end
  return (hint and (hint .. ": ") or "") .. excerpt
end

--- The error of a core Response that is not 2xx, from `body` (default: its own):
-- the API's envelope, or else what the body says (body_hint).
function errors.of_response(resp, body)
  body = body or resp.body
  local ctype = resp.headers["content-type"]
  local envelope = errors.envelope_of(body, ctype)
  return errors.from_response(resp.status, envelope, resp.headers,
    (not envelope) and errors.body_hint(body, ctype) or nil)
end

--- An error from an HTTP response that is not 2xx.
-- `envelope` is the decoded body's `error` table when there was one.
function errors.from_response(status, envelope, headers, body_hint)
  local e = { status = status, retryable = false }
  local request_id = headers and headers["aurous-request-id"]
  if type(envelope) == "table" then
    e.type = type(envelope.type) == "string" and envelope.type or type_for_status(status)
    e.code = type(envelope.code) == "string" and envelope.code or nil
    e.message = type(envelope.message) == "string" and envelope.message or ("HTTP " .. status)
    e.param = type(envelope.param) == "string" and envelope.param or nil
    e.doc_url = type(envelope.doc_url) == "string" and envelope.doc_url or nil
    e.request_id = type(envelope.request_id) == "string" and envelope.request_id or request_id
    e.provider_status = envelope.status
  else
    e.type = type_for_status(status)
    e.code = "http_" .. status
    e.message = "HTTP " .. status .. " without an API error body" .. (body_hint and (" (" .. body_hint .. ")") or "")
    e.request_id = request_id
  end
  local ra = headers and headers["retry-after"]
  if ra then e.retry_after = errors.parse_retry_after(ra) end
  local reset = headers and tonumber(headers["x-ratelimit-reset"])
  if status == 429 and e.retry_after == nil and reset and reset == reset then
    -- no Retry-After: the bucket refills by then (epoch seconds, REFERENCE §4, §5.2)
    e.retry_after = math.max(0, reset - os.time())
  end
  return errors.new(e)
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
  Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- Seconds since the epoch of a UTC date table, without os.time's local zone.
local function utc_seconds(y, m, d, hh, mm, ss)
  -- days from civil (Howard Hinnant's algorithm)
  y = (m <= 2) and (y - 1) or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + hh * 3600 + mm * 60 + ss
end

local DAY = "%a%a%a"

--- `Retry-After` as seconds to wait: delta-seconds or an HTTP date (IMF-fixdate,
-- RFC 850 or asctime, RFC 9110 §5.6.7); a date in the past gives 0; nil if unreadable.
-- `now` (Unix seconds) defaults to the current time.
function errors.parse_retry_after(value, now)
  if type(value) == "number" then
    if value ~= value or value < 0 or value == math.huge then return nil end
    return value
  end
  if type(value) ~= "string" then return nil end
  local n = value:match("^%s*(%d+%.?%d*)%s*$")
  if n then
    n = tonumber(n)
    if n and n < math.huge then return n end
    return nil
  end
  local s = value:match("^%s*(.-)%s*$")
  local d, mon, y, hh, mm, ss
  -- IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  d, mon, y, hh, mm, ss = s:match("^" .. DAY .. ", (%d%d?) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    -- RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    d, mon, y, hh, mm, ss = s:match("^%a+, (%d%d?)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then
      y = tonumber(y)
      y = y < 70 and 2000 + y or 1900 + y
    end
  end
  if not d then
    -- asctime: Sun Nov  6 08:49:37 1994
    mon, d, hh, mm, ss, y = s:match("^" .. DAY .. " (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  if d and MONTHS[mon] then
    local dd, h, mi, se = tonumber(d), tonumber(hh), tonumber(mm), tonumber(ss)
    if dd < 1 or dd > 31 or h > 23 or mi > 59 or se > 60 then return nil end
    local at = utc_seconds(tonumber(y), MONTHS[mon], dd, h, mi, se)
    local wait = at - (now or os.time())
    return wait > 0 and wait or 0
  end
  return nil
end

-- curl codes of kind "protocol" that a new connection may not see again
-- (weird server reply, HTTP/2 framing and stream errors).
local TRANSIENT_PROTOCOL = { [8] = true, [16] = true, [92] = true }

--- An error from a transport failure reported by the core ({kind, message, curl_code}).
-- Types: `connection` (also other transfer failures), `timeout`, `tls`, `too_large`,
-- `cancelled`, `file`, `protocol` (bad URL or scheme, too many redirects), `aborted`
-- (a stream handler raised; when it raised an error object, that object is returned).
function errors.from_transfer(terr)
  if type(terr) ~= "table" then terr = { kind = "connection", message = tostring(terr) } end
  -- a stream handler that raised one of our errors (a refusing sink): that error
  if terr.kind == "aborted" and errors.is(terr.cause) then return terr.cause end
  local kind = terr.kind or "connection"
  local t = kind
  if kind == "transfer" then t = "connection" end
  if kind == "protocol" and TRANSIENT_PROTOCOL[terr.curl_code] then t = "connection" end
  return errors.new{ type = t, code = kind, message = terr.message or kind,
    curl_code = terr.curl_code, retryable = (t == "connection" or t == "timeout") }
end

return errors
