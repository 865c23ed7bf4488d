--- Coroutine tasks over the core's transfer multiplexer, with timers.
-- Outside a task every call blocks; inside `spawn`ed tasks the same calls yield,
-- and `run` (to the end) or `step` (never blocking, for a host loop) drive them.
-- @module aurous.loop
local core = require("aurous.core")
local errors = require("aurous.errors")

local loop = {}

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local ready = {}          -- queue of { task, event, a }
local sleepers = {}       -- { at = t, task = task }
local waiting = {}        -- transfer -> task
local task_of = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local live = 0            -- tasks spawned and not finished
local running = nil       -- the task being resumed, if any
local sessions = {}       -- tasks / blocking
local run_failure = nil   -- while run() drives: { err = the first error no gather collects }
local step_failures = nil -- while step() drives: true, then the errors of tasks no gather collects

local function session(which)
  local s = sessions[which]
  if not s then
    s = core.session()
    sessions[which] = s
  end
  return s
end

-- The task whose coroutine runs this code, or nil (the main thread, a user's own
-- coroutine).
local function task_here()
  local co = coroutine.running()
  return co and task_of[co]
end

--- The task running now, or nil outside of tasks, inside loop.blocking and inside
-- a transfer's handlers (`task.no_yield` > 0: calls there block).
local function current()
  local t = task_here()
  if t and t == running and (t.no_yield or 0) == 0 then return t end
  return nil
end

-- pcall(fn, ...) with the task's calls blocking meanwhile (no_yield counted per task:
-- its yields elsewhere stay yields); returns pcall's results.
local function leave_no_yield(task, ...)
  if task then task.no_yield = task.no_yield - 1 end
  return ...
end
local function pcall_no_yield(task, fn, ...)
  if task then task.no_yield = (task.no_yield or 0) + 1 end
  return leave_no_yield(task, pcall(fn, ...))
end
loop.current = current

local Task = {}
Task.__index = Task
Task.__name = "aurous.Task"

function Task.__tostring(t)
  return string.format("aurous.Task (%s)", t.done and (t.ok and "done" or "failed") or (t.state or "ready"))
end

local function push(task, event, a)
  task.queued = (task.queued or 0) + 1
  ready[#ready + 1] = { task, event, a }
end

local function finish(task, ok, values_or_err)
  task.done = true
  task.state = "done"
  live = live - 1
  task.ok = ok
  if ok then task.values = values_or_err else task.err = values_or_err end
  local joiners = task.joiners
  task.joiners = nil
  -- a gathered task's error goes to its gatherer; any other one is run()'s or step()'s to report
  if not ok and not joiners then
    if run_failure and not run_failure.err then run_failure.err = values_or_err end
    if step_failures then
      if step_failures == true then step_failures = {} end -- a frame allocates nothing until one fails
      step_failures[#step_failures + 1] = values_or_err
    end
  end
  if joiners then
    for _, parent in ipairs(joiners) do
      parent.join_left = parent.join_left - 1
      if parent.join_left == 0 and not parent.done then push(parent, "joined", parent.children) end
    end
  end
end

-- A task error as text, even when its __tostring fails.
local function error_text(err)
  local ok, text = pcall(tostring, err)
  if ok and type(text) == "string" then return text end
  return "(an error value of type " .. type(err) .. " whose __tostring failed)"
end

local function resume(task, event, a)
  if task.done then return end
  if task.plain_yield and event ~= "resume" then
    -- a wait's event while the task is in a plain coroutine.yield() (in a handler,
    -- say): kept for the wait, which is still ahead
    push(task, event, a)
    return
  end
  task.plain_yield = nil
  local prev = running
  running = task
  task.state = "running"
  task.wait = nil
  local r = pack(coroutine.resume(task.co, event, a))
  running = prev
  if task.done then return end -- cancelled while running
  if coroutine.status(task.co) == "dead" then
    if r[1] then
      finish(task, true, pack(unpack(r, 2, r.n)))
    else
      local err = r[2]
      if not errors.is(err) then
        err = errors.new{ type = "task_error", message = debug.traceback(task.co, error_text(err)), raised = r[2] }
      end
      finish(task, false, err)
    end
  elseif not task.wait then
    -- a plain coroutine.yield() inside a task: run again on the next pass
    task.state = "ready"
    task.plain_yield = true
    push(task, "resume")
  else
    task.state = task.wait
  end
end

local added = 0 -- transfers added to the session since the pass began

-- Resumes the tasks that were ready when called (those made ready meanwhile wait
-- for the next pass, so a task that keeps yielding cannot starve the transfers).
-- With a `deadline` (core.now() seconds) it stops once that has passed, or once
-- STEP_NEW_TRANSFERS transfers were started, leaving the rest queued in order: a
-- host's step() stays short however many are ready.
local function run_ready(deadline, at_least_one)
  local batch = ready
  ready = {}
  for i = 1, #batch do
    if deadline and (i > 1 or not at_least_one)
      and (added >= loop.STEP_NEW_TRANSFERS or core.now() > deadline) then
      local rest = {}
      for j = i, #batch do rest[#rest + 1] = batch[j] end
      for _, item in ipairs(ready) do rest[#rest + 1] = item end
      ready = rest
      return
    end
    local item = batch[i]
    item[1].queued = item[1].queued - 1
    local ok, err = pcall(resume, item[1], item[2], item[3])
    if not ok then
      -- the loop's own failure (out of memory): the rest of the batch stays queued
      local rest = {}
      for j = i + 1, #batch do rest[#rest + 1] = batch[j] end
      for _, queued in ipairs(ready) do rest[#rest + 1] = queued end
      ready = rest
      error(err, 0)
    end
  end
end

--- Starts `fn(...)` as a task; it runs on the next `run`, `step` or blocking wait.
-- @return a task: `task.done`, `task:result()`, `task:cancel()`
function loop.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local args = pack(...)
  local task = setmetatable({ done = false, state = "ready" }, Task)
  task.co = coroutine.create(function() return fn(unpack(args, 1, args.n)) end)
  task_of[task.co] = task
  live = live + 1
  push(task, "start")
  return task
end

--- The task's return values once done; `nil, err` if it raised or was cancelled.
function Task:result()
  if not self.done then
    return nil, errors.new{ type = "invalid_argument", message = "task has not finished" }
  end
  if self.ok then return unpack(self.values, 1, self.values.n) end
  return nil, self.err
end

--- Cancels the task, and the transfer it is waiting on. Returns false if it had finished.
function Task:cancel()
  if self.done then return false end
  if self.transfer then
    waiting[self.transfer] = nil
    self.transfer:cancel()
    self.transfer = nil
  end
  for i = #sleepers, 1, -1 do
    if sleepers[i].task == self then table.remove(sleepers, i) end
  end
  local cleanups = self.cleanups
  self.cleanups = nil
  for fn in pairs(cleanups or {}) do pcall(fn) end
  local gathered = self.state == "join" and self.children -- the tasks of its gather go with it
  local err = errors.new{ type = "cancelled", code = "task_cancelled", message = "task cancelled" }
  finish(self, false, err)
  for _, child in ipairs(gathered or {}) do
    if not child.done and child ~= running then child:cancel() end
  end
  if running == self then error(err, 0) end
  if coroutine.close and coroutine.status(self.co) == "suspended" then coroutine.close(self.co) end
  return true
end

--- Registers `fn()` to run if the task running this code is cancelled (its code
-- then never runs again: a download removes its partial file this way). Returns
-- a function that unregisters it; outside a task there is nothing to cancel.
function loop.on_cancel(fn)
  local task = task_here()
  if not task then return function() end end
  task.cleanups = task.cleanups or {}
  task.cleanups[fn] = true
  return function() if task.cleanups then task.cleanups[fn] = nil end end
end

-- Yields the current task until an event of this wait arrives (its `token`: the
-- transfer, the sleeper, the gather's children); returns the event. Events of a
-- wait the task left (an aborted transfer, a yield that failed on PUC 5.1) are ignored.
local function suspend(task, what, token)
  while true do
    task.wait = what
    local event, a = coroutine.yield()
    if a == token then return event end
  end
end

-- Delivers the stream chunks and the progress of a transfer to its handlers.
-- Returns true, or false and what a handler raised. Handlers run with the task's
-- calls blocking: the wait a call there would yield from is the transfer's (and
-- PUC 5.1 cannot yield across pcall).
local function deliver(task, transfer, handlers, last)
  if not handlers then return true end
  if handlers.on_chunk then
    local chunk = transfer:read()
    while chunk do
      local ok, err = pcall_no_yield(task, handlers.on_chunk, chunk, transfer)
      if not ok then return false, err end
      chunk = transfer:read()
    end
  end
  if handlers.on_progress then
    local dn, dt, un, ut = transfer:progress()
    local key = dn + dt * 3 + un * 7 + ut * 11
    if key ~= last.key then
      last.key = key
      local ok, err = pcall_no_yield(task, handlers.on_progress, dn, dt, un, ut)
      if not ok then return false, err end
    end
  end
  return true
end

--- Runs a core Transfer to its end: yields inside a task, blocks outside.
-- `handlers.on_chunk(bytes, transfer)` gets stream-mode body chunks;
-- `handlers.on_progress(dlnow, dltotal, ulnow, ultotal)` gets progress. A handler
-- that raises cancels the transfer, which then fails with kind `aborted` and
-- `cause` = what the handler raised.
-- `leave_result`: return `true` at the end instead of the Response, for a caller
-- that reads the transfer itself (`transfer:reply(...)`).
-- @return the core Response (or `true`), or `nil, transfer_error`
function loop.perform(transfer, handlers, leave_result)
  local task = current()
  local last = handlers and {} -- deliver's memory of the last progress (handlers only)
  local ok, cause = true, nil
  if task then
    local ok_add, aerr = session("tasks"):add(transfer)
    if not ok_add then return nil, { kind = "transfer", message = aerr } end
    added = added + 1
    waiting[transfer] = task
    task.transfer = transfer
    task.handlers = handlers
    while ok do
      local event = suspend(task, "transfer", transfer)
      ok, cause = deliver(task, transfer, handlers, last)
      if task.done then error(task.err, 0) end -- a handler cancelled this very task
      if event == "done" then break end
    end
    waiting[transfer] = nil
    task.transfer = nil
    task.handlers = nil
  else
    local s = session("blocking")
    local ok_add, aerr = s:add(transfer)
    if not ok_add then return nil, { kind = "transfer", message = aerr } end
    if handlers then
      while ok and transfer:state() == "running" do
        s:step(50)
        ok, cause = deliver(nil, transfer, handlers, last)
      end
      if ok then ok, cause = deliver(nil, transfer, handlers, last) end
    else
      -- back in Lua at least once a second: a signal hook (Ctrl-C in lua.c) gets its turn
      while not s:wait(transfer, 1000) do end
    end
  end
  if not ok then
    if transfer:state() == "running" then transfer:cancel() end
    return nil, { kind = "aborted", message = "aborted by a handler: " .. tostring(cause), cause = cause }
  end
  if leave_result then return true end
  return transfer:result()
end

--- Runs `fn(...)` with every call blocking, even inside a task. For code that runs
-- where a yield is impossible: a for-in iterator on PUC Lua 5.1 (a C-call boundary).
function loop.blocking(fn, ...)
  local r = pack(pcall_no_yield(task_here(), fn, ...))
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

--- Sleeps `seconds`: yields inside a task, blocks outside.
function loop.sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then
    error("bad argument #1 to 'sleep' (number expected, got " .. type(seconds) .. ")", 2)
  end
  local task = current()
  if not task then
    if seconds > 0 then core.sleep(seconds) end
    return
  end
  local sleeper = { at = core.now() + math.max(seconds, 0), task = task }
  sleepers[#sleepers + 1] = sleeper
  suspend(task, "sleep", sleeper)
end

-- One pass: run ready tasks, advance transfers (waiting up to wait_ms), wake
-- timers, run the tasks that woke. `deadline` bounds the time spent resuming.
local function pass(wait_ms, deadline)
  added = 0
  run_ready(deadline, true)
  if #ready > 0 then wait_ms = 0 end
  local now = core.now()
  for i = 1, #sleepers do
    local ms = (sleepers[i].at - now) * 1000
    if ms < wait_ms then wait_ms = ms end
  end
  if wait_ms < 0 then wait_ms = 0 end
  local s = sessions.tasks
  if s and s:pending() > 0 then
    local finished = s:step(math.floor(wait_ms))
    local done = {}
    for _, t in ipairs(finished) do
      local task = waiting[t]
      if task then
        done[t] = true
        waiting[t] = nil -- the event carries it now (a wait left behind is not kept)
        push(task, "done", t)
      end
    end
    for t, task in pairs(waiting) do
      -- one pending tick is enough: a step that runs out of budget must not let them pile up
      if not done[t] and task.handlers and task.queued == 0 then push(task, "tick", t) end
    end
  elseif wait_ms > 0 then
    core.sleep(wait_ms / 1000)
  end
  now = core.now()
  local i = 1
  while i <= #sleepers do
    local sl = sleepers[i]
    if sl.at <= now then
      table.remove(sleepers, i)
      push(sl.task, "timer", sl)
    else
      i = i + 1
    end
  end
  run_ready(deadline)
end

local function check_outside(name)
  -- `running`, not current(): inside loop.blocking or a handler it would wait for itself
  if running then error("aurous." .. name .. "() cannot be called from inside a task", 3) end
end

--- Time one step() may spend resuming tasks, in seconds, and how many new
-- transfers it may start (each costs a connection set-up in the same step): at
-- least one task runs per step; the others wait for the next call.
loop.STEP_BUDGET = 0.0005
loop.STEP_NEW_TRANSFERS = 4

--- Advances the tasks without blocking; returns the number still pending and,
-- when some failed during this step (those whose error no `gather` collects), the
-- list of their errors: a host loop has no run() to report them.
function loop.step()
  check_outside("step")
  step_failures = true
  local ok, err = pcall(pass, 0, core.now() + loop.STEP_BUDGET)
  local failures = step_failures
  step_failures = nil
  if not ok then error(err, 0) end
  return live, failures ~= true and failures or nil
end

-- Runs passes until `finished()` holds.
local function run_until(finished)
  while not finished() do
    local idle = #ready == 0 and #sleepers == 0 and not (sessions.tasks and sessions.tasks:pending() > 0)
    if idle and live > 0 then
      -- nothing is queued, sleeping or in flight: no task can ever move again
      error("aurous: deadlock: " .. live .. " task(s) wait on something that cannot happen"
        .. " (each other, or a wait left by an error)", 0)
    end
    pass(idle and 0 or 1000)
  end
end

--- Drives every task to its end. Returns true, or false and the first error of a
-- task that failed meanwhile (tasks spawned by tasks included; not one whose error
-- went to a `gather`).
function loop.run()
  check_outside("run")
  local outer = run_failure
  local failure = {}
  run_failure = failure
  local ok, err = pcall(run_until, function() return live == 0 end)
  run_failure = outer
  if not ok then error(err, 0) end
  if failure.err then return false, failure.err end
  return true
end

--- Runs the functions as tasks and returns, in order, one table per function:
-- its return values packed (`{n = …, …}`), or `{nil, err, n = 2}` if it raised.
function loop.gather(...)
  local fns = pack(...)
  local tasks = {}
  for i = 1, fns.n do
    if type(fns[i]) ~= "function" then
      error("bad argument #" .. i .. " to 'gather' (function expected, got " .. type(fns[i]) .. ")", 2)
    end
    tasks[i] = loop.spawn(fns[i])
  end
  local task = current()
  if task then
    task.join_left = 0
    task.children = tasks
    for _, child in ipairs(tasks) do
      if not child.done then
        task.join_left = task.join_left + 1
        child.joiners = child.joiners or {}
        child.joiners[#child.joiners + 1] = task
      end
    end
    if task.join_left > 0 then suspend(task, "join", tasks) end
  else
    run_until(function()
      for _, child in ipairs(tasks) do if not child.done then return false end end
      return true
    end)
  end
  local results = {}
  for i, child in ipairs(tasks) do
    if child.ok then results[i] = child.values else results[i] = { nil, child.err, n = 2 } end
  end
  return results
end

--- The number of tasks not yet finished.
function loop.pending()
  return live
end

--- The number of resumes queued for the next pass (a diagnostic: it stays below
-- twice the number of tasks however often step() runs out of budget).
function loop.queued()
  return #ready
end

return loop
