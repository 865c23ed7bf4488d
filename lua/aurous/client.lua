--- The client and its one request pipeline: URL and query, headers, body,
-- retries with backoff, idempotency keys, decoding and errors.
-- @module aurous.client
local core = require("aurous.core")
local errors = require("aurous.errors")
local json = require("aurous.json")
local loop = require("aurous.loop")
local retry = require("aurous.retry")
local util = require("aurous.util")
local validate = require("aurous.validate")

local client = {}

client.VERSION = "0.1.0"
client.DEFAULT_BASE_URL = "https://api.aurous-labs.com"
client.DEFAULT_API_VERSION = "2026-05-15"

local Client = {}
Client.__index = Client
Client.__name = "aurous.Client"

local function lua_version()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

local user_agent -- built on first use: core.curl_version loads the HTTP half of the core

--- The User-Agent sent with every request: `aurous-lua/<version> (<Lua>; libcurl <version>)`.
function client.user_agent()
  if not user_agent then
    user_agent = string.format("aurous-lua/%s (%s; libcurl %s)", client.VERSION, lua_version(), core.curl_version)
  end
  return user_agent
end

-- Client options: name → { type, default }. Anything else is an error.
local OPTIONS = {
  api_key = "string", base_url = "string", version = "string", timeout = "number",
  connect_timeout = "number", max_retries = "number", deadline = "number",
  max_response_size = "number", low_speed_limit = "number", low_speed_time = "number",
  insecure = "boolean", cainfo = "string", log = "function", headers = "table",
  max_header_size = "number", retry = "table",
}

-- The `retry` option: overrides of the backoff (defaults in aurous.retry).
local RETRY_OPTIONS = {
  base_delay = "number", max_delay = "number", max_retry_after = "number", random = "function",
}

-- Per-call options.
local CALL_OPTIONS = {
  timeout = "number", headers = "table", idempotency_key = "string", version = "string",
  max_retries = "number", deadline = "number",
}
local NON_NEGATIVE = { timeout = true, max_retries = true, deadline = true }
-- Methods whose requests carry a body (or say they have none).
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }
-- The idempotency key's header and its aliases (REFERENCE §4, §6).
local KEY_HEADERS = { ["idempotency-key"] = true, ["aurous-idempotent-key"] = true, ["aurous-idempotency-key"] = true }

local NO_OPTIONS = setmetatable({}, { __newindex = function() error("aurous: internal: NO_OPTIONS is read-only", 2) end })

local function check_options(opts, allowed, what)
  if opts == nil then return NO_OPTIONS end
  if type(opts) ~= "table" then
    return nil, errors.argument(what, "a table is expected, got " .. type(opts))
  end
  for k, v in pairs(opts) do
    local t = allowed[k]
    if not t then return nil, errors.argument(what .. "." .. tostring(k), "is not an option") end
    if type(v) ~= t then
      return nil, errors.argument(what .. "." .. k, "a " .. t .. " is expected, got " .. type(v))
    end
  end
  return opts
end

local function check_header_table(headers, what)
  for k, v in pairs(headers) do
    if type(k) ~= "string" or not k:match("^[%w!#$%%&'*+.^_`|~-]+$") then
      return nil, errors.argument(what, "header name " .. string.format("%q", tostring(k)) .. " is not a token")
    end
    if type(v) ~= "string" and type(v) ~= "number" then
      return nil, errors.argument(what .. "." .. k, "a string is expected, got " .. type(v))
    end
    if tostring(v):find("[\r\n%z]") then
      return nil, errors.argument(what .. "." .. k, "must not contain CR, LF or NUL")
    end
  end
  return true
end

-- The API key of each client, kept out of the client table so that printing or
-- inspecting a client (vim.inspect, serpent, debug dumps) never shows it.
local secret_keys = setmetatable({}, { __mode = "k" })
-- The transfer templates of each client's usual requests, built once (see
-- Client:_template): kept out of the client table too (their headers hold the key).
local template_cache = setmetatable({}, { __mode = "k" })

local function default_logger()
  local level = os.getenv("AUROUS_LOG")
  if level and level:lower() == "debug" then
    return function(line) io.stderr:write(line, "\n") end
  end
  return nil
end

--- Creates a client. Every option has a default; see the README.
-- Raises on a bad option (a programming error), naming it.
function client.new(opts)
  local o, err = check_options(opts, OPTIONS, "options")
  if not o then error(tostring(err), 2) end
  local self = setmetatable({}, Client)
  local api_key = o.api_key or os.getenv("AUROUS_API_KEY")
  if api_key == nil or api_key == "" then
    error("aurous.new: no API key: pass api_key or set AUROUS_API_KEY", 2)
  end
  if api_key:find("[%c%s]") then error("aurous.new: api_key must not contain spaces or control characters", 2) end
  secret_keys[self] = api_key
  self.key_hint = util.redact(api_key)
  self.base_url = (o.base_url or os.getenv("AUROUS_BASE_URL") or client.DEFAULT_BASE_URL):gsub("/+$", "")
  if self.base_url:match("^%a+://[^/]*@") then
    -- they would show wherever the URL does (tostring, logs): checked before any message quotes it
    error("aurous.new: base_url must not carry credentials (user:password@); pass them in headers", 2)
  end
  if not self.base_url:match("^https?://[^%c ]+$") then
    error("aurous.new: base_url must be an http(s) URL, got " .. string.format("%q", self.base_url), 2)
  end
  self.version = o.version or client.DEFAULT_API_VERSION
  if not self.version:match("^%d%d%d%d%-%d%d%-%d%d$") then
    error("aurous.new: version must look like YYYY-MM-DD, got " .. string.format("%q", self.version), 2)
  end
  self.timeout = o.timeout or 60
  self.connect_timeout = o.connect_timeout or 10
  self.max_retries = o.max_retries or 2
  self.deadline = o.deadline
  self.max_response_size = o.max_response_size or 64 * 1024 * 1024
  self.low_speed_limit = o.low_speed_limit or 1
  self.low_speed_time = o.low_speed_time or 30
  self.max_header_size = o.max_header_size
  self._low_speed_limit = math.floor(self.low_speed_limit)
  self._low_speed_time = math.ceil(self.low_speed_time)
  for _, name in ipairs{ "timeout", "connect_timeout", "max_retries", "deadline", "max_response_size",
      "low_speed_limit", "low_speed_time", "max_header_size" } do
    local v = o[name]
    if v ~= nil and (v ~= v or v < 0) then error("aurous.new: " .. name .. " must be a non-negative number", 2) end
    if name == "max_retries" and v == math.huge then error("aurous.new: max_retries must be finite", 2) end
  end
  if o.retry then
    local r, rerr = check_options(o.retry, RETRY_OPTIONS, "options.retry")
    if not r then error(tostring(rerr), 2) end
  end
  self.retry_policy = util.copy(o.retry)
  self.insecure = o.insecure == true
  self.cainfo = o.cainfo
  self.log = o.log or default_logger()
  if o.headers then
    local ok, herr = check_header_table(o.headers, "headers")
    if not ok then error(tostring(herr), 2) end
  end
  self.extra_headers = util.copy(o.headers)
  template_cache[self] = {} -- method → request kind → core TransferTemplate
  if self.insecure then
    local warn = self.log or function(line) io.stderr:write(line, "\n") end
    warn("aurous: WARNING: TLS certificate verification is disabled (insecure = true)")
  end
  return self
end

function Client:__tostring()
  return string.format("aurous.Client (%s, key %s)", self.base_url, self.key_hint)
end

-- Replaces every occurrence of the client's key in `s` by its redacted form.
function Client:_scrub(s)
  local key = secret_keys[self]
  if type(s) ~= "string" or not key or #key < 4 then return s end
  local out, i = {}, 1
  while true do
    local a, b = s:find(key, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = self.key_hint
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

-- Scrubs the key from every string field of an error object (an API may echo a
-- header back in `param`, `message` or a body excerpt); returns the error.
function Client:_scrub_error(err)
  if type(err) == "table" then
    for k, v in pairs(err) do
      if type(v) == "string" then err[k] = self:_scrub(v) end
    end
  end
  return err
end

-- Logs a line when a logger is set (the key never reaches it).
function Client:_log(fmt, ...)
  if self.log then self.log(self:_scrub(string.format(fmt, ...))) end
end

-- Substitutes `{name}` in a path with escaped values; errors name the parameter.
local function expand_path(path, values)
  if not path:find("{", 1, true) then return path end
  local err
  local out = path:gsub("{([%w_]+)}", function(name)
    local v = values and values[name]
    if type(v) == "number" then v = tostring(v) end
    local ok, verr = validate.id(v, name)
    if not ok then err = err or verr return "" end
    return util.escape(v)
  end)
  if err then return nil, err end
  return out
end

local function header_lines(headers, sorted)
  local lines, n = {}, 0
  for k, v in pairs(headers) do
    n = n + 1
    lines[n] = k .. ": " .. tostring(v)
  end
  if sorted then table.sort(lines) end -- for logs; the wire does not care
  return lines
end

-- Headers whose values are credentials, shown redacted in logs.
local SECRET_HEADERS = { ["x-api-key"] = true, authorization = true, ["proxy-authorization"] = true,
  cookie = true }

local function redacted_headers(headers)
  local shown = {}
  for k, v in pairs(headers) do
    if SECRET_HEADERS[k:lower()] then
      local scheme, rest = tostring(v):match("^(%a+%s+)(.+)$")
      shown[k] = scheme and (scheme .. util.redact(rest)) or util.redact(tostring(v))
    else
      shown[k] = v
    end
  end
  return table.concat(header_lines(shown, true), "; ")
end

-- Query parameter names (lower case) whose values are credentials: presigned
-- storage URLs (X-Amz-Signature, X-Amz-Credential, X-Tos-Signature, CloudFront's
-- Policy and Signature) and tokens.
local SECRET_PARAM_PARTS = { "sig", "credential", "policy", "token", "key", "secret", "auth", "password" }

-- A URL as logged: the values of credential-like query parameters hidden.
local function redacted_url(url)
  return (url:gsub("([?&][^=&#]*)=([^&#]*)", function(name, value)
    local n = name:sub(2):lower()
    for _, part in ipairs(SECRET_PARAM_PARTS) do
      if n:find(part, 1, true) then return name .. "=" .. (value == "" and "" or "REDACTED") end
    end
    return name .. "=" .. value
  end))
end
client._redacted_url = redacted_url

-- The response as users see it beside a result. Its `headers` table is built
-- from `raw_headers` when first read (most callers never do; building it was about
-- 9 k instructions, 5 % of a small request); `pairs(meta)` builds it too where
-- Lua honours __pairs (5.2+).
local Meta = {}
Meta.__index = function(meta, key)
  if key ~= "headers" then return nil end
  local headers = core.parse_headers(rawget(meta, "raw_headers"))
  rawset(meta, "headers", headers)
  return headers
end
Meta.__pairs = function(meta)
  local _ = meta.headers
  return next, meta, nil
end

local function response_meta(status, raw_headers, request_id, api_version, replayed, attempts, idem_key, elapsed)
  return setmetatable({
    status = status,
    raw_headers = raw_headers,
    request_id = request_id,
    version = api_version,
    idempotent_replayed = replayed == "true",
    idempotency_key = idem_key,
    attempts = attempts,
    elapsed = elapsed,
  }, Meta)
end

-- Sets a header, dropping any of the same name in another case: names are
-- case-insensitive, and libcurl would send both.
local function set_header(headers, name, value)
  local lower = name:lower()
  for k in pairs(headers) do
    if k ~= name and k:lower() == lower then headers[k] = nil end
  end
  headers[name] = value
end

-- The request headers, later ones replacing earlier ones of the same name in any
-- case: the User-Agent, the client's `headers`, the pipeline's own, the per-call ones.
-- The User-Agent goes as a header line: libcurl's CURLOPT_USERAGENT costs about
-- 5 k instructions more per request (it formats the header byte by byte).
function Client:_headers(req, opts, has_body, idem_key)
  local headers = { ["User-Agent"] = user_agent or client.user_agent() }
  for k, v in pairs(self.extra_headers) do set_header(headers, k, v) end
  if not req.anonymous then set_header(headers, "X-Api-Key", secret_keys[self]) end
  set_header(headers, "Aurous-Version", opts.version or self.version)
  set_header(headers, "Accept", "application/json")
  if has_body then
    set_header(headers, "Content-Type", "application/json")
  elseif BODY_METHODS[req.method] and not req.parts then
    -- no body: no type either (libcurl would send application/x-www-form-urlencoded)
    set_header(headers, "Content-Type", "")
  end
  if idem_key then set_header(headers, "Idempotency-Key", idem_key) end
  if opts.headers then
    for k, v in pairs(opts.headers) do set_header(headers, k, v) end
  end
  if req.anonymous then
    -- another host (a redirect target): no credential of any kind goes there
    for k in pairs(util.copy(headers)) do
      if SECRET_HEADERS[k:lower()] then headers[k] = nil end
    end
  end
  return headers
end

-- The core transfer options the client's requests share (`header_list`: "Name: value"
-- lines or a core HeaderList). `fresh_connect` when the request must not run twice:
-- libcurl silently resends on a reused connection that died first.
function Client:_shared_options(method, header_list, fresh_connect)
  return {
    method = method, headers = header_list,
    connect_timeout = self.connect_timeout, max_response_size = self.max_response_size,
    low_speed_limit = self._low_speed_limit, low_speed_time = self._low_speed_time,
    max_header_size = self.max_header_size,
    insecure = self.insecure or nil, cainfo = self.cainfo,
    fresh_connect = fresh_connect or nil,
  }
end

-- The core transfer options of one request: the shared ones, its URL and body or
-- parts, stream or output file; each attempt sets its own `timeout`.
function Client:_transfer_options(method, url, body, req, header_list, fresh_connect)
  local o = self:_shared_options(method, header_list, fresh_connect)
  o.url, o.body, o.parts, o.output_path = url, body, req.parts, req.output_path
  o.stream = req.stream and true or nil
  if req.max_response_size then o.max_response_size = req.max_response_size end
  return o
end

local FRESH = { bare = "bare, fresh", json = "json, fresh", empty = "empty, fresh" }

-- The core TransferTemplate of a usual request (the client's own headers; no parts,
-- stream or output file), built once per client, method, body shape and
-- fresh_connect: a transfer made from it reads no options table. The client's
-- options are read once, as its headers are.
function Client:_template(req, method, has_body, fresh_connect)
  local shape = has_body and "json" or (BODY_METHODS[method] and "empty" or "bare")
  local kind = fresh_connect and FRESH[shape] or shape
  local by_method = template_cache[self]
  local templates = by_method[method]
  if not templates then
    templates = {}
    by_method[method] = templates
  end
  local template = templates[kind]
  if not template then
    local lines = header_lines(self:_headers(req, NO_OPTIONS, has_body))
    template = core.transfer_template(self:_shared_options(method, lines, fresh_connect))
    templates[kind] = template
  end
  return template
end

-- What a finished attempt of a decoded call means: `result, nil` or `nil, err`.
local function interpret(status, body, raw_headers, request_id)
  if status >= 200 and status < 300 then
    if body == "" then return json.object{} end
    local value, derr = json.decode(body)
    if value == nil then
      return nil, errors.new{ type = "decode", code = "invalid_json", status = status,
        message = "the API answered " .. status .. " with a body that is not valid JSON: " .. tostring(derr),
        request_id = request_id }
    end
    return value
  end
  return nil, errors.of_response({ status = status, headers = core.parse_headers(raw_headers), body = body })
end

-- Statuses a raw request (downloads) retries like any other request.
local function raw_status_error(resp)
  local status = resp.status
  if status == 408 or status == 429 or (status >= 500 and status <= 599) then
    return errors.of_response(resp)
  end
  return nil
end

local send_checked

--- Sends one logical request through the pipeline, with retries.
-- `req`: method, path (or url), query (table), body (string), parts, json (table → body),
-- once (never repeated, whatever the method: a second try answers differently),
-- idempotent (bool: POST that takes an Idempotency-Key), retry_safe (a POST that may be
-- repeated without one), raw (return the core Response instead of decoding; 408, 429
-- and 5xx are still retried), stream + handlers, output_path, max_response_size, anonymous
-- (no API key), opts (per-call options).
-- Retries (see aurous.retry): up to `max_retries` more attempts of a request that cannot
-- execute twice, with backoff; the same Idempotency-Key on each; `deadline` bounds the
-- whole, waits included.
-- @return value, nil, meta  |  nil, err
function Client:send(req)
  -- base_url was checked by client.new: only the part given here is scanned
  if (req.url or req.path):find("[%c ]") then
    return nil, errors.argument("url", "must not contain spaces or control characters")
  end
  return send_checked(self, req)
end

-- The per-call options of `req`, checked: `opts, key` (the idempotency key that
-- opts.idempotency_key or a header gives, if any), or `nil, err`.
local function call_options(req)
  local opts, oerr = check_options(req.opts, CALL_OPTIONS, "opts")
  if not opts then return nil, oerr end
  if opts.headers then
    local ok, herr = check_header_table(opts.headers, "opts.headers")
    if not ok then return nil, herr end
  end
  if opts.version and not opts.version:match("^%d%d%d%d%-%d%d%-%d%d$") then
    return nil, errors.argument("opts.version", "must look like YYYY-MM-DD")
  end
  if opts.idempotency_key and not req.idempotent then
    return nil, errors.argument("opts.idempotency_key", "this call takes no idempotency key")
  end
  local given_key, key_arg = opts.idempotency_key, "opts.idempotency_key"
  if opts.headers then
    -- a key given as a header (or its documented aliases) is the request's key: the
    -- one sent as Idempotency-Key, reused by retries and reported by errors
    for name, v in pairs(opts.headers) do
      if KEY_HEADERS[name:lower()] then
        v = tostring(v)
        if given_key and given_key ~= v then
          return nil, errors.argument("opts.headers." .. name, "differs from the idempotency key given elsewhere")
        end
        given_key, key_arg = v, "opts.headers." .. name
      end
    end
  end
  if given_key and (#given_key < 1 or #given_key > 256 or given_key:find("%c")) then
    return nil, errors.argument(key_arg, "must be 1 to 256 characters without control characters")
  end
  for name, v in pairs(opts) do
    if NON_NEGATIVE[name] and (v ~= v or v < 0) then return nil, errors.argument("opts." .. name, "must be a non-negative number") end
    if name == "max_retries" and v == math.huge then return nil, errors.argument("opts.max_retries", "must be finite") end
  end
  return opts, given_key
end

-- Client:send after its URL scan; Client:call comes here directly, its path being
-- an endpoint's constant with checked and escaped values (the scan, a Lua pattern
-- over every byte, was about 1.5 % of a small request).
send_checked = function(self, req)
  local opts, given_key = NO_OPTIONS, nil
  if req.opts ~= nil then
    opts, given_key = call_options(req)
    if not opts then return nil, given_key end
  end
  local url = req.url or (self.base_url .. req.path)
  if req.query and next(req.query) then url = url .. "?" .. util.query(req.query) end
  local body = req.body
  if req.json then
    local encoded, jerr = json.encode(req.json)
    if not encoded then return nil, errors.argument("params", "cannot be sent as JSON: " .. tostring(jerr)) end
    body = encoded
  end
  local has_body = body ~= nil and body ~= ""
  local idem_key
  if req.idempotent then
    idem_key = given_key or util.uuid4() -- once per logical request, reused by every retry
  end
  local method = req.method or "GET"
  local safe = not req.once and (req.retry_safe or idem_key ~= nil or method == "GET" or method == "HEAD"
    or method == "PUT" or method == "DELETE" or method == "PATCH")
  local headers, topts, template
  if req.anonymous or opts.headers or opts.version or idem_key or req.parts or req.stream or req.output_path
      or req.max_response_size then
    headers = self:_headers(req, opts, has_body, idem_key)
    topts = self:_transfer_options(method, url, body, req, header_lines(headers), not safe)
  else
    template = self:_template(req, method, has_body, not safe) -- the usual request
  end
  local max_retries = math.floor(opts.max_retries or self.max_retries)
  local timeout = opts.timeout or self.timeout
  local deadline_s = opts.deadline or self.deadline
  local started = core.now()
  local deadline = deadline_s and (started + deadline_s)
  local attempt = 0
  local logging = self.log ~= nil
  local shown_url = logging and redacted_url(url)
  if logging and not headers then headers = self:_headers(req, opts, has_body, idem_key) end
  local last_err
  while true do
    attempt = attempt + 1
    local attempt_timeout = timeout
    local capped = false -- the deadline, not `timeout`, bounds this attempt
    if deadline then
      local left = deadline - core.now()
      if left <= 0 then
        local e = errors.new{ type = "timeout", code = "deadline_exceeded", retryable = false,
          idempotency_key = idem_key, attempts = attempt - 1, cause = last_err,
          message = string.format("deadline of %gs exceeded after %d attempt(s)%s", deadline_s, attempt - 1,
            last_err and (": " .. tostring(last_err.message)) or "") }
        self:_scrub_error(e)
        self:_log("aurous: %s %s: %s", method, shown_url, e.message)
        return nil, e
      end
      if attempt_timeout == 0 or left < attempt_timeout then attempt_timeout = left; capped = true end
    end
    if logging then
      self:_log("aurous: %s %s attempt %d/%s (timeout %gs)%s", method, shown_url, attempt, max_retries + 1,
        attempt_timeout, attempt == 1 and (" headers: " .. redacted_headers(headers)) or "")
    end
    local t0 = logging and core.now()
    local transfer
    if template then
      transfer = core.transfer(template, url, attempt_timeout, body)
    else
      topts.timeout = attempt_timeout
      transfer = core.transfer(topts)
    end
    -- a handler that raises (or a task cancel) propagates; the transfer is then collected
    local resp, terr = loop.perform(transfer, req.handlers, not req.raw)
    local status, reply_body, raw_headers, request_id, api_version, replayed
    if resp and not req.raw then
      -- a decoded call reads the transfer itself: no Response tables for it
      status, reply_body, raw_headers, request_id, api_version, replayed =
        transfer:reply("aurous-request-id", "aurous-version", "aurous-idempotent-replayed")
      if not status then resp, terr = nil, reply_body end
    elseif resp then
      status, request_id = resp.status, resp.headers["aurous-request-id"]
    end
    transfer:close()
    local value, err
    if not resp then
      err = errors.from_transfer(terr)
    elseif req.raw then
      value = resp
    else
      value, err = interpret(status, reply_body, raw_headers, request_id)
    end
    if logging then
      self:_log("aurous: %s %s -> %s (%.3fs) attempt %d%s", method, shown_url,
        status and tostring(status) or ((terr and terr.kind or "error") .. ": " .. tostring(terr and terr.message)),
        core.now() - t0, attempt, request_id and (" " .. request_id) or "")
    end
    if value ~= nil and req.raw and not req.stream then
      err = raw_status_error(value) -- 408/429/5xx: retried below like the decoded path
      if err and not (safe and retry.retryable(err, safe) and attempt <= max_retries) then
        err = nil -- the caller reads the status itself
      end
      if err then value = nil end
    end
    if value ~= nil then
      if req.raw then return value end
      return value, nil, response_meta(status, raw_headers, request_id, api_version, replayed, attempt, idem_key,
        core.now() - started)
    end
    -- the deadline cut this attempt short (not a stall or a connect timeout before it)
    if capped and err.type == "timeout" and not err.status and core.now() >= deadline - 0.05 then
      err.code = "deadline_exceeded"
      err.message = string.format("deadline of %gs exceeded during attempt %d: %s", deadline_s, attempt,
        tostring(err.message))
    end
    self:_scrub_error(err)
    err.idempotency_key = idem_key
    err.attempts = attempt
    err.retryable = retry.retryable(err, safe)
    if err.status == 409 and err.code == "idempotency_key_in_use" and idem_key and (not given_key or attempt > 1) then
      -- our own key with our own body: the first request is still running (REFERENCE §6)
      err.retryable = true
    end
    last_err = err
    local reason
    local wait
    if not err.retryable then
      if retry.retryable(err, true) then
        reason = method .. " without an idempotency key may have been executed"
        if not err.status or err.status >= 500 then -- 408 and 429 answer before running it
          err.may_have_executed = true
          err.message = err.message .. "; not retried: the request may have been executed (a "
            .. method .. " without an idempotency key), check before sending it again"
        end
      else
        reason = "not retryable"
      end
    elseif attempt > max_retries then
      reason = "max_retries (" .. max_retries .. ") reached"
    else
      wait = retry.delay(attempt, err, self.retry_policy)
      if not wait then
        reason = string.format("Retry-After %gs is over the %gs cap", err.retry_after,
          self.retry_policy.max_retry_after or retry.MAX_RETRY_AFTER)
      elseif deadline and core.now() + wait >= deadline then
        reason = string.format("waiting %.2fs would pass the deadline (%gs)", wait, deadline_s)
      end
    end
    if reason then
      self:_log("aurous: no retry (%s) after attempt %d: %s", reason, attempt, tostring(err))
      if req.raw and resp and err.status == resp.status then return resp end
      return nil, err
    end
    self:_log("aurous: retry %d/%s in %.2fs%s after: %s", attempt, max_retries, wait,
      err.retry_after and string.format(" (Retry-After %gs)", err.retry_after) or "", tostring(err))
    loop.sleep(wait)
  end
end

--- Calls an endpoint described as data (see resources/), checking arguments first.
-- `endpoint`: { method, path, query = schema, body = schema, idempotent, retry_safe }.
function Client:call(endpoint, path_values, params, opts)
  local path, perr = expand_path(endpoint.path, path_values)
  if not path then return nil, perr end
  local schema = endpoint.query or endpoint.body
  if not schema and params ~= nil and (type(params) ~= "table" or next(params) ~= nil) then
    -- most likely per-call options one slot too early: get(id, {timeout = 5})
    return nil, errors.argument("params", "this call takes no parameters; per-call options go after them: "
      .. "get(id, nil, opts), balance(nil, opts)")
  end
  local ok, verr = validate.check(schema, params, "params")
  if not ok then return nil, verr end
  local req = { method = endpoint.method, path = path, opts = opts,
    idempotent = endpoint.idempotent, retry_safe = endpoint.retry_safe, once = endpoint.once }
  if endpoint.method == "GET" or endpoint.method == "DELETE" then
    req.query = params
  elseif params and next(params) ~= nil then
    req.json = params
  elseif endpoint.body then
    req.json = json.object{}
  else
    req.body = ""
  end
  return send_checked(self, req)
end

client.Client = Client
return client
