--- `client.files`: reference-file uploads (REFERENCE §10).
-- @module aurous.resources.files
local errors = require("aurous.errors")
local json = require("aurous.json")
local util = require("aurous.util")
local validate = require("aurous.validate")

local files = {}

files.MAX_BYTES = 10 * 1024 * 1024
local PURPOSES = { reference = true, first_frame = true, last_frame = true }

--- The media type of an image from its first bytes, or nil.
function files.sniff(head)
  if head:sub(1, 8) == "\137PNG\r\n\26\n" then return "image/png", "png" end
  if head:sub(1, 3) == "\255\216\255" then return "image/jpeg", "jpg" end
  if head:sub(1, 4) == "RIFF" and head:sub(9, 12) == "WEBP" then return "image/webp", "webp" end
  return nil
end

local UPLOAD_KEYS = { path = "string", data = "string", filename = "string", purpose = "string",
  metadata = "table", on_progress = "function" }

-- Checks the upload arguments; returns the multipart parts or nil, err.
local function upload_parts(params)
  local ok, err = validate.upload_params(params, UPLOAD_KEYS, "files:upload")
  if not ok then return nil, err end
  if params.purpose == nil then return nil, errors.argument("purpose", "is required (reference, first_frame or last_frame)") end
  if not PURPOSES[params.purpose] then
    return nil, errors.argument("purpose", "must be one of reference, first_frame, last_frame, got " .. params.purpose)
  end
  local head, size
  if params.path then
    local f, ferr = io.open(params.path, "rb")
    if not f then return nil, errors.argument("path", "cannot open " .. params.path .. ": " .. tostring(ferr)) end
    local rerr
    head, rerr = f:read(16) -- nil at the end of an empty file; nil and a message for a directory
    if head == nil and rerr then
      f:close()
      return nil, errors.argument("path", "cannot read " .. params.path .. ": " .. tostring(rerr))
    end
    head = head or ""
    size = f:seek("end")
    f:close()
  else
    head, size = params.data:sub(1, 16), #params.data
  end
  if size == 0 then return nil, errors.argument(params.path and "path" or "data", "the file is empty") end
  if size > files.MAX_BYTES then
    return nil, errors.argument(params.path and "path" or "data",
      string.format("the file is %d bytes; the API takes at most 10 MB (%d bytes)", size, files.MAX_BYTES))
  end
  local content_type, ext = files.sniff(head)
  if not content_type then
    return nil, errors.argument(params.path and "path" or "data", "is not a PNG, JPEG or WebP image (checked by its first bytes)")
  end
  local filename = params.filename or (params.path and util.basename(params.path)) or ("upload." .. ext)
  if filename == "" or filename:find("[%c\"]") then
    return nil, errors.argument("filename", "must be a non-empty name without quotes or control characters")
  end
  local file_part = { name = "file", filename = filename, content_type = content_type }
  if params.path then file_part.path = params.path else file_part.data = params.data end
  local parts = { file_part, { name = "purpose", data = params.purpose } }
  if params.metadata ~= nil then
    if json.is_array(params.metadata) or (next(params.metadata) ~= nil and #params.metadata > 0) then
      return nil, errors.argument("metadata", "a table of string keys is expected (a JSON object)")
    end
    local encoded, jerr = json.encode(json.object(util.copy(params.metadata)))
    if not encoded then return nil, errors.argument("metadata", "cannot be encoded as JSON: " .. jerr) end
    parts[#parts + 1] = { name = "metadata", data = encoded, content_type = "application/json" }
  end
  return parts
end

files.resource = {
  endpoints = {
    get = { method = "GET", path = "/v1/files/{id}", param = "id" },
    delete = { method = "DELETE", path = "/v1/files/{id}", param = "id" },
  },
  methods = {
    --- Uploads `{path=… | data=…, purpose=, filename=, metadata=, on_progress=fn(sent, total)}`.
    upload = function(self, params, opts)
      local parts, err = upload_parts(params)
      if not parts then return nil, err end
      local handlers
      if params.on_progress then
        local cb = params.on_progress
        handlers = { on_progress = function(_, _, ulnow, ultotal) cb(ulnow, ultotal) end }
      end
      return self._client:send{ method = "POST", path = "/v1/files", parts = parts, idempotent = true,
        opts = opts, handlers = handlers }
    end,
  },
}

return files
