--- `client.characters`: reusable identity assets (REFERENCE §11).
-- @module aurous.resources.characters
local errors = require("aurous.errors")
local schemas = require("aurous.resources.schemas")
local util = require("aurous.util")
local validate = require("aurous.validate")
local waiter = require("aurous.waiter")

local POSES = { "portrait", "front", "side", "back", "other" }
local EXT_TYPES = { jpeg = "image/jpeg", jpg = "image/jpeg", png = "image/png", webp = "image/webp" }

local characters = {}

local UPLOAD_KEYS = { path = "string", data = "string", filename = "string", content_type = "string" }

-- The bytes and the ticket fields of an upload: `{path=… | data=…, filename=, content_type=}`.
local function upload_source(params)
  local ok, err = validate.upload_params(params, UPLOAD_KEYS, "characters:upload")
  if not ok then return nil, err end
  local data = params.data
  if params.path then
    local f, ferr = io.open(params.path, "rb")
    if not f then return nil, errors.argument("path", "cannot open " .. params.path .. ": " .. tostring(ferr)) end
    local rerr
    data, rerr = f:read("*a")
    f:close()
    if data == nil then return nil, errors.argument("path", "cannot read " .. params.path .. ": " .. tostring(rerr)) end
  end
  if data == "" then return nil, errors.argument(params.path and "path" or "data", "is empty") end
  local filename = params.filename or (params.path and util.basename(params.path))
  local extension = filename and filename:match("%.(%w+)$")
  extension = extension and extension:lower()
  if not filename or not EXT_TYPES[extension] then
    return nil, errors.argument("filename", "a name ending in .png, .jpg, .jpeg or .webp is expected")
  end
  local content_type = params.content_type or EXT_TYPES[extension]
  return data, { filename = filename, extension = extension, content_type = content_type }
end

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
    --- Uploads one image for `create{upload_ids = …}`: takes a ticket (init_upload),
    -- then PUTs the bytes to its signed `upload_url` through the client's pipeline
    -- (retries, TLS options, logs), without the API key. `{path=… | data=…,
    -- filename= (default: the path's name), content_type= (default: from the
    -- extension)}`, opts (per-call options of both requests).
    -- @return the ticket (`upload_id`, …) | nil, err
    upload = function(self, params, opts)
      local data, fields = upload_source(params)
      if not data then return nil, fields end
      local ticket, err = self:init_upload(fields, opts)
      if not ticket then return nil, err end
      if type(ticket.upload_url) ~= "string" then
        return nil, errors.new{ type = "decode", code = "invalid_response", message = "the upload ticket has no upload_url" }
      end
      local headers = {}
      for name, value in pairs(type(ticket.upload_headers) == "table" and ticket.upload_headers or {}) do
        headers[name] = value
      end
      local has_type = false
      for name in pairs(headers) do if name:lower() == "content-type" then has_type = true end end
      if not has_type then headers["Content-Type"] = fields.content_type end
      local call = {}
      for k, v in pairs(opts or {}) do if k ~= "headers" and k ~= "idempotency_key" then call[k] = v end end
      call.headers = headers
      local resp, perr = self._client:send{ method = "PUT", url = ticket.upload_url, body = data, raw = true,
        anonymous = true, opts = call }
      if not resp then return nil, perr end
      if resp.status < 200 or resp.status >= 300 then
        return nil, self._client:_scrub_error(errors.of_response(resp))
      end
      return ticket
    end,

    --- Polls every 2 s (as documented) until ready, reviewing, failed or deleted.
    wait = function(self, id_or_char, opts)
      return waiter.wait(function(id, request) return self:get(id, nil, request) end, id_or_char, opts,
        { terminal = characters.TERMINAL, interval = 2, max_interval = 2, backoff = 1, timeout = 600 })
    end,
  },
}

return characters
