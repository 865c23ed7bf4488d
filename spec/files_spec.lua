-- client.files: multipart uploads from a path or bytes, get, delete.
local aurous = require("aurous")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.1 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

describe("files:upload", function()
  it("uploads from a path: part names, filename, content type, purpose, metadata", function()
    local path = api.tmpname(".png")
    local bytes = api.png(640, 480)
    api.write(path, bytes)
    local file, err, meta = client.files:upload{ path = path, purpose = "reference",
      metadata = { campaign = "launch-2026", n = 3 } }
    os.remove(path)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/files", r.path)
    assert.matches("^multipart/form%-data; boundary=", r.headers["content-type"])
    assert.equal(m.api_key, r.headers["x-api-key"])
    assert.is_string(r.headers["idempotency-key"])
    assert.equal(meta.idempotency_key, r.headers["idempotency-key"])
    local fp = api.part(r, "file")
    assert.equal(path:match("[^/]+$"), fp.filename)
    assert.equal("image/png", fp.content_type)
    assert.equal(#bytes, fp.size)
    assert.equal("reference", api.part(r, "purpose").text)
    local mp = api.part(r, "metadata")
    assert.same({ campaign = "launch-2026", n = 3 }, aurous.json.decode(mp.text))
    assert.equal(3, #r.multipart)
    -- the decoded result
    assert.matches("^file_", file.id)
    assert.equal("file", file.object)
    assert.equal("image/png", file.mime_type)
    assert.equal(#bytes, file.size_bytes)
    assert.equal(640, file.width_px)
    assert.equal(480, file.height_px)
    assert.equal("launch-2026", file.metadata.campaign)
    assert.equal(201, meta.status)
    -- the signed url serves the very bytes
    assert.equal(bytes, api.http("GET", file.url).body)
  end)

  it("uploads from bytes, sniffing PNG, JPEG and WebP", function()
    local cases = {
      { api.png(100, 50), "image/png", "upload.png" },
      { api.jpeg(120, 80), "image/jpeg", "upload.jpg" },
      { api.webp(300, 200), "image/webp", "upload.webp" },
    }
    for _, c in ipairs(cases) do
      local file = assert(client.files:upload{ data = c[1], purpose = "first_frame" })
      local r = m:last_request()
      local fp = api.part(r, "file")
      assert.equal(c[2], fp.content_type)
      assert.equal(c[3], fp.filename)
      assert.equal(#c[1], fp.size)
      assert.equal("first_frame", api.part(r, "purpose").text)
      assert.is_nil(api.part(r, "metadata"))
      assert.equal(c[2], file.mime_type)
      assert.equal("first_frame", file.purpose)
    end
    local f = assert(client.files:upload{ data = api.jpeg(8, 8), purpose = "last_frame", filename = "me.jpeg" })
    assert.equal("me.jpeg", api.part(m:last_request(), "file").filename)
    assert.equal(8, f.width_px)
  end)

  it("calls on_progress with upload numbers", function()
    local bytes = api.png(64, 64) .. string.rep("x", 200000)
    local calls = {}
    assert(client.files:upload{ data = bytes, purpose = "reference",
      on_progress = function(sent, total) calls[#calls + 1] = { sent, total } end })
    assert.is_true(#calls >= 1)
    local last = calls[#calls]
    assert.is_true(last[1] >= #bytes, "sent " .. tostring(last[1]))
    assert.is_true(last[2] >= #bytes)
    for i = 2, #calls do assert.is_true(calls[i][1] >= calls[i - 1][1]) end
    for _, c in ipairs(calls) do assert.is_number(c[1]) assert.is_number(c[2]) end
  end)

  it("sends a caller's idempotency key; a replay returns the same file", function()
    local a = assert(client.files:upload({ data = api.png(10, 10), purpose = "reference" }, { idempotency_key = "file-key-1" }))
    assert.equal("file-key-1", m:last_request().headers["idempotency-key"])
    local b, _, meta = client.files:upload({ data = api.png(10, 10), purpose = "reference" }, { idempotency_key = "file-key-1" })
    assert.equal(a.id, b.id)
    assert.is_true(meta.idempotent_replayed)
    assert.equal(1, m:executed("POST /v1/files"))
  end)

  it("checks the arguments before any I/O", function()
    local function arg_err(params) return api.fails(client.files:upload(params)) end
    assert.equal("purpose", arg_err{ data = api.png(1, 1) }.param)
    assert.equal("purpose", arg_err{ data = api.png(1, 1), purpose = "avatar" }.param)
    assert.equal("data", arg_err{ data = "GIF89a....", purpose = "reference" }.param)
    assert.equal("path", arg_err{ purpose = "reference" }.param)
    assert.equal("path", arg_err{ path = "/nonexistent/x.png", purpose = "reference" }.param)
    local dir = arg_err{ path = "/tmp", purpose = "reference" } -- a directory opens, but cannot be read
    assert.equal("path", dir.param)
    assert.matches("cannot read /tmp", dir.message)
    assert.equal("invalid_argument", arg_err{ data = api.png(1, 1), purpose = "reference", colour = "red" }.type)
    assert.equal(0, #m:requests())
  end)
end)

describe("files:get and files:delete", function()
  it("gets a file with a fresh url", function()
    local file = assert(client.files:upload{ data = api.png(32, 32), purpose = "reference" })
    local got, err = client.files:get(file.id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/files/" .. file.id, r.path)
    assert.equal(file.id, got.id)
    assert.equal(32, got.width_px)
    assert.is_string(got.url)
    assert.is_string(got.expires_at)
  end)

  it("deletes idempotently; a later get is not_found", function()
    local file = assert(client.files:upload{ data = api.png(32, 32), purpose = "reference" })
    local d1, err = client.files:delete(file.id)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("DELETE", r.method)
    assert.equal("/v1/files/" .. file.id, r.path)
    assert.equal(file.id, d1.id)
    assert.is_true(d1.deleted)
    local d2 = assert(client.files:delete(file))
    assert.is_false(d2.deleted)
    local gerr = api.fails(client.files:get(file.id))
    assert.equal("not_found", gerr.type)
    assert.equal(404, gerr.status)
  end)
end)
