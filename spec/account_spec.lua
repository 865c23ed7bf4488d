-- client.account and client.ledger: balance, team, pricing, usage (page_token),
-- usage events (cursor), the credit ledger; holds and 402.
local aurous = require("aurous")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.1 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local FAST = { interval = 0.05, timeout = 10 }

describe("balance and team", function()
  it("balance", function()
    local b, err, meta = client.account:balance()
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/balance", r.path)
    assert.equal(200, meta.status)
    assert.equal(1000, b.credits)
    assert.equal(0, b.held_credits)
    assert.equal(1000, b.available_credits)
    assert.equal("credit", b.currency)
    assert.equal("metered", b.billing_mode)
  end)

  it("a create holds credits until the generation settles", function()
    local gen = assert(client.images:create{ prompt = "fox", count = 2 })
    local b = assert(client.account:balance())
    assert.equal(2, b.held_credits)
    assert.equal(1000, b.credits)
    assert.equal(998, b.available_credits)
    assert(client.images:wait(gen.id, FAST))
    local after = assert(client.account:balance())
    assert.equal(0, after.held_credits)
    assert.equal(998, after.credits)
    -- a failed generation releases its hold
    local failed = assert(client.images:create{ prompt = "fox [fail]" })
    assert.equal(1, assert(client.account:balance()).held_credits)
    assert(client.images:wait(failed.id, FAST))
    assert.equal(998, assert(client.account:balance()).credits)
  end)

  it("402 balance_too_low when the available credits are short", function()
    m:config{ balance = 1 }
    assert(client.images:create{ prompt = "fox" }) -- holds the last credit
    local err = api.fails(client.images:create{ prompt = "fox again" })
    assert.equal(402, err.status)
    assert.equal("invalid_request", err.type)
    assert.equal("balance_too_low", err.code)
    assert.is_false(err.retryable)
  end)

  it("team", function()
    local t, err = client.account:team()
    assert.is_nil(err)
    assert.equal("/v1/team", m:last_request().path)
    assert.matches("^team_", t.id)
    assert.is_string(t.name)
    assert.is_number(t.credits)
    assert.is_string(t.billing_email)
  end)
end)

describe("pricing", function()
  it("returns the rate card of the pinned version", function()
    local p, err = client.account:pricing()
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("/v1/pricing", r.path)
    assert.equal("2026-05-15", r.headers["aurous-version"])
    assert.equal("pricing", p.object)
    assert.equal("2026-05-15", p.version)
    assert.equal(1, p.image.base)
    assert.equal(0.5, p.video.base_per_second)
    assert.equal(2.5, p.video.resolution_factor["1080p"])
  end)

  it("an unknown pinned version is invalid_request unknown_version", function()
    local err = api.fails(client.account:pricing(nil, { version = "2031-01-01" }))
    assert.equal("2031-01-01", m:last_request().headers["aurous-version"])
    assert.equal("invalid_request", err.type)
    assert.equal("unknown_version", err.code)
    assert.equal(400, err.status)
    local pinned = aurous.new{ api_key = m.api_key, base_url = m.url, version = "2030-12-31" }
    assert.equal("unknown_version", api.fails(pinned.account:pricing()).code)
  end)
end)

describe("usage (page_token paging)", function()
  it("page:next() sends page_token until has_more is false", function()
    assert(client.images:create{ prompt = "fox" })
    local start = api.ago(7 * 86400 + 60)
    local page, err = client.account:usage{ start_time = start, bucket_width = "1d", limit = 3, group_by = { "type" } }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/usage", r.path)
    assert.same({ start }, r.query.start_time)
    assert.same({ "1d" }, r.query.bucket_width)
    assert.same({ "3" }, r.query.limit)
    assert.same({ "type" }, r.query["group_by[]"])
    assert.is_nil(r.query.page_token)
    assert.equal(3, #page.data)
    assert.is_true(page.has_more)
    assert.is_string(page.next_page)
    assert.equal("usage.bucket", page.data[1].object)
    -- the newest bucket has the generation
    local g = page.data[1].groups[1]
    assert.equal("t2i", g.key.type)
    assert.equal(1, g.metrics.request_count)
    local pages, buckets = 1, #page.data
    while page.has_more do
      local token = page.next_page
      page = assert(page:next())
      pages = pages + 1
      buckets = buckets + #page.data
      local q = m:last_request().query
      assert.same({ token }, q.page_token)
      assert.same({ start }, q.start_time)
      assert.same({ "type" }, q["group_by[]"])
    end
    assert.equal(aurous.null, page.next_page)
    assert.is_nil(page:next())
    assert.equal(3, pages)
    assert.equal(8, buckets)
  end)

  it("checks start_time before any I/O", function()
    assert.equal("start_time", api.fails(client.account:usage{}).param)
    assert.equal("start_time", api.fails(client.account:usage{ start_time = "yesterday" }).param)
    assert.equal(0, #m:requests())
  end)

  it("takes filters as lists or comma-separated strings, and RFC 3339 in either case", function()
    local start = "2026-05-01t00:00:00z"
    assert(client.account:usage{ start_time = start, status = "failed,succeeded", group_by = "type,status" })
    local q = m:last_request().query
    assert.same({ "failed,succeeded" }, q.status)
    assert.same({ "type,status" }, q.group_by)
    assert(client.account:usage{ start_time = start, status = { "failed", "succeeded" } })
    assert.same({ "failed", "succeeded" }, m:last_request().query["status[]"])
    m:clear_requests()
    -- checked as the list they stand for
    assert.equal("group_by", api.fails(client.account:usage{ start_time = start, group_by = "type,status,model" }).param)
    assert.equal("group_by", api.fails(client.account:usage{ start_time = start, group_by = "type,colour" }).param)
    assert.equal("group_by", api.fails(client.account:usage{ start_time = start, group_by = "type, status" }).param)
    assert.equal(0, #m:requests())
  end)
end)

describe("usage_events (cursor paging)", function()
  it("page:next() sends cursor", function()
    local made = api.create_images(client, 5, "ev")
    local start = api.ago(3600)
    local page, err = client.account:usage_events{ start_time = start, limit = 2, type = "image" }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("/v1/usage/events", r.path)
    assert.same({ "image" }, r.query.type)
    assert.same({ "2" }, r.query.limit)
    assert.same({ made[5].id, made[4].id }, api.ids(page.data))
    assert.equal("usage_event", page.data[1].object)
    assert.is_true(page.has_more)
    local seen = api.ids(page.data)
    while true do
      local cursor = page.next_cursor
      local nextp = page:next()
      if not nextp then break end
      assert.same({ cursor }, m:last_request().query.cursor)
      assert.same({ "image" }, m:last_request().query.type)
      for _, e in ipairs(nextp.data) do seen[#seen + 1] = e.id end
      page = nextp
    end
    assert.is_false(page.has_more)
    assert.same(api.reversed_ids(made), seen)
  end)
end)

describe("ledger", function()
  it("list, each and the type filter", function()
    local gens = api.create_images(client, 3, "led")
    for _, g in ipairs(gens) do assert(client.images:wait(g.id, FAST)) end
    local page, err = client.ledger:list{ limit = 4 }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/ledger", r.path)
    assert.same({ "4" }, r.query.limit)
    assert.equal(4, #page.data)
    assert.is_true(page.has_more)
    assert.equal("ledger_event", page.data[1].object)
    assert.matches("^uev_", page.data[1].id)
    -- 1 top-up + 3 holds + 3 charges
    local all = {}
    for e in client.ledger:each{ limit = 3 } do all[#all + 1] = e end
    assert.equal(7, #all)
    assert.equal("topup", all[7].type)
    local holds = {}
    for e in client.ledger:each{ type = "hold" } do holds[#holds + 1] = e end
    assert.equal(3, #holds)
    assert.same({ "hold" }, m:last_request().query.type)
    for _, h in ipairs(holds) do
      assert.equal("hold", h.type)
      assert.equal(1, h.amount)
      assert.matches("^hold_", h.hold_id)
    end
    local charges = assert(client.ledger:list{ type = "charge", limit = 2 })
    assert.equal(2, #charges.data)
    assert.equal(gens[3].id, charges.data[1].generation_id)
    local more = assert(charges:next())
    assert.same({ "charge" }, m:last_request().query.type)
    assert.equal(gens[1].id, more.data[1].generation_id)
    assert.equal("type", api.fails(client.ledger:list{ type = "gift" }).param)
  end)
end)
