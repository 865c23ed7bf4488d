-- client.webhook_endpoints and aurous.webhooks: register an endpoint, fire a test
-- event, check its signature, rotate the secret, clean up; then the receiver's side.
-- Run against the bundled mock with `scripts/with-mock lua5.4 examples/webhooks.lua`.
local aurous = require("aurous")

local client = aurous.new{}  -- api_key from AUROUS_API_KEY, base_url from AUROUS_BASE_URL

local function check(value, err)
  if value == nil then
    io.stderr:write("webhooks example failed: ", tostring(err), "\n")
    os.exit(1)
  end
  return value
end

local endpoint = check(client.webhook_endpoints:create{
  url = "https://example.com/aurous-webhook", events = { "image.completed", "image.failed" },
  description = "example endpoint",
})
local secret = endpoint.secret  -- shown once: store it now
print(("created %s for %s (secret %s)"):format(endpoint.id, endpoint.url, endpoint.secret_preview))

local fired = check(client.webhook_endpoints:test(endpoint.id, { event_type = "image.completed" }))
print(("test event %s enqueued"):format(fired.event_id))

for d in client.webhook_endpoints:each_delivery(endpoint.id) do
  local line = ("  delivery %s %s -> %s"):format(d.event_id, d.event_type, tostring(d.status_code))
  if d.payload and d.signature then  -- the mock shows what it sent
    local event, err = aurous.webhooks.verify(d.payload, d.signature, secret)
    line = line .. (event and (", signature ok (" .. event.type .. ")") or (", signature BAD: " .. tostring(err)))
    if not event then print(line) os.exit(1) end
  end
  print(line)
end

local rotated = check(client.webhook_endpoints:rotate_secret(endpoint.id))
print(("rotated: new secret %s; the old one stays valid for 24 h"):format(rotated.secret_preview))
check(client.webhook_endpoints:update(endpoint.id, { description = "rotated", is_active = true }))

for e in client.webhook_endpoints:each() do print(("  %s %s active=%s"):format(e.id, e.url, tostring(e.is_active))) end

local gone = check(client.webhook_endpoints:delete(endpoint.id))
print(("deleted %s: %s"):format(endpoint.id, tostring(gone.deleted)))

-- The receiver: verify the raw body with the Aurous-Webhook-Signature header before
-- parsing it. During the 24 h after a rotation, pass the new and the old secret.
local body = '{"id":"evt_example","type":"image.completed","data":{"object":{"id":"img_1"}}}'
local header = aurous.webhooks.sign(body, rotated.secret)  -- what the API would send
local event, err = aurous.webhooks.verify(body, header, { rotated.secret, secret })
if not event then
  io.stderr:write("verify failed: ", tostring(err), "\n")
  os.exit(1)
end
print(("receiver: verified %s (%s)"):format(event.id, event.type))
local forged = aurous.webhooks.verify(body:gsub("img_1", "img_2"), header, rotated.secret)
print(("receiver: a tampered body is %s"):format(forged and "accepted?!" or "rejected"))
if forged then os.exit(1) end
