-- The coroutine engine: tasks, run, step, sleep, gather, cancellation.
local aurous = require("aurous")
local core = require("aurous.core")
local mock = require("helpers.mock")

describe("tasks without I/O", function()
  it("interleave: one progresses while another sleeps", function()
    local trace = {}
    aurous.spawn(function()
      trace[#trace + 1] = "a1"
      aurous.sleep(0.05)
      trace[#trace + 1] = "a2"
    end)
    aurous.spawn(function()
      trace[#trace + 1] = "b1"
      aurous.sleep(0.01)
      trace[#trace + 1] = "b2"
    end)
    assert.is_true(aurous.run())
    assert.same({ "a1", "b1", "b2", "a2" }, trace)
  end)

  it("sleeps concurrently: ten 0.1 s sleeps take about 0.1 s, not 1 s", function()
    local t0 = core.now()
    for _ = 1, 10 do aurous.spawn(function() aurous.sleep(0.1) end) end
    aurous.run()
    local elapsed = core.now() - t0
    assert.is_true(elapsed >= 0.09, "slept " .. elapsed)
    assert.is_true(elapsed < 0.6, "slept " .. elapsed)
  end)

  it("returns results through the task object", function()
    local t = aurous.spawn(function(a, b) return a + b, "x" end, 2, 3)
    assert.is_false(t.done)
    local _, early = t:result()
    assert.equal("invalid_argument", early.type)
    aurous.run()
    assert.is_true(t.done)
    local sum, x = t:result()
    assert.equal(5, sum)
    assert.equal("x", x)
  end)

  it("keeps an error inside its task; the others finish", function()
    local finished = false
    local bad = aurous.spawn(function() error("boom") end)
    local good = aurous.spawn(function() aurous.sleep(0.01) finished = true return "ok" end)
    local ok, err = aurous.run()
    assert.is_false(ok)
    assert.truthy(tostring(err):find("boom", 1, true))
    assert.is_true(finished)
    assert.equal("ok", (good:result()))
    local v, terr = bad:result()
    assert.is_nil(v)
    assert.equal("task_error", terr.type)
  end)

  it("run() reports a task that a task started, but not one whose error went to gather", function()
    aurous.spawn(function()
      aurous.spawn(function() error("child failed") end)
      aurous.sleep(0.01)
    end)
    local ok, err = aurous.run()
    assert.is_false(ok)
    assert.truthy(tostring(err):find("child failed", 1, true))
    aurous.spawn(function()
      local r = aurous.gather(function() error("collected") end)
      assert(r[1][2], "gather hands the error over")
    end)
    assert.is_true(aurous.run())
  end)

  it("runs what a cancelled task registered with on_cancel, and not what it unregistered", function()
    local loop = require("aurous.loop")
    local ran = {}
    local t = aurous.spawn(function()
      local forget = loop.on_cancel(function() ran[#ran + 1] = "first" end)
      forget()
      loop.on_cancel(function() ran[#ran + 1] = "second" end)
      aurous.sleep(10)
    end)
    aurous.step()
    assert.is_true(t:cancel())
    assert.same({ "second" }, ran)
    assert.equal(0, aurous.pending())
    assert.is_function(loop.on_cancel(function() end)) -- outside a task: a no-op remover
  end)

  it("an error whose __tostring fails stays in its task; the others finish", function()
    local bad = setmetatable({}, { __tostring = function(e) return "x" .. e.missing end })
    aurous.spawn(function() error(bad) end)
    local others = {}
    for i = 1, 3 do others[i] = aurous.spawn(function() return i end) end
    local failures, steps = {}, 0
    repeat -- a step may leave some for the next one (its time budget: under valgrind, say)
      local pending, failed = aurous.step()
      for _, e in ipairs(failed or {}) do failures[#failures + 1] = e end
      steps = steps + 1
    until pending == 0 or steps > 1000
    assert.equal(0, aurous.pending())
    assert.equal(1, #failures)
    assert.matches("__tostring failed", failures[1].message)
    for i, t in ipairs(others) do assert.equal(i, (t:result())) end
  end)

  it("cancelling a task waiting in gather cancels the gather's tasks", function()
    local ran = false
    local parent = aurous.spawn(function()
      return aurous.gather(function() aurous.sleep(0.2) ran = true end, function() aurous.sleep(0.2) end)
    end)
    aurous.step()
    assert.is_true(parent:cancel())
    assert.equal(0, aurous.pending())
    assert.is_true(aurous.run())
    assert.is_false(ran)
  end)

  it("a yield inside loop.blocking does not make the other tasks block", function()
    local loop = require("aurous.loop")
    aurous.spawn(function() loop.blocking(function() coroutine.yield() end) end)
    aurous.spawn(function() aurous.sleep(0.3) end)
    local t0 = core.now()
    aurous.step()
    aurous.step()
    assert.is_true(core.now() - t0 < 0.2, "a step blocked for " .. (core.now() - t0) .. " s")
    assert.is_true(aurous.run())
  end)

  it("refuses run() from code a task runs, also inside loop.blocking", function()
    local loop = require("aurous.loop")
    local t = aurous.spawn(function() return loop.blocking(function() return pcall(aurous.run) end) end)
    assert.is_true(aurous.run())
    local ok, err = t:result()
    assert.is_false(ok)
    assert.matches("cannot be called from inside a task", err)
  end)

  it("gather keeps the order of its functions, not of completion", function()
    local results = aurous.gather(
      function() aurous.sleep(0.03) return "slow" end,
      function() return "fast", 2 end,
      function() error({ custom = true }) end)
    assert.equal("slow", results[1][1])
    assert.same({ "fast", 2, n = 2 }, results[2])
    assert.is_nil(results[3][1])
    assert.equal("task_error", results[3][2].type)
  end)

  it("gather works inside a task too", function()
    local out
    aurous.spawn(function()
      local r = aurous.gather(function() aurous.sleep(0.02) return 1 end, function() return 2 end)
      out = { r[1][1], r[2][1] }
    end)
    aurous.run()
    assert.same({ 1, 2 }, out)
  end)

  it("cancels a sleeping task", function()
    local reached = false
    local t = aurous.spawn(function() aurous.sleep(5) reached = true end)
    aurous.step()
    assert.is_true(t:cancel())
    local t0 = core.now()
    aurous.run()
    assert.is_true(core.now() - t0 < 1)
    assert.is_false(reached)
    local _, err = t:result()
    assert.equal("cancelled", err.type)
    assert.is_false(t:cancel())
  end)

  it("lets a plain coroutine.yield() hand control to the next task", function()
    local trace = {}
    aurous.spawn(function() trace[#trace + 1] = 1 coroutine.yield() trace[#trace + 1] = 3 end)
    aurous.spawn(function() trace[#trace + 1] = 2 end)
    aurous.run()
    assert.same({ 1, 2, 3 }, trace)
  end)

  it("a task that keeps yielding does not starve the others", function()
    local woke = false
    local spinner = aurous.spawn(function()
      while not woke do coroutine.yield() end
      return "stopped"
    end)
    aurous.spawn(function() aurous.sleep(0.02) woke = true end)
    assert.is_true(aurous.run())
    assert.equal("stopped", (spinner:result()))
  end)

  it("step() spreads many ready tasks over several calls, within its budget", function()
    local started = 0
    for _ = 1, 200 do
      aurous.spawn(function()
        started = started + 1
        local t0 = core.now()
        while core.now() - t0 < 0.0002 do end -- 0.2 ms of work each
      end)
    end
    local steps = 0
    while aurous.step() > 0 do steps = steps + 1 end
    assert.equal(200, started)
    assert.is_true(steps >= 5, "all ran in " .. steps .. " steps")
  end)

  it("sleep blocks outside tasks", function()
    local t0 = core.now()
    aurous.sleep(0.05)
    assert.is_true(core.now() - t0 >= 0.045)
  end)

  it("refuses run and step from inside a task", function()
    local t = aurous.spawn(function() return pcall(aurous.run) end)
    aurous.run()
    local ok = t:result()
    assert.is_false(ok)
  end)

  it("checks its arguments", function()
    assert.has_error(function() aurous.spawn("nope") end)
    assert.has_error(function() aurous.gather(1) end)
    assert.has_error(function() aurous.sleep("1") end)
  end)
end)

describe("tasks with requests", function()
  local m, client
  setup(function()
    m = mock.start{ latency = 0.3 }
    client = aurous.new{ api_key = m.api_key, base_url = m.url }
  end)
  teardown(function() m:stop() end)
  before_each(function() m:reset() end)

  -- drives with step() until every task is done or `limit` seconds passed
  local function drive(limit)
    local t0 = core.now()
    while aurous.step() > 0 and core.now() - t0 < limit do core.sleep(0.002) end
    return aurous.pending()
  end

  local function finished_image()
    local gen = assert(client.images:create{ prompt = "x" })
    return assert(client.images:wait(gen, { interval = 0.05, timeout = 10 }))
  end

  it("a handler's calls block inside it; the task's wait still ends (no lost event)", function()
    local gen = finished_image()
    m:config{ media_size = 400000 }
    m:fault{ path = "_media", action = "slow_body", delay = 0.3 }
    local slept = {}
    local t = aurous.spawn(function()
      local r = assert(client.images:download(gen, { sink = function()
        local t0 = core.now()
        aurous.sleep(0.05) -- in a handler: blocks for its time instead of yielding
        slept[#slept + 1] = core.now() - t0
        return true
      end }))
      return r.bytes
    end)
    assert.equal(0, drive(10))
    assert.equal(400000, (t:result()))
    for _, s in ipairs(slept) do assert.is_true(s >= 0.045, "slept " .. s) end
  end)

  it("an aborted transfer's late events do not end the task's next wait", function()
    local gen = finished_image()
    m:config{ media_size = 200000 }
    local budget = require("aurous.loop").STEP_BUDGET
    require("aurous.loop").STEP_BUDGET = 0 -- one resume per step: events pile up
    local tasks = {}
    for i = 1, 6 do
      tasks[i] = aurous.spawn(function()
        local got = 0
        local _, err = client.images:download(gen, { sink = function(chunk)
          got = got + #chunk
          if got >= 200000 then return false, "full" end
          return true
        end })
        return err.code, assert(client.account:balance()).object
      end)
    end
    drive(10)
    require("aurous.loop").STEP_BUDGET = budget
    for _, t in ipairs(tasks) do
      local code, object = t:result()
      assert.equal("sink_failed", code)
      assert.equal("balance", object)
    end
  end)

  it("a task that cancels itself in a handler stops there", function()
    local gen = finished_image()
    m:config{ media_size = 400000 }
    m:fault{ path = "_media", action = "slow_body", delay = 0.3 }
    local after = false
    local t
    t = aurous.spawn(function()
      client.images:download(gen, { sink = function() return true end,
        on_progress = function(got) if got > 0 then t:cancel() end end })
      after = true
      client.images:create{ prompt = "sent after cancel" }
    end)
    aurous.run()
    assert.equal("cancelled", select(2, t:result()).type)
    assert.is_false(after)
    for _, r in ipairs(m:requests()) do
      assert.is_false(r.method == "POST" and r.json and r.json.prompt == "sent after cancel")
    end
  end)

  it("step() returns the errors of tasks that failed in it", function()
    local seen = {}
    aurous.spawn(function() error("boom in a frame loop") end)
    aurous.spawn(function() return aurous.gather(function() error("collected by gather") end) end)
    local t0 = core.now()
    repeat
      local pending, failures = aurous.step()
      for _, e in ipairs(failures or {}) do seen[#seen + 1] = tostring(e) end
    until pending == 0 or core.now() - t0 > 5
    assert.equal(1, #seen)
    assert.truthy(seen[1]:find("boom in a frame loop", 1, true))
  end)

  it("step() returns at once while a slow response is pending, and counts pending tasks", function()
    m:fault{ path = "^/v1/balance$", action = "slow_headers", delay = 0.6 }
    local t = aurous.spawn(function() return client.account:balance() end)
    local longest, steps = 0, 0
    local t0 = core.now()
    while not t.done do
      local s0 = core.now()
      local pending = aurous.step()
      local dt = core.now() - s0
      if dt > longest then longest = dt end
      steps = steps + 1
      if not t.done then assert.equal(1, pending) end
      core.sleep(0.005)
      assert.is_true(core.now() - t0 < 5, "the task never finished")
    end
    assert.is_true(core.now() - t0 >= 0.55)
    assert.is_true(steps > 20, "only " .. steps .. " steps")
    assert.is_true(longest < 0.1, "a step took " .. longest .. " s")
    local balance = t:result()
    assert.is_number(balance.credits)
    assert.equal(0, aurous.step())
  end)

  it("one step() starts at most loop.STEP_NEW_TRANSFERS transfers", function()
    local loop = require("aurous.loop")
    m:fault{ path = "^/v1/team$", action = "slow_headers", delay = 0.3, times = 12 }
    local tasks = {}
    for i = 1, 12 do tasks[i] = aurous.spawn(function() return client.account:team() end) end
    aurous.step()
    local started = 0
    for _, t in ipairs(tasks) do if t.state == "transfer" then started = started + 1 end end
    assert.is_true(started >= 1 and started <= loop.STEP_NEW_TRANSFERS, started .. " started in one step")
    assert.is_true(aurous.run())
    for _, t in ipairs(tasks) do assert.is_string((t:result()).id) end
  end)

  it("progress ticks do not pile up when step() keeps running out of budget", function()
    local loop = require("aurous.loop")
    local n = 12
    local gens = {}
    for i = 1, n do gens[i] = assert(client.images:create{ prompt = "tick " .. i }) end
    for i = 1, n do gens[i] = assert(client.images:wait(gens[i], { interval = 0.05 })) end
    local budget = loop.STEP_BUDGET
    loop.STEP_BUDGET = 0 -- one resume per step: the worst case for a backlog
    local most = 0
    for i = 1, n do
      aurous.spawn(function()
        return client.images:download(gens[i], { sink = function() end, on_progress = function() end })
      end)
    end
    local ok, err = pcall(function()
      while aurous.step() > 0 do
        if loop.queued() > most then most = loop.queued() end
      end
    end)
    loop.STEP_BUDGET = budget
    assert(ok, err)
    assert.is_true(most <= 2 * n, "queue reached " .. most)
  end)

  it("runs many generations concurrently on one thread", function()
    local n = 20
    local t0 = core.now()
    local results = {}
    for i = 1, n do
      aurous.spawn(function()
        local gen = assert(client.images:create{ prompt = "fox " .. i })
        results[i] = assert(client.images:wait(gen.id, { interval = 0.05 }))
      end)
    end
    assert.is_true(aurous.run())
    local elapsed = core.now() - t0
    for i = 1, n do assert.equal("succeeded", results[i].status) end
    -- one generation takes 0.3 s; twenty in sequence would take 6 s
    assert.is_true(elapsed < 3, "took " .. elapsed .. " s")
  end)

  it("one task progresses while another waits on a slow request", function()
    m:fault{ path = "^/v1/team$", action = "slow_headers", delay = 0.5 }
    local order = {}
    aurous.spawn(function() client.account:team() order[#order + 1] = "slow" end)
    aurous.spawn(function() client.account:balance() order[#order + 1] = "fast" end)
    aurous.run()
    assert.same({ "fast", "slow" }, order)
  end)

  it("cancelling a task frees its transfer", function()
    m:fault{ path = "^/v1/team$", action = "slow_headers", delay = 2 }
    local t = aurous.spawn(function() return client.account:team() end)
    local t0 = core.now()
    for _ = 1, 5 do aurous.step() core.sleep(0.01) end
    assert.is_true(t:cancel())
    assert.equal(0, aurous.step())
    assert.is_true(core.now() - t0 < 1)
    local _, err = t:result()
    assert.equal("cancelled", err.type)
    -- the client still works afterwards
    assert.truthy(client.account:balance())
  end)

  it("an API error stays inside its task as nil, err", function()
    local t = aurous.spawn(function() return client.images:get("img_doesnotexist") end)
    local other = aurous.spawn(function() return client.account:balance() end)
    assert.is_true(aurous.run())
    local v, err = t:result()
    assert.is_nil(v)
    assert.equal("not_found", err.type)
    assert.truthy(other:result())
  end)

  it("each() pages inside a task, on every interpreter (PUC 5.1 fetches those pages blocking)", function()
    for i = 1, 5 do assert(client.images:create{ prompt = "item " .. i }) end
    local t = aurous.spawn(function()
      local n = 0
      for g in client.images:each{ limit = 2 } do
        assert.matches("^img_", g.id)
        n = n + 1
      end
      return n
    end)
    assert.is_true(aurous.run())
    assert.equal(5, (t:result()))
  end)

  it("blocking calls still work outside tasks while tasks are pending", function()
    local t = aurous.spawn(function() return client.account:balance() end)
    local team = assert(client.account:team())
    assert.is_string(team.id)
    aurous.run()
    assert.truthy(t:result())
  end)
end)
