-- A LÖVE 11 example: generations run as aurous tasks while the game keeps drawing.
-- love.update calls aurous.step() once a frame; it never blocks, so the frame rate
-- holds while requests are in flight. Run with the C core and the Lua layer on the
-- paths, against the mock or the API:
--
--   make build LUA=luajit
--   LUA=luajit scripts/with-mock love examples/love   (LÖVE runs LuaJIT: its build)
--
-- Keys: space starts another generation, escape quits.
local aurous = require("aurous")

local client
local jobs = {}      -- { prompt, status, id, bytes, image, error }
local spinner = 0
local PROMPTS = { "a red fox in the snow", "a lighthouse at dusk", "a koi pond, top view",
  "a paper boat on a puddle" }

local function start(prompt)
  local job = { prompt = prompt, status = "starting" }
  jobs[#jobs + 1] = job
  aurous.spawn(function()
    local gen, err = client.images:create{ prompt = prompt, size = "2k_1_1" }
    if not gen then job.status, job.error = "error", tostring(err) return end
    job.id, job.status = gen.id, gen.status
    gen, err = client.images:wait(gen.id, { on_progress = function(g) job.status = g.status end })
    if not gen then job.status, job.error = "error", tostring(err) return end
    job.status = gen.status
    if gen.status ~= "succeeded" then return end
    local chunks = {}
    local saved, derr = client.images:download(gen, { index = 1, sink = function(c)
      chunks[#chunks + 1] = c
      return true
    end })
    if not saved then job.status, job.error = "error", tostring(derr) return end
    local data = table.concat(chunks)
    job.bytes = #data
    job.status = "downloaded"
    -- decode the image on the main thread (we are in it: tasks run inside aurous.step())
    local ok, image = pcall(function()
      return love.graphics.newImage(love.image.newImageData(love.filesystem.newFileData(data, gen.id .. ".png")))
    end)
    if ok then job.image = image end
  end)
end

function love.load()
  local ok, c = pcall(aurous.new, {})  -- AUROUS_API_KEY / AUROUS_BASE_URL
  if not ok then
    error("aurous: " .. tostring(c) .. "\nset AUROUS_API_KEY (or run under scripts/with-mock)")
  end
  client = c
  love.window.setTitle("aurous + LÖVE")
  for i = 1, 2 do start(PROMPTS[i]) end
end

-- AUROUS_LOVE_SELFTEST=1 (used by `make test`): quit once every job has ended,
-- print what happened and the longest frame, exit 1 if a job failed.
local selftest = os.getenv("AUROUS_LOVE_SELFTEST") == "1"
local longest_step, frames = 0, 0

function love.update(dt)
  spinner = spinner + dt
  local t0 = love.timer.getTime()
  local pending = aurous.step()  -- advances every transfer and timer, never blocks
  local took = love.timer.getTime() - t0
  if took > longest_step then longest_step = took end
  frames = frames + 1
  if selftest and pending == 0 and #jobs > 0 then
    local failed = 0
    for i, job in ipairs(jobs) do
      print(string.format("job %d: %s %s %s", i, job.status, job.id or "-", job.error or (job.bytes or "")))
      if job.status ~= "downloaded" then failed = failed + 1 end
    end
    print(string.format("frames %d, longest aurous.step() %.2f ms", frames, longest_step * 1000))
    love.event.quit(failed == 0 and 0 or 1)
  end
end

function love.keypressed(key)
  if key == "space" then start(PROMPTS[#jobs % #PROMPTS + 1]) end
  if key == "escape" then love.event.quit() end
end

function love.draw()
  local g = love.graphics
  g.clear(0.1, 0.1, 0.12)
  g.setColor(1, 1, 1)
  g.print(string.format("FPS %d   tasks pending %d   (space: new generation)", love.timer.getFPS(), aurous.pending()), 10, 10)
  local y = 40
  for i, job in ipairs(jobs) do
    local line = string.format("%d. %-28s %-12s %s", i, job.prompt, job.status,
      job.error or (job.bytes and (job.bytes .. " bytes") or ""))
    g.print(line, 10, y)
    if job.image then
      g.draw(job.image, 10, y + 18, 0, 64 / job.image:getWidth(), 64 / job.image:getHeight())
      y = y + 70
    end
    y = y + 22
  end
  -- a rotating bar: it keeps turning while generations are in flight
  g.push()
  g.translate(g.getWidth() - 40, 40)
  g.rotate(spinner * 4)
  g.rectangle("fill", -12, -3, 24, 6)
  g.pop()
end
