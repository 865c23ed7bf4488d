--- Pages and iterators over the API's lists.
-- Three cursor styles (REFERENCE §7a): `cursor` (`starting_after` / `ending_before`
-- with `next_cursor`), `page_token` (usage buckets: `next_page`), `next_cursor`
-- (usage events: `cursor`). A page is `{data, has_more, next_cursor, response}`
-- with `page:next()`; `each` walks every page.
-- @module aurous.pager
local json = require("aurous.json")
local loop = require("aurous.loop")

local pager = {}

local Page = {}
Page.__index = Page
Page.__name = "aurous.Page"

function Page:__tostring()
  return string.format("aurous.Page (%d items%s)", #self.data, self.has_more and ", more" or "")
end

-- The params of the page after `page`, or nil when it is the last one.
local function next_params(page)
  if not page.has_more then return nil end
  local params = {}
  for k, v in pairs(page.params) do params[k] = v end
  local style = page.style
  if style == "page_token" then
    if page.next_page == nil or page.next_page == json.null then return nil end
    params.page_token = page.next_page
  elseif style == "next_cursor" then
    if page.next_cursor == nil or page.next_cursor == json.null then return nil end
    params.cursor = page.next_cursor
  elseif params.ending_before ~= nil then
    -- walking towards newer rows: the next page is newer than this page's newest row
    local first = page.data[1]
    if not first or first.id == nil then return nil end
    params.ending_before = first.id
  else
    -- REFERENCE §7a: next_cursor is the cursor; none means the end (never one made up)
    local cursor = page.next_cursor
    if cursor == nil or cursor == json.null then return nil end
    params.starting_after = cursor
  end
  return params
end

--- The next page, or nil at the end (`nil, err` on failure).
function Page:next()
  local params = next_params(self)
  if not params then return nil end
  return self.fetch(params)
end

--- Wraps a decoded list body as a page. `fetch(params)` returns the page for params.
function pager.page(body, meta, params, style, fetch)
  local page = setmetatable({}, Page)
  for k, v in pairs(body) do page[k] = v end
  if type(page.data) ~= "table" then page.data = json.array{} end
  page.has_more = page.has_more == true
  page.response = meta
  page.params = params or {}
  page.style = style
  page.fetch = fetch
  return page
end

-- PUC Lua 5.1 cannot yield from inside a for-in iterator (LuaJIT and 5.2+ can):
-- there, a page fetched by the iterator blocks, even inside a task.
local ITERATOR_CANNOT_YIELD = _VERSION == "Lua 5.1" and type(rawget(_G, "jit")) ~= "table"
local function fetch(fn, arg)
  if ITERATOR_CANNOT_YIELD then return loop.blocking(fn, arg) end
  return fn(arg)
end

local function next_page(page) return page:next() end

--- An iterator over every item of every page; raises the error object on failure.
-- `first` is a function returning the first page or `nil, err`.
function pager.each(first)
  local page, index = nil, 0
  return function()
    if page == nil then
      local err
      page, err = fetch(first)
      if not page then error(err, 0) end
    end
    while true do
      index = index + 1
      local item = page.data[index]
      if item ~= nil then return item end
      local nextp, err = fetch(next_page, page)
      if nextp == nil then
        if err then error(err, 0) end
        return nil
      end
      page, index = nextp, 0
    end
  end
end

return pager
