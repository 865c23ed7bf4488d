-- The C core when Lua runs out of memory in the middle of a call. Run by
-- scripts/test-extra.d/oom under spec/oom/host.c (whose allocator fails on
-- request: the global `oom`), and there under valgrind, which reports any C
-- memory such a failure leaves behind.
local core = require("aurous.core")
local fixture = require("support.fixture")

-- Lua allocations made by one call of fn
local function allocations_of(fn)
  collectgarbage()
  collectgarbage("stop")
  local before = oom.allocations()
  fn()
  local n = oom.allocations() - before
  collectgarbage("restart")
  return n
end

describe("json_decode out of memory", function()
  it("frees its decode state after failing while building Lua values", function()
    local small = '{"a":[1,2],"b":"c"}'
    local usual = allocations_of(function() core.json_decode(small) end)
    local text = '["' .. string.rep("a", 8e6) .. '", 1]'
    collectgarbage() -- string.rep's 8 MB: an emergency collection would free them
    oom.limit(oom.lua_bytes() + 4e6) -- room for the small things, not for another 8 MB string
    local ok, err = pcall(core.json_decode, text)
    oom.limit(0)
    assert.is_false(ok)
    assert.matches("memory", tostring(err))
    -- a decode that finds the shared state taken makes one of its own (a userdata):
    -- left taken, the state would also keep the failed decode's 8 MB of cJSON nodes
    assert.equal(usual, allocations_of(function() core.json_decode(small) end))
    assert.same({ a = { 1, 2 }, b = "c" }, core.json_decode(small))
  end)
end)

describe("Session out of memory", function()
  local srv
  setup(function() srv = fixture.start() end)
  teardown(function() srv:stop() end)

  it("step returns every finished transfer once, whichever allocation fails", function()
    for k = 1, 6 do
      local s = core.session()
      local t = core.transfer{ url = srv:url("/echo") }
      assert(s:add(t))
      local reported, raised = 0, false
      local t0 = core.now()
      while reported == 0 and core.now() - t0 < 5 do
        if not raised then oom.fail_after(k) end
        local ok, done = pcall(s.step, s, 10)
        oom.fail_after(0)
        if ok then
          for _, d in ipairs(done) do if d == t then reported = reported + 1 end end
        else
          assert.matches("memory", tostring(done))
          raised = true
        end
      end
      for _ = 1, 5 do -- and never again
        for _, d in ipairs(s:step(0)) do if d == t then reported = reported + 1 end end
      end
      assert.equal(1, reported, "allocation " .. k)
      assert.equal("done", t:state())
      assert.equal(0, s:pending())
      assert.equal(200, assert(t:result()).status)
      t:close()
      s:close()
    end
  end)

  it("a TransferTemplate and a transfer made from it free what they hold, whichever allocation fails", function()
    local made, failed = 0, 0
    local url = srv:url("/echo")
    local function make() -- the options tables first: the allocations counted are the core's
      local opts = { method = "POST", headers = { "X-A: 1", "X-B: 2" }, user_agent = "oom/1", connect_timeout = 5 }
      return function()
        return core.transfer(core.transfer_template(opts), url, 5, "body")
      end
    end
    for k = 1, 8 do
      local attempt = make()
      oom.fail_after(k)
      local ok, err = pcall(attempt)
      oom.fail_after(0)
      if ok then
        made = made + 1
        local resp = assert(err:perform()) -- err: the transfer
        assert.equal(200, resp.status)
        err:close()
      else
        failed = failed + 1
        assert.matches("memory", tostring(err))
      end
    end
    -- valgrind (scripts/run-valgrind) reports what a failed one would have left
    assert.truthy(failed > 0, "no allocation failed")
    assert.truthy(made > 0, "no template was made")
    collectgarbage()
  end)

  it("add leaves nothing set on the transfer when it runs out of memory", function()
    local s = core.session()
    local added, hit = {}, nil
    for _ = 1, 5000 do -- until an add needs an allocation (its reference grows the registry)
      local t = core.transfer{ url = srv:url("/echo") }
      oom.fail_after(1)
      local ok, err = pcall(s.add, s, t)
      oom.fail_after(0)
      if not ok then
        assert.matches("memory", tostring(err))
        hit = t
        break
      end
      added[#added + 1] = t
    end
    assert.truthy(hit, "no add needed an allocation")
    assert.equal("new", hit:state())
    assert.equal(#added, s:pending())
    -- closing frees the session's share handle: had the failed add left it set on
    -- the transfer, libcurl would refuse to free it (valgrind: definitely lost)
    s:close()
    for _, t in ipairs(added) do t:close() end
    local s2 = core.session()
    assert(s2:add(hit)) -- and the transfer still runs
    while hit:state() == "running" do s2:step(100) end
    assert.equal(200, assert(hit:result()).status)
    hit:close()
    s2:close()
  end)
end)
