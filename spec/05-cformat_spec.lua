-- Every format string the C core hands to Lua's own formatter
-- (lua_pushfstring, lua_pushvfstring, luaL_error, and luax_fail/luax_failclass,
-- which forward to lua_pushvfstring) uses only the conversions Lua knows:
-- %% %c %d %I %f %p %s %U, with no flags, width or precision.  gcc checks
-- luax_fail's formats as printf formats, so `%g` or `%5d` compile cleanly
-- and then make Lua raise "invalid conversion" at run time.

-- function name -> index of its format argument
local FORMAT_ARG = { lua_pushfstring = 2, lua_pushvfstring = 2, luaL_error = 2,
                     luax_fail = 3, luax_failclass = 3 }
local LUA_CONV = "[%%cdIfpsU]"

-- The argument list of the call whose "(" is at text[open]: array of
-- argument texts, split at top-level commas (strings, chars and nested
-- parentheses respected), and the index of the closing ")".
local function call_args(text, open)
  local args, depth, start, i = {}, 0, open + 1, open
  while i <= #text do
    local c = text:sub(i, i)
    if c == '"' or c == "'" then
      i = i + 1
      while text:sub(i, i) ~= c do
        if text:sub(i, i) == "\\" then i = i + 1 end
        i = i + 1
        assert(i <= #text, "unterminated literal")
      end
    elseif c == "(" then
      depth = depth + 1
    elseif c == ")" then
      depth = depth - 1
      if depth == 0 then
        args[#args + 1] = text:sub(start, i - 1)
        return args, i
      end
    elseif c == "," and depth == 1 then
      args[#args + 1] = text:sub(start, i - 1)
      start = i + 1
    end
    i = i + 1
  end
  error("unbalanced call")
end

-- The concatenated string literals of an argument; nil when it holds no
-- literal (a variable format: its callers are checked instead); nil and a
-- reason when literals are mixed with other tokens (a PRIu64 macro ...).
local function literal(arg)
  local parts, other, i = {}, false, 1
  while i <= #arg do
    local c = arg:sub(i, i)
    if c == '"' then
      local j = i + 1
      while arg:sub(j, j) ~= '"' do
        if arg:sub(j, j) == "\\" then j = j + 1 end
        j = j + 1
      end
      parts[#parts + 1] = arg:sub(i + 1, j - 1)
      i = j + 1
    else
      if c:find("%S") then other = true end
      i = i + 1
    end
  end
  if #parts == 0 then return nil end
  if other then return nil, "format is not a plain literal: " .. arg:gsub("%s+", " ") end
  return table.concat(parts)
end

-- Unsupported conversions in one format text: list of "%x" found.
local function bad_conversions(fmt)
  local bad, i = {}, 1
  while true do
    local p = fmt:find("%", i, true)
    if not p then return bad end
    local nxt = fmt:sub(p + 1, p + 1)
    if not nxt:match(LUA_CONV) then
      bad[#bad + 1] = fmt:sub(p, p + 2)
      i = p + 1
    else
      i = p + 2
    end
  end
end

--- Check every call in one C source text; returns a list of problems.
local function check_source(name, text)
  local problems = {}
  text = text:gsub("/%*.-%*/", function(c) return (c:gsub("[^\n]", " ")) end)
  local defs = {}     -- #define NAME "literal": substituted in format arguments
  for k, v in text:gmatch('\n[ \t]*#define%s+([%w_]+)%s+("[^"\n]*")') do defs[k] = v end
  for fn, open in text:gmatch("([%w_]+)%s*()%(") do
    local at = FORMAT_ARG[fn]
    local prev = text:sub(open - #fn - 12, open - #fn - 1)
    -- skip the prototypes and definitions of the functions themselves
    if at and not prev:find("int%s*$") and not prev:find("char%s*%*?%s*$") then
      local args = call_args(text, open)
      local line = select(2, text:sub(1, open):gsub("\n", "")) + 1
      local fmt, err = literal((args[at] or ""):gsub("[%a_][%w_]*", defs))
      if err then
        problems[#problems + 1] = string.format("%s:%d: %s: %s", name, line, fn, err)
      elseif fmt then
        for _, b in ipairs(bad_conversions(fmt)) do
          problems[#problems + 1] = string.format("%s:%d: %s: unsupported conversion %s in \"%s\"",
                                                  name, line, fn, b, fmt)
        end
      end
    end
  end
  return problems
end

describe("C formats handed to Lua", function()
  it("the checker finds what Lua's formatter refuses", function()
    local p = check_source("t.c", [[
      return luax_failclass(L, "timeout", "held after %gs", t);
      lua_pushfstring(L, "%5d and %s", 1, "x");
      luaL_error(L, "ok %d %s %f %p %c %U %I %%");
      luax_fail(L, e, "split " "%d" " then %lu", 1, 2UL);
      lua_pushfstring(L, "%" PRIu64, v);
      #define T "netops.T"
      lua_pushfstring(L, T " %s", "x");
      int luax_fail(lua_State *L, int err, const char *fmt, ...);
    ]])
    assert.equal(4, #p, table.concat(p, "\n"))
    assert.matches("t.c:1: luax_failclass: unsupported conversion %%gs", p[1])
    assert.matches("t.c:2: lua_pushfstring: unsupported conversion %%5d", p[2])
    assert.matches("t.c:4: luax_fail: unsupported conversion %%lu", p[3])
    assert.matches("t.c:5: lua_pushfstring: format is not a plain literal", p[4])
  end)

  it("every format in csrc/*.c uses only %% %c %d %I %f %p %s %U", function()
    local problems, files = {}, 0
    local ls = io.popen("ls csrc/*.c")
    for path in ls:lines() do
      files = files + 1
      local f = assert(io.open(path))
      for _, p in ipairs(check_source(path, f:read("a"))) do problems[#problems + 1] = p end
      f:close()
    end
    ls:close()
    assert.is_true(files > 5)
    assert.equal("", table.concat(problems, "\n"))
  end)
end)
