--- `client.loras` and `client.video_loras`: style lists (bare arrays) and look-ups
-- by id or slug (REFERENCE §9.3, §12.1–12.2).
-- @module aurous.resources.loras
local function loras_at(base)
  return {
    endpoints = {
      list = { method = "GET", path = base },
      get = { method = "GET", path = base .. "/{id_or_slug}", param = "id_or_slug" },
    },
  }
end

return {
  loras = loras_at("/v1/loras"),
  video_loras = loras_at("/v1/video_loras"),
}
