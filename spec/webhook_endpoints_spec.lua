-- client.webhook_endpoints: create, get, list, each, update, delete, rotate_secret,
-- test, deliveries, each_delivery; deliveries verify with aurous.webhooks.
local aurous = require("aurous")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.1 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local URL = "https://api.acme.dev/aurous-webhook"

local function endpoint(extra)
  local params = { url = URL, events = { "image.completed", "image.failed" } }
  for k, v in pairs(extra or {}) do params[k] = v end
  return assert(client.webhook_endpoints:create(params))
end

describe("create and get", function()
  it("create shows the secret once", function()
    local params = { url = URL, events = { "image.completed", "video.failed" }, description = "Production",
      metadata = { team = "growth" } }
    local e, err, meta = client.webhook_endpoints:create(params)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/webhook_endpoints", r.path)
    assert.same(params, r.json)
    assert.equal(201, meta.status)
    assert.matches("^we_", e.id)
    assert.matches("^whsec_", e.secret)
    assert.equal(URL, e.url)
    assert.same({ "image.completed", "video.failed" }, e.events)
    assert.equal("growth", e.metadata.team)
    assert.is_true(e.is_active)
    assert.equal(0, e.consecutive_failures)
  end)

  it("refuses a sequence where an object is expected (it would go out as an array)", function()
    local _, err = client.webhook_endpoints:create{ url = URL, events = { "image.completed" }, metadata = { "a" } }
    assert.equal("invalid_argument", err.type)
    assert.equal("metadata", err.param)
    assert.matches("an object is expected, got array", err.message)
    assert.equal(0, #m:requests())
  end)

  it("counts metadata values in characters, as the API does", function()
    local e = assert(client.webhook_endpoints:create{ url = URL, events = { "image.completed" },
      metadata = { note = string.rep("é", 500) } })
    assert.equal(string.rep("é", 500), e.metadata.note)
    local _, err = client.webhook_endpoints:create{ url = URL, events = { "image.completed" },
      metadata = { note = string.rep("é", 501) } }
    assert.equal("invalid_argument", err.type)
    assert.equal("metadata.note", err.param)
  end)

  it("get never shows the secret", function()
    local e = endpoint()
    local got, err = client.webhook_endpoints:get(e.id)
    assert.is_nil(err)
    assert.equal("GET", m:last_request().method)
    assert.equal("/v1/webhook_endpoints/" .. e.id, m:last_request().path)
    assert.equal(aurous.null, got.secret)
    assert.is_string(got.secret_preview)
    assert.equal(e.id, got.id)
  end)

  it("checks the url and events before any I/O", function()
    assert.equal("url", api.fails(client.webhook_endpoints:create{ url = "http://insecure.example", events = { "*" } }).param)
    assert.equal("events", api.fails(client.webhook_endpoints:create{ url = URL }).param)
    assert.equal(0, #m:requests())
  end)

  it("events = {'*'} expands on the server", function()
    local e = endpoint{ events = { "*" } }
    assert.is_true(#e.events >= 8)
  end)
end)

describe("list and each", function()
  it("pages newest first", function()
    local made = {}
    for i = 1, 5 do made[i] = endpoint{ description = "e" .. i } end
    local page, err = client.webhook_endpoints:list{ limit = 2 }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/webhook_endpoints", r.path)
    assert.same({ "2" }, r.query.limit)
    assert.same({ made[5].id, made[4].id }, api.ids(page.data))
    assert.is_true(page.has_more)
    local p2 = assert(page:next())
    assert.same({ made[4].id }, m:last_request().query.starting_after)
    assert.same({ made[3].id, made[2].id }, api.ids(p2.data))
    local seen = {}
    for e in client.webhook_endpoints:each{ limit = 2 } do seen[#seen + 1] = e.id end
    assert.same(api.reversed_ids(made), seen)
    for e in client.webhook_endpoints:each() do assert.equal(aurous.null, e.secret) end
  end)
end)

describe("update and delete", function()
  it("update is partial; is_active=true resets the failure count", function()
    local e = endpoint()
    m:webhook_state(e.id, { consecutive_failures = 20, is_active = false })
    local u, err = client.webhook_endpoints:update(e.id, { is_active = true, description = "re-enabled" })
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("PATCH", r.method)
    assert.equal("/v1/webhook_endpoints/" .. e.id, r.path)
    assert.same({ is_active = true, description = "re-enabled" }, r.json)
    assert.is_true(u.is_active)
    assert.equal(0, u.consecutive_failures)
    assert.equal("re-enabled", u.description)
    assert.same({ "image.completed", "image.failed" }, u.events)
    local off = assert(client.webhook_endpoints:update(e, { is_active = false, events = { "video.completed" } }))
    assert.is_false(off.is_active)
    assert.same({ "video.completed" }, off.events)
  end)

  it("delete always answers 200: deleted true, then false", function()
    local e = endpoint()
    local d, err, meta = client.webhook_endpoints:delete(e.id)
    assert.is_nil(err)
    assert.equal(200, meta.status)
    local r = m:last_request()
    assert.equal("DELETE", r.method)
    assert.equal("/v1/webhook_endpoints/" .. e.id, r.path)
    assert.is_true(d.deleted)
    assert.equal(e.id, d.id)
    local d2, err2, meta2 = client.webhook_endpoints:delete(e.id)
    assert.is_nil(err2)
    assert.equal(200, meta2.status)
    assert.is_false(d2.deleted)
    assert.equal(aurous.null, d2.id)
    assert.equal("not_found", api.fails(client.webhook_endpoints:get(e.id)).type)
  end)
end)

describe("rotate_secret, test, deliveries", function()
  it("rotate_secret returns a new secret", function()
    local e = endpoint()
    local rotated, err = client.webhook_endpoints:rotate_secret(e.id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/webhook_endpoints/" .. e.id .. "/rotate_secret", r.path)
    assert.equal(0, r.body_size)
    assert.matches("^whsec_", rotated.secret)
    assert.is_not.equal(e.secret, rotated.secret)
  end)

  it("test fires a delivery that verifies with the endpoint's secret", function()
    local e = endpoint()
    local fired, err = client.webhook_endpoints:test(e.id, { event_type = "image.failed" })
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/webhook_endpoints/" .. e.id .. "/test", r.path)
    assert.same({ event_type = "image.failed" }, r.json)
    assert.equal("webhook_test_fire", fired.object)
    assert.equal(e.id, fired.endpoint_id)
    assert.matches("^evt_", fired.event_id)
    assert.is_true(fired.enqueued)

    local page = assert(client.webhook_endpoints:deliveries(e.id))
    assert.equal("/v1/webhook_endpoints/" .. e.id .. "/deliveries", m:last_request().path)
    assert.equal(1, #page.data)
    local row = page.data[1]
    assert.equal(fired.event_id, row.event_id)
    local event, verr = aurous.webhooks.verify(row.payload, row.signature, e.secret)
    assert.is_nil(verr)
    assert.equal(fired.event_id, event.id)
    assert.equal("image.failed", event.type)
    assert.is_true(event.synthetic)
    -- a wrong secret does not verify
    local bad, berr = aurous.webhooks.verify(row.payload, row.signature, "whsec_wrong")
    assert.is_nil(bad)
    assert.equal("no_matching_signature", berr.code)
    -- after a rotation, the new secret signs
    local rotated = assert(client.webhook_endpoints:rotate_secret(e.id))
    assert(client.webhook_endpoints:test(e.id, { event_type = "image.completed" }))
    local newest = assert(client.webhook_endpoints:deliveries(e.id, { limit = 1 })).data[1]
    assert.equal("image.completed", newest.event_type)
    assert.truthy(aurous.webhooks.verify(newest.payload, newest.signature, { rotated.secret, e.secret }))
    assert.is_nil((aurous.webhooks.verify(newest.payload, newest.signature, e.secret)))
  end)

  it("test of an event the endpoint does not take is an invalid_request", function()
    local e = endpoint()
    local err = api.fails(client.webhook_endpoints:test(e.id, { event_type = "video.completed" }))
    assert.equal("invalid_request", err.type)
    assert.equal("event_type", err.param)
    assert.equal("event_type", api.fails(client.webhook_endpoints:test(e.id, {})).param)
  end)

  it("deliveries page and each_delivery walks them", function()
    local e = endpoint()
    local events = {}
    for i = 1, 5 do
      events[i] = assert(client.webhook_endpoints:test(e.id, { event_type = i % 2 == 0 and "image.failed" or "image.completed" })).event_id
    end
    local page = assert(client.webhook_endpoints:deliveries(e.id, { limit = 2 }))
    assert.same({ "2" }, m:last_request().query.limit)
    assert.equal(events[5], page.data[1].event_id)
    assert.is_true(page.has_more)
    local p2 = assert(page:next())
    assert.equal("/v1/webhook_endpoints/" .. e.id .. "/deliveries", m:last_request().path)
    assert.same({ page.next_cursor }, m:last_request().query.starting_after)
    assert.equal(events[3], p2.data[1].event_id)
    local seen = {}
    for row in client.webhook_endpoints:each_delivery(e.id, { limit = 2 }) do
      seen[#seen + 1] = row.event_id
      assert.truthy(aurous.webhooks.verify(row.payload, row.signature, e.secret))
    end
    assert.same({ events[5], events[4], events[3], events[2], events[1] }, seen)
    assert.equal(3, #api.requests_to(m, "GET", "/deliveries$") - 2)
  end)
end)
