-- The API reference (doc/api/, built by `make doc` from the source comments
-- with LDoc and config.ld): it builds without a warning, and every public
-- function of the API has an entry in it.  The list of functions is taken
-- from the running module, not written down here, so a function added
-- without a doc comment fails this spec.
local lfs = require "lfs"
local sh = require "helpers.sh"

local function read(path) return assert(sh.read(path), path .. ": cannot read") end

-- Build the reference into a temp dir: the exit status, ldoc's output lines
-- and the anchors of every generated page (page name -> set of entry names).
local function build(dir)
  local out, code = sh.run({ "ldoc", ".", "--dir", dir }, { stderr = true })
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local pages = {}
  for name in lfs.dir(dir .. "/modules") do
    local mod = name:match("^(.*)%.html$")
    if mod then
      local set = {}
      for a in read(dir .. "/modules/" .. name):gmatch('<a name = "([^"]+)"></a>') do set[a] = true end
      pages[mod] = set
    end
  end
  return code, lines, pages
end

-- The API's module names: netops, its C core, and one per file of
-- lua/netops/ and lua/netops/failover/ (the commands in lua/netops/cli/
-- are not API).
local function module_names()
  local names = { "netops", "netops.core" }
  for _, sub in ipairs({ "", "failover/" }) do
    local found = {}
    for f in lfs.dir("lua/netops/" .. sub) do
      local m = f:match("^(.+)%.lua$")
      if m and m ~= "init" then found[#found + 1] = "netops." .. sub:gsub("/", ".") .. m end
    end
    table.sort(found)
    for _, m in ipairs(found) do names[#names + 1] = m end
  end
  return names
end

local function public(k)
  return type(k) == "string" and not k:match("^_")
end

-- Every public function of the modules, one level of sub-tables included
-- (core.log.open is "log.open" of netops.core): function value -> the
-- places { page =, name = } where a user finds it.  The same function
-- reached under several names (netops.spawn is core.spawn) needs one entry.
local function module_functions()
  local places = {}
  local function add(fn, page, name)
    places[fn] = places[fn] or {}
    table.insert(places[fn], { page = page, name = name })
  end
  local netops = require "netops"
  for _, m in ipairs(module_names()) do
    local mod = m == "netops" and netops or require(m)
    for k, v in pairs(mod) do
      if public(k) and type(v) == "function" then
        add(v, m, k)
      elseif public(k) and type(v) == "table" and m ~= "netops" then
        for k2, v2 in pairs(v) do
          if public(k2) and type(v2) == "function" then add(v2, m, k .. "." .. k2) end
        end
      end
    end
  end
  return places
end

-- The methods of every handle type: the C classes (metatables named
-- "netops.Type" in the registry, their methods the __index table or, when
-- __index is a function, its first upvalue) and the objects Lua modules
-- make (one of each created here).  A class whose only method is close is
-- an internal holder (an fd, an iterator's state) that users never call.
-- Returns a sorted list of "Type:method".
local function methods()
  require "netops.conntrack"            -- loads netops.ctnetlink's classes
  require "netops.failover"
  local out = {}
  local function add_class(tname, index)
    if type(index) == "function" then index = select(2, debug.getupvalue(index, 1)) end
    if type(index) ~= "table" then return end
    local list = {}
    for k, v in pairs(index) do
      if public(k) and type(v) == "function" then list[#list + 1] = tname .. ":" .. k end
    end
    if #list == 1 and list[1]:match(":close$") then return end
    for _, n in ipairs(list) do out[#out + 1] = n end
  end
  for k, v in pairs(debug.getregistry()) do
    local tname = type(k) == "string" and k:match("^netops%.(%u%w*)$")
    if tname and type(v) == "table" then add_class(tname, v.__index) end
  end
  local metrics = require "netops.failover.metrics"
  add_class("Set", getmetatable(metrics.new()).__index)
  table.sort(out)
  return out
end

describe("API reference (LDoc)", function()
  local dir, code, lines, pages

  setup(function()
    dir = sh.tmpdir()
    code, lines, pages = build(dir)
  end)

  teardown(function()
    if dir then sh.rmtree(dir) end
  end)

  it("ldoc . builds it with exit status 0 and no warning", function()
    local warnings = {}
    for _, l in ipairs(lines) do
      if not (l == "reading configuration from config.ld" or l:match("^output written to ")) then
        warnings[#warnings + 1] = l
      end
    end
    assert.same({}, warnings)
    assert.equal(0, code)
  end)

  it("has an entry for every public function of every module", function()
    local missing = {}
    local count = 0
    for _, where in pairs(module_functions()) do
      count = count + 1
      local found = false
      for _, p in ipairs(where) do
        if pages[p.page] and pages[p.page][p.name] then found = true end
      end
      if not found then
        local names = {}
        for _, p in ipairs(where) do names[#names + 1] = p.page .. "." .. p.name end
        table.sort(names)
        missing[#missing + 1] = table.concat(names, " = ")
      end
    end
    table.sort(missing)
    assert.is_true(count > 50, "only " .. count .. " functions found: is the enumeration broken?")
    assert.same({}, missing)
  end)

  it("has an entry for every method of every handle", function()
    local all = {}
    for _, set in pairs(pages) do
      for a in pairs(set) do all[a] = true end
    end
    local list = methods()
    assert.is_true(#list > 30, "only " .. #list .. " methods found: is the enumeration broken?")
    local missing = {}
    for _, m in ipairs(list) do
      if not all[m] then missing[#missing + 1] = m end
    end
    assert.same({}, missing)
  end)
end)
