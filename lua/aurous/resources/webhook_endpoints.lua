--- `client.webhook_endpoints`: registered webhook receivers (REFERENCE §13, §0).
-- @module aurous.resources.webhook_endpoints
local schemas = require("aurous.resources.schemas")
local validate = require("aurous.validate")

local function https_url(required)
  return { type = "string", required = required, min_len = 1, max_len = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]://[^%s]+$",
    pattern_text = "must be an https:// URL (http:// is rejected by the API)" }
end

local function events(required)
  return { type = "array", required = required, min_items = 1, items = { type = "string", min_len = 1 } }
end

local function metadata_rule(p)
  local m = p.metadata
  if m == nil then return nil end
  local n = 0
  for k, v in pairs(m) do
    n = n + 1
    if type(k) ~= "string" then return "metadata", "keys must be strings" end
    if type(v) ~= "string" then return "metadata." .. k, "values must be strings" end
    if validate.utf8_len(v) > 500 then return "metadata." .. k, "must be at most 500 characters" end
  end
  if n > 50 then return "metadata", "takes at most 50 keys" end
end

local CREATE = {
  fields = { url = https_url(true), events = events(true), description = { type = "string" },
    metadata = { type = "object" } },
  rules = { metadata_rule },
}

local UPDATE = {
  fields = { url = https_url(false), events = events(false), description = { type = "string" },
    metadata = { type = "object" }, is_active = { type = "boolean" } },
  rules = { metadata_rule },
}

return {
  endpoints = {
    create = { method = "POST", path = "/v1/webhook_endpoints", body = CREATE },
    get = { method = "GET", path = "/v1/webhook_endpoints/{id}", param = "id" },
    list = { method = "GET", path = "/v1/webhook_endpoints", query = schemas.cursor_query(), paginated = "cursor" },
    update = { method = "PATCH", path = "/v1/webhook_endpoints/{id}", param = "id", body = UPDATE },
    delete = { method = "DELETE", path = "/v1/webhook_endpoints/{id}", param = "id" },
    rotate_secret = { method = "POST", path = "/v1/webhook_endpoints/{id}/rotate_secret", param = "id" },
    test = { method = "POST", path = "/v1/webhook_endpoints/{id}/test", param = "id",
      body = { fields = { event_type = { type = "string", required = true, min_len = 1 } } } },
    deliveries = { method = "GET", path = "/v1/webhook_endpoints/{id}/deliveries", param = "id",
      query = schemas.cursor_query(), paginated = "cursor" },
  },
  each = { each = "list", each_delivery = "deliveries" },
}
