--- The retry policy: which failures are worth another attempt, and how long to wait.
-- @module aurous.retry
local retry = {}

retry.BASE_DELAY = 0.5   -- first backoff, seconds
retry.MAX_DELAY = 8      -- backoff cap, seconds
retry.MAX_RETRY_AFTER = 60 -- a longer Retry-After is not waited for

-- 429 codes that another attempt cannot fix (credit or quota, not speed).
local NOT_RETRYABLE_429 = { balance_too_low = true, insufficient_credits = true, quota_exceeded = true }

--- True when `err` (an error object) may succeed on another attempt.
-- `safe` says whether repeating the request cannot execute it twice
-- (GET/PUT/PATCH/DELETE, or a POST carrying an idempotency key).
function retry.retryable(err, safe)
  if not safe then return false end
  local t, status = err.type, err.status
  if t == "connection" or t == "timeout" then return true end
  if t == "decode" then return true end
  if not status then return false end
  if status == 408 then return true end
  if status == 409 then return err.code == "idempotency_key_in_use" end
  if status == 429 then return not NOT_RETRYABLE_429[err.code or ""] end
  return status >= 500
end

--- Seconds to wait before attempt `attempt + 1` (attempt ≥ 1): exponential with
-- jitter (0.5 s doubling, capped at 8 s), never less than a `Retry-After`.
-- Returns nil when the server asks for a wait longer than MAX_RETRY_AFTER.
function retry.delay(attempt, err, random)
  random = random or math.random
  local backoff = math.min(retry.MAX_DELAY, retry.BASE_DELAY * 2 ^ (attempt - 1))
  local wait = backoff * (0.5 + random() / 2)
  local ra = err and err.retry_after
  if ra then
    if ra > retry.MAX_RETRY_AFTER then return nil end
    if ra > wait then wait = ra end
  end
  return wait
end

return retry
