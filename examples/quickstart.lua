-- The README's quickstart: create an image, wait for it, download it, print the balance.
-- Run against the bundled mock with `make demo`, or against the API with
-- AUROUS_API_KEY set (and AUROUS_BASE_URL unset).
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local gen, err = client.images:create{ prompt = "a red fox in the snow", size = "2k_1_1" }
if not gen then
  io.stderr:write(tostring(err), "\n")
  os.exit(1)
end
print(("created %s (%s)"):format(gen.id, gen.status))

gen = assert(client.images:wait(gen.id, {
  on_progress = function(g) print(("  %s is %s"):format(g.id, g.status)) end,
}))
print(("finished %s: %s, %d output(s)"):format(gen.id, gen.status, #(gen.output_urls or {})))

if gen.status == "succeeded" then
  local path = os.tmpname() -- a real script would keep "fox.png"
  local saved = assert(client.images:download(gen, { index = 1, path = path }))
  print(("saved %d bytes to %s"):format(saved.bytes, saved.path))
  os.remove(path)
end

local balance = assert(client.account:balance())
print(("balance: %s credits (%s available)"):format(balance.credits, balance.available_credits))
