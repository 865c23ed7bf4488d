--- `client.images` and `client.videos`: generation endpoints (REFERENCE §8, §9)
-- and their helpers (wait, download).
-- @module aurous.resources.generations
local download = require("aurous.download")
local errors = require("aurous.errors")
local schemas = require("aurous.resources.schemas")
local util = require("aurous.util")
local validate = require("aurous.validate")
local waiter = require("aurous.waiter")

local generations = {}

--- Terminal generation statuses; any other string means "keep polling".
generations.TERMINAL = { succeeded = true, failed = true, cancelled = true, expired = true,
  moderation_rejected = true }

local SIZE_RATIOS = { "1_1", "3_2", "2_3", "4_3", "3_4", "16_9", "9_16", "21_9" }
local SIZES = {}
for _, tier in ipairs({ "2k", "4k" }) do
  for _, r in ipairs(SIZE_RATIOS) do SIZES[#SIZES + 1] = tier .. "_" .. r end
end

local IMAGE_BODY = {
  fields = {
    prompt = { type = "string", required = true, min_len = 1, max_len = 4000, nonblank = true },
    negative_prompt = { type = "string", min_len = 1, max_len = 4000 },
    lora_id = { type = "string", min_len = 1 },
    width = { type = "integer", min = 1024, max = 4096 },
    height = { type = "integer", min = 1024, max = 4096 },
    size = { type = "string", enum = SIZES },
    steps = { type = "integer", min = 1, max = 100 },
    guidance_scale = { type = "number", min = 0.1, max = 30 },
    cfg_rescale = { type = "number" },
    denoise_strength = { type = "number" },
    seed = { type = "integer" },
    count = { type = "integer", min = 1 },
    enhance_prompt = { type = "boolean" },
    webhook_url = schemas.https_url,
    reference_image_urls = { type = "array", min_items = 1, items = schemas.image_source },
    character_id = { type = "string", min_len = 1 },
  },
  rules = {
    validate.exclusive("size", "width"),
    validate.exclusive("size", "height"),
    validate.together("width", "height"),
    validate.exclusive("character_id", "reference_image_urls"),
  },
}

local VIDEO_BODY = {
  fields = {
    video_lora_id = { type = "string", required = true, min_len = 1 },
    prompt = { type = "string" }, -- endpoints.json gives no limits for video prompts
    first_frame_url = schemas.image_source,
    last_frame_url = schemas.image_source,
    resolution = { type = "string", enum = { "480p", "720p", "1080p" } },
    ratio = { type = "string", enum = { "16:9", "4:3", "1:1", "3:4", "9:16", "21:9" } },
    duration = { type = "integer", min = 2, max = 12 },
    seed = { type = "integer" },
    camera_fixed = { type = "boolean" },
    watermark = { type = "boolean" },
    enhance_prompt = { type = "boolean" },
    webhook_url = schemas.https_url,
  },
  rules = {
    function(p)
      if p.last_frame_url ~= nil and p.first_frame_url == nil then
        return "last_frame_url", "needs first_frame_url (first + last frame interpolation)"
      end
    end,
  },
}

local WAIT_POLICY = { terminal = generations.TERMINAL, interval = 1, max_interval = 5, backoff = 1.5, timeout = 900 }

local function policy_for(self)
  local p = {}
  for k, v in pairs(WAIT_POLICY) do p[k] = v end
  p.cancel = function(id) return (self:cancel(id)) end
  return p
end

local function wait(self, id_or_gen, opts)
  return waiter.wait(function(id, request) return self:get(id, nil, request) end, id_or_gen, opts, policy_for(self))
end

-- The id and destination of a download call, or nil, err.
local function download_args(gen_or_id, opts)
  local id = type(gen_or_id) == "table" and gen_or_id.id or gen_or_id
  local ok, err = validate.id(id, "id")
  if not ok then return nil, err end
  if type(opts) ~= "table" then return nil, errors.argument("opts", "a table with path or sink is expected") end
  local dest, derr = download.destination(opts)
  if not dest then return nil, derr end
  return id, dest
end

--- Images: create, estimate, get, list, each, cancel, wait, download.
generations.images = {
  endpoints = {
    create = { method = "POST", path = "/v1/images", body = IMAGE_BODY, idempotent = true },
    estimate = { method = "POST", path = "/v1/images/estimate", body = IMAGE_BODY, retry_safe = true },
    get = { method = "GET", path = "/v1/images/{id}", param = "id" },
    list = { method = "GET", path = "/v1/images", query = schemas.cursor_query(nil, true), paginated = "cursor" },
    cancel = { method = "POST", path = "/v1/images/{id}/cancel", param = "id", retry_safe = true },
  },
  each = { each = "list" },
  methods = {
    wait = wait,
    --- Downloads output `index` (1-based) to `path` or `sink`.
    download = function(self, gen_or_id, opts)
      local id, dest = download_args(gen_or_id, opts)
      if not id then return nil, dest end
      local index = opts.index == nil and 1 or opts.index
      if type(index) ~= "number" or index < 1 or index ~= math.floor(index) then
        return nil, errors.argument("opts.index", "a whole number from 1 is expected (outputs are numbered from 1)")
      end
      if type(gen_or_id) == "table" and type(gen_or_id.output_urls) == "table" and #gen_or_id.output_urls > 0
        and index > #gen_or_id.output_urls then
        return nil, errors.argument("opts.index", "generation " .. id .. " has " .. #gen_or_id.output_urls .. " output(s), not " .. index)
      end
      return download.fetch(self._client, string.format("/v1/images/%s/output/%d", util.escape(id), index - 1), dest, opts)
    end,
  },
}

--- Videos: create, estimate, get, cancel, wait, download (polled through the images routes).
generations.videos = {
  endpoints = {
    create = { method = "POST", path = "/v1/videos", body = VIDEO_BODY, idempotent = true },
    estimate = { method = "POST", path = "/v1/videos/estimate", body = VIDEO_BODY, retry_safe = true },
    get = { method = "GET", path = "/v1/images/{id}", param = "id" },
    cancel = { method = "POST", path = "/v1/images/{id}/cancel", param = "id", retry_safe = true },
  },
  methods = {
    wait = wait,
    download = function(self, gen_or_id, opts)
      local id, dest = download_args(gen_or_id, opts)
      if not id then return nil, dest end
      if opts.index ~= nil and opts.index ~= 1 then return nil, errors.argument("opts.index", "a video has one output") end
      return download.fetch(self._client, "/v1/videos/" .. util.escape(id) .. "/output", dest, opts)
    end,
  },
}

return generations
