--- Webhook signatures: `Aurous-Webhook-Signature: t=<unix seconds>,v1=<hex>`, where
-- v1 = hex HMAC-SHA256(secret, t .. "." .. raw_body) (REFERENCE §13.5).
-- @module aurous.webhooks
local core = require("aurous.core")
local errors = require("aurous.errors")
local json = require("aurous.json")

local webhooks = {}

webhooks.HEADER = "Aurous-Webhook-Signature"
webhooks.DEFAULT_TOLERANCE = 300

local function failure(code, message)
  return nil, errors.new{ type = "signature_verification", code = code, message = message, retryable = false }
end

--- Parses a signature header into its timestamp and its list of v1 signatures.
-- @return t (a number), { sig… }, the timestamp as written (what was signed)  |  nil, message
-- Messages never quote the header: a secret passed in its place would show.
function webhooks.parse_header(header)
  local t, t_text, sigs, n = nil, nil, {}, 0
  for item in (header .. ","):gmatch("([^,]*),") do
    n = n + 1
    local k, v = item:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
    if k == "t" then
      if t or not v:match("^%d+$") or #v > 12 then return nil, "malformed timestamp" end
      t, t_text = tonumber(v), v
    elseif k == "v1" then
      -- one that is not hex cannot match; the others may (as with unknown schemes)
      if v:match("^%x+$") then sigs[#sigs + 1] = v:lower() end
    elseif not k and item:find("%S") then
      local hint = item:find("whsec_", 1, true) and " (is the secret passed as the header?)" or ""
      return nil, "element " .. n .. " is not key=value" .. hint
    end
  end
  if not t then return nil, "no timestamp (t=)" end
  if #sigs == 0 then return nil, "no v1 signature (in hex)" end
  return t, sigs, t_text
end

--- Verifies a delivery and returns its decoded event, or `nil, err`.
-- `secrets`: one secret or a list (during the 24 h after a rotation, give the new and
-- the previous one). opts: `tolerance` seconds (default 300; too old and too new are
-- both rejected), `now` (Unix seconds, for tests).
function webhooks.verify(raw_body, header, secrets, opts)
  if type(raw_body) ~= "string" then return nil, errors.argument("raw_body", "the raw request body (a string) is expected, got " .. type(raw_body)) end
  if type(secrets) == "string" then secrets = { secrets } end
  if type(secrets) ~= "table" or #secrets == 0 then return nil, errors.argument("secret", "a secret or a non-empty list of secrets is expected") end
  for i, s in ipairs(secrets) do
    if type(s) ~= "string" or s == "" then return nil, errors.argument("secret", "secret " .. i .. " must be a non-empty string") end
  end
  if opts ~= nil and type(opts) ~= "table" then return nil, errors.argument("opts", "a table is expected, got " .. type(opts)) end
  opts = opts or {}
  local tolerance = opts.tolerance or webhooks.DEFAULT_TOLERANCE
  -- NaN would pass every comparison below: the check would be off
  if type(tolerance) ~= "number" or tolerance ~= tolerance or tolerance < 0 then
    return nil, errors.argument("opts.tolerance", "a non-negative number is expected")
  end
  local now = opts.now or os.time()
  if type(now) ~= "number" or now ~= now then return nil, errors.argument("opts.now", "a number (Unix seconds) is expected") end
  if type(header) == "table" then
    -- a repeated header, as some servers hand it: one delivery carries one
    if #header ~= 1 then
      return failure("malformed_signature", webhooks.HEADER .. " header given " .. #header .. " times")
    end
    header = header[1]
  end
  if type(header) ~= "string" or header == "" then
    return failure("missing_signature", "no " .. webhooks.HEADER .. " header")
  end
  local t, sigs, t_text = webhooks.parse_header(header)
  if not t then return failure("malformed_signature", "bad " .. webhooks.HEADER .. " header: " .. sigs) end
  if math.abs(now - t) > tolerance then
    return failure("timestamp_out_of_tolerance", string.format(
      "signature timestamp is %.0fs %s now; the tolerance is %gs", math.abs(now - t), t < now and "before" or "after", tolerance))
  end
  local signed = t_text .. "." .. raw_body
  local matched = false
  for _, secret in ipairs(secrets) do
    local expected = core.hmac_sha256_hex(secret, signed)
    for _, sig in ipairs(sigs) do
      -- every comparison runs, so timing does not tell which secret matched
      if core.constant_time_equal(expected, sig) then matched = true end
    end
  end
  if not matched then return failure("no_matching_signature", "no v1 signature matches the secret(s)") end
  local event, derr = json.decode(raw_body)
  if event == nil then
    return nil, errors.new{ type = "decode", code = "invalid_json", message = "webhook body is not valid JSON: " .. derr }
  end
  if type(event) ~= "table" or json.is_array(event) then
    return nil, errors.new{ type = "decode", code = "invalid_event",
      message = "webhook body is signed but is not an event (a JSON object)" }
  end
  return event
end

--- The header value for `raw_body` signed with `secret` at `timestamp` (default now).
function webhooks.sign(raw_body, secret, timestamp)
  if type(raw_body) ~= "string" then error("bad argument #1 to 'sign' (string expected, got " .. type(raw_body) .. ")", 2) end
  if type(secret) ~= "string" or secret == "" then error("bad argument #2 to 'sign' (non-empty string expected)", 2) end
  timestamp = timestamp or os.time()
  if type(timestamp) ~= "number" then error("bad argument #3 to 'sign' (number expected, got " .. type(timestamp) .. ")", 2) end
  -- floor: Lua 5.3+ refuses %d for a float with a fraction (5.1 truncates)
  local t = string.format("%d", math.floor(timestamp))
  return "t=" .. t .. ",v1=" .. core.hmac_sha256_hex(secret, t .. "." .. raw_body)
end

return webhooks
