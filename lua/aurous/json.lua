--- The JSON codec, public as `aurous.json`.
-- `decode(s)` → value or `nil, message`; `encode(v)` → string or `nil, message`;
-- `array(t)` / `object(t)` mark a table so that an empty one keeps its kind;
-- `null` stands for JSON null.
-- @module aurous.json
local core = require("aurous.core")

local json = {
  null = core.null,
  decode = core.json_decode,
  encode = core.json_encode,
}

--- Marks `t` (or a new table) as a JSON array.
function json.array(t)
  if t ~= nil and type(t) ~= "table" then error("bad argument #1 to 'array' (table expected, got " .. type(t) .. ")", 2) end
  return setmetatable(t or {}, core.json_array_mt)
end

--- Marks `t` (or a new table) as a JSON object.
function json.object(t)
  if t ~= nil and type(t) ~= "table" then error("bad argument #1 to 'object' (table expected, got " .. type(t) .. ")", 2) end
  return setmetatable(t or {}, core.json_object_mt)
end

--- True when `t` was decoded from, or marked as, a JSON array.
function json.is_array(t)
  return getmetatable(t) == core.json_array_mt
end

return json
