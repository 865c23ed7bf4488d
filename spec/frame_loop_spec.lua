-- A game's frame loop (LÖVE-style, 60 fps) that calls aurous.step() once a frame
-- while several generations are in flight: no frame may stall on the network.
local aurous = require("aurous")
local core = require("aurous.core")
local mock = require("helpers.mock")

-- The mock answers some requests slowly (SLOW s before the headers, or a body spread
-- over SLOW s): a step that blocked on one would take SLOW. The budget for the longest
-- step is generous, so that a loaded 2-core CI machine (a descheduled process, a GC
-- pause) passes, and still far below SLOW; most steps must also be short.
-- AUROUS_FRAME_BUDGET overrides the budget (seconds).
local SLOW = 0.4
local BUDGET = tonumber(os.getenv("AUROUS_FRAME_BUDGET") or "") or 0.1
local TYPICAL = 0.02 -- 90 % of the steps stay under this
local FRAME = 1 / 60
local N = 6

describe("a 60 fps frame loop driving aurous.step()", function()
  local m

  setup(function()
    m = mock.start{ latency = 0.3 }
  end)

  teardown(function()
    if m then m:stop() end
  end)

  it("finishes " .. N .. " generations without a long frame", function()
    local client = aurous.new{ api_key = m.api_key, base_url = m.url }
    m:fault{
      { method = "POST", path = "^/v1/images$", action = "slow_headers", delay = SLOW, times = 2 },
      { method = "GET", path = "^/v1/images/[^/]+$", action = "slow_headers", delay = SLOW, times = 3 },
      { method = "GET", path = "/output", action = "slow_body", delay = SLOW, times = 2 },
    }
    local status = {}
    local bytes = {}
    local tasks = {}
    for i = 1, N do
      status[i] = "queued"
      tasks[i] = aurous.spawn(function()
        local gen = assert(client.images:create{ prompt = "frame loop " .. i, size = "2k_1_1" })
        status[i] = gen.status
        gen = assert(client.images:wait(gen.id, { interval = 0.1,
          on_progress = function(g) status[i] = g.status end }))
        status[i] = gen.status
        local n = 0
        assert(client.images:download(gen, { index = 1, sink = function(chunk) n = n + #chunk return true end }))
        bytes[i] = n
        return gen.status
      end)
    end

    local frames, longest, total_step = 0, 0, 0
    local steps = {}
    local started = core.now()
    local pending = aurous.pending()
    while pending > 0 and core.now() - started < 60 do
      local frame_start = core.now()
      local t0 = core.now()
      pending = aurous.step()
      local spent = core.now() - t0
      total_step = total_step + spent
      if spent > longest then longest = spent end
      steps[#steps + 1] = spent
      frames = frames + 1
      -- "render", then wait for the next frame
      local rest = FRAME - (core.now() - frame_start)
      if rest > 0 then core.sleep(rest) end
    end
    local elapsed = core.now() - started

    assert.equal(0, pending, "generations still pending after " .. elapsed .. " s")
    for i = 1, N do
      local result, err = tasks[i]:result()
      assert.equal("succeeded", result, "generation " .. i .. ": " .. tostring(err))
      assert.equal("succeeded", status[i])
      assert.is_true((bytes[i] or 0) > 0, "generation " .. i .. " downloaded nothing")
    end
    -- the generations took several frames, so the loop really was interleaved
    assert.is_true(frames > 10, "only " .. frames .. " frames in " .. elapsed .. " s")
    -- the slow responses really happened (the loop went on through them)
    assert.is_true(elapsed > SLOW, "finished in " .. elapsed .. " s")
    table.sort(steps)
    local p90 = steps[math.ceil(#steps * 0.9)]
    assert.is_true(p90 < TYPICAL, string.format("90th percentile of aurous.step(): %.1f ms", p90 * 1000))
    assert.is_true(longest < BUDGET, string.format(
      "longest aurous.step() took %.1f ms (budget %.0f ms; %d frames, mean %.2f ms)",
      longest * 1000, BUDGET * 1000, frames, total_step / frames * 1000))
  end)
end)
