--- aurous: the Lua client for the Aurous Labs v1 API.
--
--     local aurous = require("aurous")
--     local client = aurous.new{ api_key = os.getenv("AUROUS_API_KEY") }
--     local gen, err = client.images:create{ prompt = "a red fox", size = "2k_1_1" }
--
-- @module aurous
local account = require("aurous.resources.account")
local characters = require("aurous.resources.characters")
local client = require("aurous.client")
local errors = require("aurous.errors")
local files = require("aurous.resources.files")
local generations = require("aurous.resources.generations")
local json = require("aurous.json")
local loop = require("aurous.loop")
local loras = require("aurous.resources.loras")
local resource = require("aurous.resource")
local webhook_endpoints = require("aurous.resources.webhook_endpoints")
local webhooks = require("aurous.webhooks")

local aurous = {
  VERSION = client.VERSION,
  user_agent = client.user_agent,
  null = json.null,
  json = json,
  webhooks = webhooks,
  errors = errors,
  spawn = loop.spawn,
  run = loop.run,
  step = loop.step,
  sleep = loop.sleep,
  gather = loop.gather,
  pending = loop.pending,
}

-- Every namespace of a client, as a description for resource.build.
local NAMESPACES = {
  images = generations.images,
  videos = generations.videos,
  files = files.resource,
  characters = characters.resource,
  loras = loras.loras,
  video_loras = loras.video_loras,
  webhook_endpoints = webhook_endpoints,
  account = account.account,
  ledger = account.ledger,
}
aurous.NAMESPACES = NAMESPACES

--- Creates a client (see README for options): `client.images`, `client.videos`, …
function aurous.new(opts)
  if opts == aurous then error("aurous.new: call it with '.', not ':' (aurous.new{ ... })", 2) end
  local ok, c = pcall(client.new, opts)
  if not ok then error(c, 2) end
  for name, description in pairs(NAMESPACES) do
    c[name] = resource.build(c, description, name)
  end
  return c
end

return aurous
