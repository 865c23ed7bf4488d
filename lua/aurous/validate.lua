--- Argument checks against an endpoint's field descriptions, before any I/O.
-- A field description: `{ type = "string"|"integer"|"number"|"boolean"|"array"|"object",
-- required, min, max, min_len, max_len, nonblank, enum = {…}, pattern, items = "string",
-- patterns = {…} (any one), min_items, max_items, comma_separated (an array that may
-- also come as "a,b") }`. A field the schema does not name is an error (a typo would
-- otherwise be sent, and ignored, on a paid call).
-- @module aurous.validate
local errors = require("aurous.errors")
local json = require("aurous.json")

local validate = {}

local function utf8_len(s)
  local n = 0
  for _ in s:gmatch("[^\128-\191]") do n = n + 1 end
  return n
end

-- An integer the encoder writes digit for digit: an integer subtype (5.3+), or a
-- float within ±2^53 (a larger one goes out in exponent form, not as the integer).
local function is_integer(v)
  if type(v) ~= "number" then return false end
  if math.type and math.type(v) == "integer" then return true end
  return v == math.floor(v) and v > -2^53 and v < 2^53
end

local function is_array(v)
  if type(v) ~= "table" then return false end
  if json.is_array(v) then return true end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- A table the encoder writes as a JSON array: marked as one, or a non-empty sequence.
local function encodes_as_array(v)
  return type(v) == "table" and (json.is_array(v) or (v[1] ~= nil and is_array(v)))
end

-- Neither NaN nor ±inf (numbers JSON cannot carry).
local function is_finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

local function describe(v)
  if v == json.null then return "null" end
  if type(v) == "number" and not is_integer(v) then
    if v == math.floor(v) and is_finite(v) then
      return "a float beyond 2^53 (it would be sent as " .. string.format("%.17g", v) .. ")"
    end
    return "number"
  end
  if type(v) == "number" then return "integer" end
  if encodes_as_array(v) then return "array" end
  return type(v)
end

local function check_type(spec, v)
  local t = spec.type
  if t == "string" then return type(v) == "string" end
  if t == "integer" then return is_integer(v) end
  if t == "number" then return type(v) == "number" and is_finite(v) end
  if t == "boolean" then return type(v) == "boolean" end
  if t == "array" then return is_array(v) end
  if t == "object" then return type(v) == "table" and not encodes_as_array(v) end
  return true
end

local function enum_text(enum)
  local q = {}
  for i, e in ipairs(enum) do q[i] = tostring(e) end
  return table.concat(q, ", ")
end

-- Checks one value; returns nil or a message.
local function check_value(spec, v)
  if spec.type == "array" and spec.comma_separated and type(v) == "string" then
    -- the API also takes the list as one comma-separated string: checked as the
    -- list it stands for, sent as given
    local items = {}
    for item in (v .. ","):gmatch("([^,]*),") do items[#items + 1] = item end
    v = items
  end
  if not check_type(spec, v) then
    return (spec.type == "integer" and "an integer" or ((spec.type == "array" or spec.type == "object") and "an " or "a ") .. spec.type)
      .. " is expected, got " .. describe(v)
  end
  if type(v) == "string" then
    local len = utf8_len(v)
    if spec.min_len and len < spec.min_len then return "must be at least " .. spec.min_len .. " characters" end
    if spec.max_len and len > spec.max_len then return "must be at most " .. spec.max_len .. " characters" end
    if spec.nonblank and not v:find("%S") then return "must not be blank" end
    if spec.pattern and not v:find(spec.pattern) then return spec.pattern_text or ("must match " .. spec.pattern) end
    if spec.patterns then
      local matched = false
      for _, p in ipairs(spec.patterns) do if v:find(p) then matched = true break end end
      if not matched then return spec.pattern_text or ("must match one of " .. table.concat(spec.patterns, " ")) end
    end
  end
  if type(v) == "number" then
    if spec.min and v < spec.min then return "must be between " .. spec.min .. " and " .. (spec.max or "∞") end
    if spec.max and v > spec.max then return "must be between " .. (spec.min or "-∞") .. " and " .. spec.max end
  end
  if spec.enum then
    local ok = false
    for _, e in ipairs(spec.enum) do if e == v then ok = true break end end
    if not ok then return "must be one of " .. enum_text(spec.enum) .. ", got " .. tostring(v) end
  end
  if spec.type == "array" then
    if spec.min_items and #v < spec.min_items then return "needs at least " .. spec.min_items .. " items" end
    if spec.max_items and #v > spec.max_items then return "takes at most " .. spec.max_items .. " items" end
    if spec.items then
      for i, item in ipairs(v) do
        local msg = check_value(spec.items, item)
        if msg then return "item " .. i .. " " .. msg end
      end
    end
  end
  return nil
end

-- schema → its field names in order (schemas are fixed tables: sorted once)
local sorted_names = setmetatable({}, { __mode = "k" })

--- Checks `params` against `schema` (`{ fields = {name = spec}, rules = {fn…} }`).
-- Each rule is `fn(params)` returning nil or `param, message`.
-- @return true, or `nil, err` (type `invalid_argument`, `param` the field)
function validate.check(schema, params, what)
  if params ~= nil and type(params) ~= "table" then
    return nil, errors.argument(what or "params", "a table is expected, got " .. type(params))
  end
  if not schema then return true end
  params = params or {}
  local names = sorted_names[schema]
  if not names then
    names = {}
    for name in pairs(schema.fields or {}) do names[#names + 1] = name end
    table.sort(names)
    sorted_names[schema] = names
  end
  local fields, unknown = schema.fields or {}, nil
  for k in pairs(params) do
    if not fields[k] and (unknown == nil or tostring(k) < tostring(unknown)) then unknown = k end
  end
  if unknown ~= nil then
    return nil, errors.argument(tostring(unknown), "is not a parameter of this call (it takes "
      .. (#names > 0 and table.concat(names, ", ") or "none") .. ")")
  end
  for _, name in ipairs(names) do
    local spec = schema.fields[name]
    local v = params[name]
    if v == nil then
      if spec.required then return nil, errors.argument(name, "is required") end
    else
      local msg = check_value(spec, v)
      if msg then return nil, errors.argument(name, msg) end
    end
  end
  for _, rule in ipairs(schema.rules or {}) do
    local param, msg = rule(params)
    if param then return nil, errors.argument(param, msg) end
  end
  return true
end

--- A rule: at most one of the named fields.
function validate.exclusive(a, b)
  return function(p)
    if p[a] ~= nil and p[b] ~= nil then return b, "cannot be combined with " .. a end
  end
end

--- A rule: both or neither of the named fields.
function validate.together(a, b)
  return function(p)
    if (p[a] == nil) ~= (p[b] == nil) then
      local missing = p[a] == nil and a or b
      return missing, "is required together with " .. (missing == a and b or a)
    end
  end
end

--- Checks the argument table of an upload (`files:upload`, `characters:upload`):
-- only the fields of `keys` ({name = type}), and exactly one of path or data.
-- @return true | nil, err
function validate.upload_params(params, keys, call)
  if type(params) ~= "table" then return nil, errors.argument("params", "a table is expected, got " .. type(params)) end
  for k, v in pairs(params) do
    local t = keys[k]
    if not t then return nil, errors.argument(tostring(k), "is not a field of " .. call) end
    if type(v) ~= t then return nil, errors.argument(k, "a " .. t .. " is expected, got " .. type(v)) end
  end
  if (params.path == nil) == (params.data == nil) then
    return nil, errors.argument("path", "give exactly one of path (a file name) or data (the bytes)")
  end
  return true
end

--- Checks a value that must be a non-empty string without control characters (ids).
function validate.id(value, name)
  if type(value) ~= "string" then
    return nil, errors.argument(name, "a string id is expected, got " .. type(value))
  end
  if value == "" then return nil, errors.argument(name, "must not be empty") end
  if value:find("%c") then return nil, errors.argument(name, "must not contain control characters") end
  -- escaping leaves these as they are, and URL resolution would drop the segment
  if value == "." or value == ".." then return nil, errors.argument(name, "is not an id") end
  return true
end

--- The number of UTF-8 characters of `s` (the API's string limits count characters).
validate.utf8_len = utf8_len

return validate
