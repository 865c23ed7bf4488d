-- client.videos: every method against the mock, the request it saw and the result.
local aurous = require("aurous")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.15 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local FAST = { interval = 0.05, timeout = 10 }
local FACTOR = { ["480p"] = 1, ["720p"] = 1.5, ["1080p"] = 2.5 }

describe("videos:create", function()
  it("sends every field as given and returns the generation", function()
    local file = assert(client.files:upload{ data = api.png(64, 64), purpose = "first_frame" })
    local params = {
      video_lora_id = "cinematic-drift", prompt = "a fox runs", first_frame_url = file.id,
      last_frame_url = "https://example.com/last.png", resolution = "1080p", ratio = "9:16",
      duration = 6, seed = 7, camera_fixed = true, watermark = false, enhance_prompt = true,
      webhook_url = "https://hooks.example.com/v",
    }
    local gen, err, meta = client.videos:create(params)
    assert.is_nil(err)
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/videos", r.path)
    assert.is_string(r.headers["idempotency-key"])
    for k, v in pairs(params) do assert.same(v, r.json[k], k) end
    assert.matches("^vid_", gen.id)
    assert.equal("video", gen.media_type)
    assert.equal("pending", gen.status)
    assert.equal(6, gen.video_duration)
    assert.equal("1080p", gen.video_resolution)
    assert.equal("9:16", gen.video_ratio)
    assert.equal("i2v", gen.inference_type)
    assert.equal(0.5 * 2.5 * 6, gen.cost.amount)
    assert.equal(201, meta.status)
  end)

  it("applies the video LoRA's defaults", function()
    local gen = assert(client.videos:create{ video_lora_id = "lora_01J0MOCKSLOWORBIT000000000V2" })
    assert.same({ video_lora_id = "lora_01J0MOCKSLOWORBIT000000000V2" }, m:last_request().json)
    assert.equal("480p", gen.video_resolution)
    assert.equal(4, gen.video_duration)
    assert.equal("t2v", gen.inference_type)
  end)

  it("checks arguments before any I/O", function()
    local err = api.fails(client.videos:create{ prompt = "no lora" })
    assert.equal("invalid_argument", err.type)
    assert.equal("video_lora_id", err.param)
    local err2 = api.fails(client.videos:create{ video_lora_id = "slow-orbit", duration = 20 })
    assert.equal("duration", err2.param)
    assert.equal(0, #m:requests())
  end)
end)

describe("videos:estimate", function()
  it("costs 0.5 × resolution factor × duration", function()
    for _, res in ipairs({ "480p", "720p", "1080p" }) do
      for _, dur in ipairs({ 2, 5, 12 }) do
        local est, err = client.videos:estimate{ video_lora_id = "cinematic-drift", resolution = res, duration = dur }
        assert.is_nil(err)
        local r = m:last_request()
        assert.equal("POST", r.method)
        assert.equal("/v1/videos/estimate", r.path)
        assert.same({ video_lora_id = "cinematic-drift", resolution = res, duration = dur }, r.json)
        assert.equal("estimate", est.object)
        assert.equal(0.5 * FACTOR[res] * dur, est.estimated_cost.amount)
        assert.equal(FACTOR[res], est.estimated_cost.breakdown.resolution_factor)
      end
    end
    assert.equal(0, m:executed("POST /v1/videos"))
  end)
end)

describe("videos:get, cancel, wait", function()
  it("gets a video through the generations route", function()
    local gen = assert(client.videos:create{ video_lora_id = "cinematic-drift" })
    local got = assert(client.videos:get(gen.id))
    local r = m:last_request()
    assert.equal("GET", r.method)
    assert.equal("/v1/images/" .. gen.id, r.path)
    assert.equal(gen.id, got.id)
    assert.equal("video", got.media_type)
  end)

  it("cancels a running video", function()
    local gen = assert(client.videos:create{ video_lora_id = "cinematic-drift", prompt = "x [slow]" })
    local c = assert(client.videos:cancel(gen.id))
    local r = m:last_request()
    assert.equal("POST", r.method)
    assert.equal("/v1/images/" .. gen.id .. "/cancel", r.path)
    assert.equal("cancelled", c.status)
    local done = assert(client.videos:wait(gen.id, FAST))
    assert.equal("cancelled", done.status)
  end)

  it("waits until succeeded, with on_progress", function()
    local gen = assert(client.videos:create{ video_lora_id = "cinematic-drift" })
    local n = 0
    local done, err = client.videos:wait(gen, { interval = 0.05, timeout = 10,
      on_progress = function(g) n = n + 1 assert.equal(gen.id, g.id) end })
    assert.is_nil(err)
    assert.equal("succeeded", done.status)
    assert.is_string(done.output_video_url)
    assert.is_true(n >= 2)
  end)

  it("times out with the last object", function()
    local gen = assert(client.videos:create{ video_lora_id = "cinematic-drift", prompt = "[slow]" })
    local err = api.fails(client.videos:wait(gen.id, { interval = 0.05, timeout = 0.2 }))
    assert.equal("timeout", err.type)
    assert.equal(gen.id, err.last.id)
  end)
end)

describe("videos:download", function()
  local gen
  before_each(function()
    gen = assert(client.videos:create{ video_lora_id = "cinematic-drift" })
    gen = assert(client.videos:wait(gen.id, FAST))
  end)

  it("saves the video/mp4 bytes to a path", function()
    local path = api.tmpname(".mp4")
    local saved, err = client.videos:download(gen, { path = path })
    assert.is_nil(err)
    assert.equal("/v1/videos/" .. gen.id .. "/output", m:last_request().path)
    local expected, ctype = api.media(m, gen.id, 0)
    assert.equal("video/mp4", ctype)
    local bytes = api.read(path)
    assert.equal(expected, bytes)
    assert.equal("ftyp", bytes:sub(5, 8))
    assert.equal("video/mp4", saved.content_type)
    assert.equal(#expected, saved.bytes)
    assert.is_false(api.exists(path .. ".part"))
    os.remove(path)
  end)

  it("streams to a sink", function()
    local chunks = {}
    assert(client.videos:download(gen.id, { sink = function(c) chunks[#chunks + 1] = c return true end }))
    assert.equal(api.media(m, gen.id, 0), table.concat(chunks))
  end)

  it("410 after expiry", function()
    m:expire(gen.id)
    local err = api.fails(client.videos:download(gen, { sink = function() return true end }))
    assert.equal(410, err.status)
    assert.equal("output_expired", err.code)
  end)

  it("a video has one output", function()
    local err = api.fails(client.videos:download(gen, { index = 2, path = "x" }))
    assert.equal("invalid_argument", err.type)
    assert.truthy(aurous.errors.is(err))
  end)
end)
