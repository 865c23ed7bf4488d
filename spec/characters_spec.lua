-- client.characters: uploads, create (both flows), list, update, save, regenerate,
-- resynthesize, delete, wait.
local aurous = require("aurous")
local core = require("aurous.core")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.1, character_latency = 0.2 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local FAST = { interval = 0.05, timeout = 10 }
local ATTRS = { gender = "female", age = 28, hair_color = "black", additional_details = "warm smile" }

-- init_upload + the user's own PUT of the bytes; returns the ticket.
local function uploaded(filename)
  local ticket = assert(client.characters:init_upload{ filename = filename, extension = "png", content_type = "image/png" })
  local headers = {}
  for k, v in pairs(ticket.upload_headers) do headers[#headers + 1] = k .. ": " .. v end
  local t = core.transfer{ method = "PUT", url = ticket.upload_url, body = api.png(512, 512), headers = headers }
  local resp = assert(t:perform())
  t:close()
  assert.equal(200, resp.status)
  return ticket
end

describe("characters:upload (the ticket and the PUT in one call)", function()
  it("uploads data or a file, without the key on the PUT, ready for create", function()
    local ticket = assert(client.characters:upload{ data = api.png(512, 512), filename = "front.png" })
    assert.matches("^upl_", ticket.upload_id)
    local put = m:last_request()
    assert.equal("PUT", put.method)
    assert.is_nil(put.headers["x-api-key"])
    assert.equal("image/png", put.headers["content-type"])
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(api.png(512, 512))
    f:close()
    local renamed = path .. ".png"
    assert(os.rename(path, renamed))
    local second = assert(client.characters:upload{ path = renamed })
    os.remove(renamed)
    local char = assert(client.characters:create{ name = "Up", upload_ids = { ticket.upload_id, second.upload_id } })
    assert.matches("^char_", char.id)
  end)

  it("checks its arguments before any request", function()
    m:clear_requests()
    assert.equal("filename", api.fails(client.characters:upload{ data = "x", filename = "front.gif" }).param)
    assert.equal("path", api.fails(client.characters:upload{ data = "x", path = "/tmp/x.png" }).param)
    assert.equal("path", api.fails(client.characters:upload{ path = "/nonexistent/x.png" }).param)
    assert.equal("colour", api.fails(client.characters:upload{ data = "x", filename = "a.png", colour = 1 }).param)
    assert.equal(0, #m:requests())
  end)
end)

describe("the upload flow", function()
  it("init_upload returns a ticket; the PUT carries no key", function()
    local ticket, err = client.characters:init_upload{ filename = "front.png", extension = "png", content_type = "image/png" }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters/uploads/init", r.path)
    assert.same({ filename = "front.png", extension = "png", content_type = "image/png" }, r.json)
    assert.matches("^upl_", ticket.upload_id)
    assert.is_string(ticket.upload_url)
    assert.equal("image/png", ticket.upload_headers["Content-Type"])
    assert.is_string(ticket.expires_at)
    local t = core.transfer{ method = "PUT", url = ticket.upload_url, body = api.png(256, 256),
      headers = { "Content-Type: image/png" } }
    local resp = assert(t:perform())
    t:close()
    assert.equal(200, resp.status)
    local put = m:last_request()
    assert.equal("PUT", put.method)
    assert.equal("/_uploads/" .. ticket.upload_id, put.path)
    assert.is_nil(put.headers["x-api-key"])
    assert.equal(#api.png(256, 256), put.body_size)
  end)

  it("init_upload checks that the extension and content type match", function()
    local err = api.fails(client.characters:init_upload{ filename = "a.png", extension = "png", content_type = "image/jpeg" })
    assert.equal("invalid_argument", err.type)
    assert.equal("content_type", err.param)
    assert.equal(0, #m:requests())
  end)

  it("classify_upload guesses the pose", function()
    local ticket = uploaded("side-view.png")
    local c, err = client.characters:classify_upload{ upload_id = ticket.upload_id }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters/uploads/classify", r.path)
    assert.same({ upload_id = ticket.upload_id }, r.json)
    assert.equal(ticket.upload_id, c.upload_id)
    assert.equal("side", c.pose)
    assert.is_number(c.confidence)
  end)

  it("classify_upload of an upload never PUT is upload_invalid", function()
    local ticket = assert(client.characters:init_upload{ filename = "x.png", extension = "png", content_type = "image/png" })
    local err = api.fails(client.characters:classify_upload{ upload_id = ticket.upload_id })
    assert.equal("upload_invalid", err.code)
  end)

  it("create from upload_ids is ready at once", function()
    local a, b = uploaded("front.png"), uploaded("portrait.png")
    local char, err, meta = client.characters:create{ name = "Aurora", upload_ids = { a.upload_id, b.upload_id },
      client_reference_id = "ref-1" }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters", r.path)
    assert.same({ name = "Aurora", upload_ids = { a.upload_id, b.upload_id }, client_reference_id = "ref-1" }, r.json)
    assert.equal(201, meta.status)
    assert.matches("^char_", char.id)
    assert.equal("ready", char.status)
    assert.equal("Aurora", char.name)
    assert.equal("ref-1", char.client_reference_id)
    assert.equal(2, #char.refs)
    assert.equal("front", char.refs[1].pose)
    assert.equal("portrait", char.refs[2].pose)
  end)
end)

describe("the synthesis flow", function()
  it("create with generate → synthesizing → wait → ready", function()
    local char, err = client.characters:create{ name = "Nova", generate = true, attributes = ATTRS }
    assert.is_nil(err)
    assert.same({ name = "Nova", generate = true, attributes = ATTRS }, m:last_request().json)
    assert.equal("synthesizing", char.status)
    local seen = {}
    local done, werr = client.characters:wait(char.id, { interval = 0.05, timeout = 10,
      on_progress = function(c) seen[#seen + 1] = c.status end })
    assert.is_nil(werr)
    assert.equal("ready", done.status)
    assert.equal(4, #done.refs)
    assert.equal("ready", seen[#seen])
    assert.is_true(#seen >= 2)
    assert.same(ATTRS, done.attributes)
    local polls = api.requests_to(m, "GET", "^/v1/characters/char_")
    assert.equal(#seen, #polls)
  end)

  it("wait returns a failed synthesis, not an error", function()
    local char = assert(client.characters:create{ name = "Bad [fail]", generate = true, attributes = ATTRS })
    local done, err = client.characters:wait(char, FAST)
    assert.is_nil(err)
    assert.equal("failed", done.status)
    assert.is_string(done.error_message)
  end)

  it("wait times out with the last object", function()
    m:config{ character_latency = 5 }
    local char = assert(client.characters:create{ name = "Slow", generate = true, attributes = ATTRS })
    local err = api.fails(client.characters:wait(char.id, { interval = 0.05, timeout = 0.2 }))
    assert.equal("timeout", err.type)
    assert.equal("synthesizing", err.last.status)
  end)

  it("create checks exactly one of upload_ids or generate before any I/O", function()
    assert.equal("invalid_argument", api.fails(client.characters:create{ name = "x" }).type)
    assert.equal("invalid_argument", api.fails(client.characters:create{ generate = true, upload_ids = { "upl_1" }, attributes = {} }).type)
    assert.equal("attributes", api.fails(client.characters:create{ generate = true }).param)
    assert.equal(0, #m:requests())
  end)

  it("save turns a reviewing character ready", function()
    m:config{ character_review = true }
    local char = assert(client.characters:create{ name = "Rev", generate = true, attributes = ATTRS })
    local reviewing = assert(client.characters:wait(char.id, FAST))
    assert.equal("reviewing", reviewing.status)
    local saved, err = client.characters:save(char.id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters/" .. char.id .. "/save", r.path)
    assert.equal("ready", saved.status)
    -- idempotent on ready
    assert.equal("ready", assert(client.characters:save(saved)).status)
  end)

  it("save on a synthesizing character is an invalid_request", function()
    m:config{ character_latency = 5 }
    local char = assert(client.characters:create{ name = "S", generate = true, attributes = ATTRS })
    local err = api.fails(client.characters:save(char.id))
    assert.equal("invalid_request", err.type)
    assert.equal(400, err.status)
  end)

  it("regenerate_refs sends the pose and an Idempotency-Key", function()
    local char = assert(client.characters:create{ name = "R", upload_ids = { uploaded("front.png").upload_id } })
    local again, err = client.characters:regenerate_refs(char.id, { pose = "back" })
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters/" .. char.id .. "/refs/regenerate", r.path)
    assert.same({ pose = "back" }, r.json)
    assert.is_string(r.headers["idempotency-key"])
    assert.equal("synthesizing", again.status)
    local done = assert(client.characters:wait(char.id, FAST))
    assert.equal("ready", done.status)
    assert.equal("back", done.refs[#done.refs].pose)
    local perr = api.fails(client.characters:regenerate_refs(char.id, { pose = "upside-down" }))
    assert.equal("invalid_argument", perr.type)
  end)

  it("resynthesize sends force_all and an Idempotency-Key (the caller's when given)", function()
    local char = assert(client.characters:create{ name = "R", upload_ids = { uploaded("front.png").upload_id } })
    local again, err = client.characters:resynthesize(char.id, { force_all = true }, { idempotency_key = "resynth-1" })
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/characters/" .. char.id .. "/resynthesize", r.path)
    assert.same({ force_all = true }, r.json)
    assert.equal("resynth-1", r.headers["idempotency-key"])
    assert.equal("synthesizing", again.status)
    assert.equal(4, #assert(client.characters:wait(char.id, FAST)).refs)
    -- no params: an empty JSON object, still with a key
    assert(client.characters:resynthesize(char.id))
    local r2 = m:last_request()
    assert.same({}, r2.json)
    assert.is_string(r2.headers["idempotency-key"])
    assert.is_not.equal("resynth-1", r2.headers["idempotency-key"])
  end)

  it("resynthesize without the credits is insufficient_credits (402)", function()
    local char = assert(client.characters:create{ name = "R", upload_ids = { uploaded("front.png").upload_id } })
    m:config{ balance = 1 }
    local err = api.fails(client.characters:resynthesize(char.id, { force_all = false }))
    assert.equal(402, err.status)
    assert.equal("insufficient_credits", err.code)
  end)
end)

describe("get, list, each, update, delete", function()
  local chars
  before_each(function()
    chars = {}
    for i = 1, 5 do
      chars[i] = assert(client.characters:create{ name = "C" .. i, upload_ids = { uploaded("front.png").upload_id } })
    end
  end)

  it("get", function()
    local c, err = client.characters:get(chars[2].id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/characters/" .. chars[2].id, r.path)
    assert.equal("C2", c.name)
    assert.equal("character", c.object)
  end)

  it("list pages newest first; each walks them all", function()
    local page, err = client.characters:list{ limit = 2 }
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("/v1/characters", r.path)
    assert.same({ "2" }, r.query.limit)
    assert.same({ chars[5].id, chars[4].id }, api.ids(page.data))
    assert.is_true(page.has_more)
    assert.equal(chars[4].id, page.next_cursor)
    local p2 = assert(page:next())
    assert.same({ chars[4].id }, m:last_request().query.starting_after)
    assert.same({ chars[3].id, chars[2].id }, api.ids(p2.data))
    local p3 = assert(p2:next())
    assert.is_false(p3.has_more)
    assert.is_nil(p3:next())
    local seen = {}
    for c in client.characters:each{ limit = 2 } do seen[#seen + 1] = c.id end
    assert.same(api.reversed_ids(chars), seen)
  end)

  it("update changes name and attributes only", function()
    local c, err = client.characters:update(chars[1].id, { name = "Renamed", attributes = { age = 30 } })
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("PATCH", r.method)
    assert.equal("/v1/characters/" .. chars[1].id, r.path)
    assert.same({ name = "Renamed", attributes = { age = 30 } }, r.json)
    assert.equal("Renamed", c.name)
    assert.same({ age = 30 }, c.attributes)
    local uerr = api.fails(client.characters:update(chars[1].id, { status = "ready" }))
    assert.equal("invalid_argument", uerr.type)
    assert.equal("status", uerr.param)
  end)

  it("delete is sent once: a 503 is not retried (a repeat would answer 404)", function()
    m:fault{ method = "DELETE", path = "^/v1/characters/", action = "status", status = 503, times = 3 }
    local retrying = aurous.new{ api_key = m.api_key, base_url = m.url, max_retries = 2,
      retry = { base_delay = 0.01, max_delay = 0.02 } }
    local err = api.fails(retrying.characters:delete(chars[2].id))
    assert.equal(503, err.status)
    assert.equal(1, err.attempts)
    local deletes = 0
    for _, r in ipairs(m:requests()) do if r.method == "DELETE" then deletes = deletes + 1 end end
    assert.equal(1, deletes)
  end)

  it("delete soft-deletes: gone from get and list", function()
    local d, err = client.characters:delete(chars[3].id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("DELETE", r.method)
    assert.equal("/v1/characters/" .. chars[3].id, r.path)
    assert.is_true(d.deleted)
    assert.equal(chars[3].id, d.id)
    local gerr = api.fails(client.characters:get(chars[3].id))
    assert.equal("not_found", gerr.type)
    local n = 0
    for c in client.characters:each() do
      n = n + 1
      assert.is_not.equal(chars[3].id, c.id)
    end
    assert.equal(4, n)
    assert.truthy(aurous.errors.is(gerr))
  end)
end)
