--- Builds a resource object (such as `client.images`) from its description:
-- endpoints as data, plus the few helper methods that are not plain calls.
-- An endpoint: `{ method, path, param = "id" (the path parameter, if any),
-- query = schema | body = schema, idempotent, retry_safe, once, paginated = style }`.
-- Methods get `(self, [id,] params, opts)`; a paginated one returns a page, and an
-- entry of `each` (`each = { name = "list" }`) makes the iterator over it.
-- @module aurous.resource
local pager = require("aurous.pager")

local resource = {}

-- Raises when a method is called with '.' instead of ':' (self is then not the
-- resource, and nothing below would say so).
local function check_self(self, name)
  if type(self) ~= "table" or rawget(self, "_client") == nil then
    error("aurous: call it with ':', as in client." .. name .. "(...), not '.'", 3)
  end
end

local function method_for(name, endpoint, shown)
  local param = endpoint.param
  local function call(self, a, b, c)
    check_self(self, shown)
    local path_values, params, opts
    if param then
      if type(a) == "table" and a.id ~= nil and param == "id" then a = a.id end
      path_values, params, opts = { [param] = a }, b, c
    else
      params, opts = a, b
    end
    local client = self._client
    if not endpoint.paginated then
      return client:call(endpoint, path_values, params, opts)
    end
    local function fetch(p)
      local body, err, meta = client:call(endpoint, path_values, p, opts)
      if not body then return nil, err end
      return pager.page(body, meta, p, endpoint.paginated, fetch), nil, meta
    end
    return fetch(params or {})
  end
  return call, name
end

--- A resource object bound to `client`, from `description`.
function resource.build(client, description, namespace)
  local function shown(name) return (namespace or "resource") .. ":" .. name end
  local self = { _client = client }
  for name, endpoint in pairs(description.endpoints) do
    self[name] = method_for(name, endpoint, shown(name))
  end
  for name, list_name in pairs(description.each or {}) do
    local list = self[list_name]
    local has_param = description.endpoints[list_name].param ~= nil
    self[name] = function(s, a, b, c)
      check_self(s, shown(name))
      if has_param then
        return pager.each(function() return list(s, a, b, c) end)
      end
      return pager.each(function() return list(s, a, b) end)
    end
  end
  for name, fn in pairs(description.methods or {}) do
    self[name] = function(s, ...)
      check_self(s, shown(name))
      return fn(s, ...)
    end
  end
  return self
end

return resource
