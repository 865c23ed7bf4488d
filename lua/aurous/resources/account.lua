--- `client.account` and `client.ledger`: balance, team, usage, pricing and the
-- credit ledger (REFERENCE §0, §12).
-- @module aurous.resources.account
local schemas = require("aurous.resources.schemas")

local RFC3339 = { type = "string", pattern = "^%d%d%d%d%-%d%d%-%d%d[Tt]%d%d:%d%d", pattern_text = "must be an RFC 3339 time such as 2026-05-01T00:00:00Z" }
local GROUPS = { type = "array", comma_separated = true, max_items = 2, items = { type = "string", enum = { "status", "api_key_id", "user_id", "type", "model" } } }

local USAGE = {
  fields = {
    start_time = { type = RFC3339.type, pattern = RFC3339.pattern, pattern_text = RFC3339.pattern_text, required = true },
    end_time = RFC3339,
    bucket_width = { type = "string", enum = { "1m", "5m", "15m", "1h", "1d", "7d" } },
    group_by = GROUPS,
    -- REFERENCE §12.5: "comma-separated or repeated"
    status = { type = "array", comma_separated = true, items = { type = "string" } },
    type = { type = "array", comma_separated = true, items = { type = "string" } },
    api_key_id = { type = "array", comma_separated = true, items = { type = "string" } },
    user_id = { type = "array", comma_separated = true, items = { type = "string" } },
    lora_id = { type = "string" },
    character_id = { type = "string" },
    limit = { type = "integer", min = 1, max = 100 },
    page_token = { type = "string", min_len = 1 },
  },
}

local USAGE_EVENTS = {
  fields = {
    start_time = { type = RFC3339.type, pattern = RFC3339.pattern, pattern_text = RFC3339.pattern_text, required = true },
    end_time = RFC3339,
    type = { type = "string", enum = { "chat", "embedding", "image", "video" } },
    status = { type = "string", enum = { "completed", "failed", "cancelled", "processing", "pending" } },
    model = { type = "string" }, api_key_id = { type = "string" }, user_id = { type = "string" },
    lora_id = { type = "string" },
    limit = { type = "integer", min = 1, max = 500 },
    cursor = { type = "string", min_len = 1 },
  },
}

local LEDGER_TYPES = { "hold", "release", "charge", "refund", "topup", "adjustment" }

return {
  account = {
    endpoints = {
      balance = { method = "GET", path = "/v1/balance" },
      team = { method = "GET", path = "/v1/team" },
      usage = { method = "GET", path = "/v1/usage", query = USAGE, paginated = "page_token" },
      usage_events = { method = "GET", path = "/v1/usage/events", query = USAGE_EVENTS, paginated = "next_cursor" },
      pricing = { method = "GET", path = "/v1/pricing" },
    },
  },
  ledger = {
    endpoints = {
      list = { method = "GET", path = "/v1/ledger", paginated = "cursor",
        query = schemas.cursor_query({ type = { type = "string", enum = LEDGER_TYPES } }) },
    },
    each = { each = "list" },
  },
}
