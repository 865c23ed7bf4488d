-- client.images: estimate, create, wait, download, list, each, cancel.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/images.lua`,
-- or against the API with AUROUS_API_KEY set (and AUROUS_BASE_URL unset).
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("images example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local params = { prompt = "a red fox in the snow, golden hour", size = "2k_1_1", count = 2 }

local estimate = check(client.images:estimate(params))
print(("estimate: %s %s"):format(estimate.estimated_cost.amount, estimate.currency))

local gen = check(client.images:create(params))
print(("created %s (%s)"):format(gen.id, gen.status))

gen = check(client.images:wait(gen, {
  timeout = 300,
  on_progress = function(g) print(("  %s is %s"):format(g.id, g.status)) end,
}))
if gen.status ~= "succeeded" then
  io.stderr:write(("%s ended %s: %s\n"):format(gen.id, gen.status, tostring(gen.error_message)))
  os.exit(1)
end

for i = 1, #gen.output_urls do
  local path = os.tmpname() -- creates the file: the download replaces it
  local saved = check(client.images:download(gen, { index = i, path = path }))
  print(("saved output %d: %d bytes (%s) to %s"):format(i, saved.bytes, saved.content_type, saved.path))
  os.remove(path)
end

-- one page, then every generation through the iterator
local page = check(client.images:list{ limit = 5 })
print(("first page: %d generation(s), more: %s"):format(#page.data, tostring(page.has_more)))
local n = 0
for g in client.images:each{ limit = 100 } do
  n = n + 1
  if n <= 3 then print(("  %s %s %s"):format(g.id, g.media_type, g.status)) end
end
print(("%d generation(s) in the history"):format(n))

-- cancel one that is still running
local slow = check(client.images:create{ prompt = "a lighthouse in a storm [slow]" })
local cancelled, err = client.images:cancel(slow.id)
if cancelled then
  print(("cancelled %s: %s"):format(slow.id, cancelled.status))
else
  print(("could not cancel %s: %s"):format(slow.id, tostring(err)))  -- it may have finished already
end
