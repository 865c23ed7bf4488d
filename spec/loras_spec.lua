-- client.loras and client.video_loras: bare-array lists, look-ups by id and by slug.
local aurous = require("aurous")
local api = require("helpers.api")

local m, client
setup(function() m, client = api.start{ latency = 0.1 } end)
teardown(function() m:stop() end)
before_each(function() m:reset() end)

local CASES = {
  { ns = "loras", path = "/v1/loras", count = 3, id = "lora_01J0MOCKANIMEINK000000000B", slug = "anime-ink",
    name = "Anime Ink", field = "default_steps" },
  { ns = "video_loras", path = "/v1/video_loras", count = 2, id = "lora_01J0MOCKCINEMADRIFT00000V1",
    slug = "cinematic-drift", name = "Cinematic Drift", field = "default_resolution" },
}

for _, c in ipairs(CASES) do
  describe("client." .. c.ns, function()
    it("list returns the bare array", function()
      local list, err, meta = client[c.ns]:list()
      assert.is_nil(err)
      local r = m:last_request()
      assert.equal("GET", r.method)
      assert.equal(c.path, r.path)
      assert.same({}, r.query)
      assert.equal(200, meta.status)
      assert.equal(c.count, #list)
      assert.is_nil(list.data)
      for _, l in ipairs(list) do
        assert.matches("^lora_", l.id)
        assert.is_string(l.slug)
        assert.is_string(l.name)
        assert.is_boolean(l.is_public)
        assert.is_not_nil(l[c.field])
      end
      assert.is_true(list[1].is_public)
      assert.is_false(list[#list].is_public) -- team-private ones too
    end)

    it("get by id and by slug", function()
      local by_id, err = client[c.ns]:get(c.id)
      assert.is_nil(err)
      assert.equal(c.path .. "/" .. c.id, m:last_request().path)
      assert.equal(c.name, by_id.name)
      local by_slug = assert(client[c.ns]:get(c.slug))
      assert.equal(c.path .. "/" .. c.slug, m:last_request().path)
      assert.same(by_id, by_slug)
      assert.equal(c.id, by_slug.id)
    end)

    it("get of an unknown one is not_found; a bad argument is caught first", function()
      local err = api.fails(client[c.ns]:get("no-such-style"))
      assert.equal("not_found", err.type)
      assert.equal(404, err.status)
      local aerr = api.fails(client[c.ns]:get(nil))
      assert.equal("invalid_argument", aerr.type)
      assert.equal("id_or_slug", aerr.param)
      assert.truthy(aurous.errors.is(aerr))
    end)
  end)
end
