--- `client.characters`: reusable identity assets (REFERENCE §11).
-- @module aurous.resources.characters
local schemas = require("aurous.resources.schemas")
local waiter = require("aurous.waiter")

local POSES = { "portrait", "front", "side", "back", "other" }
local EXT_TYPES = { jpeg = "image/jpeg", jpg = "image/jpeg", png = "image/png", webp = "image/webp" }

local characters = {}

--- Statuses at which `wait` stops (anything else keeps polling).
characters.TERMINAL = { ready = true, reviewing = true, failed = true, deleted = true }

local INIT_UPLOAD = {
  fields = {
    filename = { type = "string", required = true, min_len = 1, max_len = 120 },
    extension = { type = "string", required = true, enum = { "jpeg", "jpg", "png", "webp" } },
    content_type = { type = "string", required = true, enum = { "image/jpeg", "image/png", "image/webp" } },
  },
  rules = {
    function(p)
      if EXT_TYPES[p.extension] ~= p.content_type then
        return "content_type", "must match extension " .. p.extension .. " (" .. EXT_TYPES[p.extension] .. ")"
      end
    end,
  },
}

local CREATE = {
  fields = {
    upload_ids = { type = "array", min_items = 1, max_items = 6, items = { type = "string", min_len = 1 } },
    generate = { type = "boolean" },
    attributes = { type = "object" },
    name = { type = "string", min_len = 1 },
    client_reference_id = { type = "string", min_len = 1, max_len = 256 },
  },
  rules = {
    function(p)
      local uploads, gen = p.upload_ids ~= nil, p.generate == true
      if uploads == gen then
        return "upload_ids", "give exactly one of upload_ids (1 to 6 uploads) or generate = true with attributes"
      end
      if gen and p.attributes == nil then return "attributes", "is required with generate = true" end
    end,
  },
}

local UPDATE = {
  fields = { name = { type = "string", min_len = 1 }, attributes = { type = "object" } },
  rules = {
    function(p)
      local extra = {}
      for k in pairs(p) do if k ~= "name" and k ~= "attributes" then extra[#extra + 1] = tostring(k) end end
      table.sort(extra)
      if extra[1] then return extra[1], "cannot be changed (only name and attributes are mutable)" end
    end,
  },
}

characters.resource = {
  endpoints = {
    init_upload = { method = "POST", path = "/v1/characters/uploads/init", body = INIT_UPLOAD },
    classify_upload = { method = "POST", path = "/v1/characters/uploads/classify", retry_safe = true,
      body = { fields = { upload_id = { type = "string", required = true, min_len = 1 } } } },
    create = { method = "POST", path = "/v1/characters", body = CREATE },
    get = { method = "GET", path = "/v1/characters/{id}", param = "id" },
    list = { method = "GET", path = "/v1/characters", query = schemas.cursor_query(), paginated = "cursor" },
    update = { method = "PATCH", path = "/v1/characters/{id}", param = "id", body = UPDATE },
    save = { method = "POST", path = "/v1/characters/{id}/save", param = "id", retry_safe = true },
    regenerate_refs = { method = "POST", path = "/v1/characters/{id}/refs/regenerate", param = "id", idempotent = true,
      body = { fields = { pose = { type = "string", required = true, enum = POSES }, prompt_override = { type = "string" } } } },
    resynthesize = { method = "POST", path = "/v1/characters/{id}/resynthesize", param = "id", idempotent = true,
      body = { fields = { force_all = { type = "boolean" } } } },
    -- once: a repeated delete answers 404, which would hide that the first one worked
    delete = { method = "DELETE", path = "/v1/characters/{id}", param = "id", once = true },
  },
  each = { each = "list" },
  methods = {
    --- Polls every 2 s (as documented) until ready, reviewing, failed or deleted.
    wait = function(self, id_or_char, opts)
      return waiter.wait(function(id, request) return self:get(id, nil, request) end, id_or_char, opts,
        { terminal = characters.TERMINAL, interval = 2, max_interval = 2, backoff = 1, timeout = 600 })
    end,
  },
}

return characters
