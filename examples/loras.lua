-- client.loras and client.video_loras: the styles a team can use, by id or slug.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/loras.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("loras example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

for _, ns in ipairs({ "loras", "video_loras" }) do
  local list = check(client[ns]:list())  -- a plain array, no paging
  print(("%s: %d"):format(ns, #list))
  for _, l in ipairs(list) do
    print(("  %-32s %-18s %s"):format(l.id, l.slug, l.is_public and "public" or "private"))
  end
  if list[1] then
    local by_slug = check(client[ns]:get(list[1].slug))  -- the id works too
    print(("  %s → %s: %s"):format(list[1].slug, by_slug.name, tostring(by_slug.description)))
  end
end

local _, err = client.loras:get("no-such-style")
print(("unknown slug: %s"):format(err and err.type or "found?"))
