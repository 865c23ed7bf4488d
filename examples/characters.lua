-- client.characters: a character from your own images (upload flow) and a
-- synthesized one (generate flow); list, update, delete.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/characters.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("characters example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local PNG = "\137PNG\r\n\26\n\0\0\0\rIHDR\0\0\0\1\0\0\0\1\8\6\0\0\0\31\21\196\137"
  .. "\0\0\0\rIDATx\156c\248\15\4\0\9\251\3\253\227U\242\156\0\0\0\0IEND\174B`\130"

-- 1. the upload flow: a ticket, then the bytes PUT to its signed URL (no API key goes
-- there); characters:upload does both (init_upload gives the ticket alone)
local ticket = check(client.characters:upload{ data = PNG, filename = "front.png" })
local pose = check(client.characters:classify_upload{ upload_id = ticket.upload_id })
print(("uploaded %s, looks like a %s view (%.0f%%)"):format(ticket.upload_id, pose.pose, pose.confidence * 100))

local mine = check(client.characters:create{ name = "Aurora", upload_ids = { ticket.upload_id } })
print(("created %s from uploads: %s, %d ref(s)"):format(mine.id, mine.status, #mine.refs))

-- 2. the generate flow: synthesis runs in the background; wait polls every 2 s
local synth = check(client.characters:create{
  name = "Nova", generate = true,
  attributes = { gender = "female", age = 28, hair_color = "black", additional_details = "warm smile" },
})
print(("created %s: %s"):format(synth.id, synth.status))
synth = check(client.characters:wait(synth, {
  timeout = 300,
  on_progress = function(c) print(("  %s is %s"):format(c.id, c.status)) end,
}))
if synth.status == "reviewing" then synth = check(client.characters:save(synth)) end
print(("%s is %s with %d ref(s)"):format(synth.id, synth.status, #synth.refs))

synth = check(client.characters:update(synth.id, { name = "Nova II" }))
print(("renamed to %s"):format(synth.name))

for c in client.characters:each{ limit = 50 } do print(("  %s %-10s %s"):format(c.id, c.status, c.name)) end

for _, c in ipairs({ mine, synth }) do
  check(client.characters:delete(c.id))
  print(("deleted %s"):format(c.id))
end
