--- Field descriptions shared by several resources (REFERENCE §7a, §8, §9).
-- @module aurous.resources.schemas
local validate = require("aurous.validate")

local schemas = {}

--- The cursor query of id-cursor lists (limit 1–100, starting_after / ending_before).
function schemas.cursor_query(extra, with_ending_before)
  local fields = {
    limit = { type = "integer", min = 1, max = 100 },
    starting_after = { type = "string", min_len = 1 },
  }
  if with_ending_before then fields.ending_before = { type = "string", min_len = 1 } end
  for k, v in pairs(extra or {}) do fields[k] = v end
  return { fields = fields, rules = { validate.exclusive("starting_after", "ending_before") } }
end

schemas.https_url = { type = "string", min_len = 1, max_len = 2048, pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^%s]+$",
  pattern_text = "must be an http(s) URL" }

-- An image the API fetches: an uploaded file's id or a public https:// URL
-- (REFERENCE §8.1, §9.1; an unknown URL is refused).
schemas.image_source = { type = "string", min_len = 1, max_len = 2048,
  patterns = { "^file_%S+$", "^[Hh][Tt][Tt][Pp][Ss]://[^%s]+$" },
  pattern_text = "must be a file_ id (from files:upload) or an https:// URL" }

return schemas
