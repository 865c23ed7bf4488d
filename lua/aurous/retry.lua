--- The retry policy: which failures are worth another attempt, and how long to wait.
--
-- Retried (when repeating the request cannot execute it twice, see `retryable`):
-- connection errors, timeouts, 408, 409 `idempotency_key_in_use` while the first
-- request is still in flight, 429 (except credit and quota codes) and 5xx.
-- Waits: 0.5 s doubling, with jitter, capped at 8 s; a `Retry-After` is a minimum,
-- and one longer than `MAX_RETRY_AFTER` is not waited for (the error is returned).
--
-- The fields below are the defaults; a client's `retry` option (base_delay,
-- max_delay, max_retry_after, random; see client.lua) overrides them per client,
-- which is how the specs keep their waits short.
-- @module aurous.retry
local retry = {}

retry.BASE_DELAY = 0.5      -- first backoff, seconds
retry.MAX_DELAY = 8         -- backoff cap, seconds
retry.MAX_RETRY_AFTER = 60  -- a longer Retry-After is not waited for
retry.DEFAULT_MAX_RETRIES = 2

-- Codes that another attempt cannot fix (credit or quota, not speed), whatever
-- the status (the API sends balance_too_low as 402; a proxy may say 429).
local NOT_RETRYABLE_CODES = {
  balance_too_low = true, insufficient_credits = true, insufficient_quota = true,
  quota_exceeded = true, credit_limit_exceeded = true, spend_limit_exceeded = true,
}
retry.NOT_RETRYABLE_CODES = NOT_RETRYABLE_CODES

-- Transport error types worth another attempt.
local TRANSIENT_TYPES = { connection = true, timeout = true }

--- True when `err` (an error object) may succeed on another attempt.
-- `safe` says whether repeating the request cannot execute it twice
-- (GET/HEAD/PUT/PATCH/DELETE, a POST carrying an idempotency key, or an
-- endpoint marked retry_safe). Without `safe` nothing is retried: a POST
-- without a key may have been executed even when its answer was lost.
function retry.retryable(err, safe)
  if not safe or type(err) ~= "table" then return false end
  local t, status, code = err.type, err.status, err.code
  if code == "deadline_exceeded" then return false end
  if TRANSIENT_TYPES[t] and not status then return true end
  if type(status) ~= "number" then return false end
  if code and NOT_RETRYABLE_CODES[code] then return false end
  if status == 408 then return true end
  if status == 409 then
    -- only the in-flight case: the same key with another body or route fails again
    if code ~= "idempotency_key_in_use" then return false end
    local msg = type(err.message) == "string" and err.message:lower() or ""
    return not (msg:find("different", 1, true) or msg:find("another", 1, true))
  end
  if status == 429 then return true end
  return status >= 500 and status <= 599
end

--- Seconds to wait before attempt `attempt + 1` (attempt ≥ 1): exponential with
-- jitter (BASE_DELAY doubling, capped at MAX_DELAY; the jitter keeps between half
-- and all of it), never less than the error's `retry_after`.
-- Returns nil when the server asks for a wait longer than `max_retry_after`.
-- `policy` (optional) overrides base_delay, max_delay, max_retry_after, random.
function retry.delay(attempt, err, policy)
  if type(policy) == "function" then policy = { random = policy } end -- delay(n, err, math.random)
  policy = policy or {}
  local random = policy.random or math.random
  local base = policy.base_delay or retry.BASE_DELAY
  local cap = policy.max_delay or retry.MAX_DELAY
  local ra_cap = policy.max_retry_after or retry.MAX_RETRY_AFTER
  attempt = math.max(1, math.floor(tonumber(attempt) or 1))
  local backoff = math.min(cap, base * 2 ^ math.min(attempt - 1, 30))
  local wait = backoff * (0.5 + random() / 2)
  local ra = type(err) == "table" and err.retry_after or nil
  if type(ra) == "number" and ra == ra then
    if ra > ra_cap then return nil end
    if ra > wait then wait = ra end
  end
  return wait
end

return retry
