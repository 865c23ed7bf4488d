-- client.account and client.ledger: balance, team, pricing, usage, usage events, ledger.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/account.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("account example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local team = check(client.account:team())
print(("team %s (%s), billing %s"):format(team.name, team.id, tostring(team.billing_mode)))

local balance = check(client.account:balance())
print(("balance: %s credits, %s held, %s available"):format(balance.credits, balance.held_credits, balance.available_credits))

local pricing = check(client.account:pricing())
print(("pricing %s: image base %s, video %s/s at 480p"):format(pricing.version, pricing.image.base,
  pricing.video.base_per_second))

local since = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 7 * 86400)

-- usage buckets page with a page token: page:next() until it returns nil
local page = check(client.account:usage{ start_time = since, bucket_width = "1d", group_by = { "type" }, limit = 3 })
local buckets, requests = 0, 0
while page do
  for _, bucket in ipairs(page.data) do
    buckets = buckets + 1
    for _, group in ipairs(bucket.groups) do requests = requests + group.metrics.request_count end
  end
  local err
  page, err = page:next()
  if err then check(nil, err) end
end
print(("usage: %d daily bucket(s), %d request(s)"):format(buckets, requests))

local events = check(client.account:usage_events{ start_time = since, limit = 10 })
print(("usage events: %d on the first page"):format(#events.data))

local n = 0
for entry in client.ledger:each{ limit = 50 } do
  n = n + 1
  if n <= 5 then print(("  %s %-10s %8s  %s"):format(entry.id, entry.type, entry.amount, tostring(entry.description))) end
end
print(("ledger: %d entr%s"):format(n, n == 1 and "y" or "ies"))
