--- A strict reader of the Prometheus text exposition format, for the
-- metrics specs: every line a `# HELP`, a `# TYPE` right after its HELP, or a
-- sample of that family; label values with only \\, \" and \n escapes; the
-- text ends with a newline.  Anything else raises, naming the line.
local M = {}

local function labels_of(rest, line)
  local out, i = {}, 2
  while rest:sub(i, i) ~= "}" do
    local name, j = rest:match('^([%a_][%w_]*)="()', i)
    assert(name, "bad label: " .. line)
    local val = {}
    while true do
      local c = rest:sub(j, j)
      assert(c ~= "" and c ~= "\n", "unterminated label value: " .. line)
      if c == '"' then j = j + 1; break end
      if c == "\\" then
        local e = rest:sub(j + 1, j + 1)
        assert(e == "\\" or e == '"' or e == "n", "bad escape in: " .. line)
        val[#val + 1] = e == "n" and "\n" or e
        j = j + 2
      else
        val[#val + 1] = c
        j = j + 1
      end
    end
    assert(out[name] == nil, "label twice: " .. line)
    out[name] = table.concat(val)
    i = j
    if rest:sub(i, i) == "," then i = i + 1 else assert(rest:sub(i, i) == "}", "bad label list: " .. line) end
  end
  return out, rest:sub(i + 1)
end

--- Parse text: { [family] = { help =, type =, samples = { { labels = {}, value = n } ... } } }.
function M.parse(text)
  assert(#text > 0 and text:sub(-1) == "\n", "empty, or not ending with a newline")
  local fams, cur = {}, nil
  for line in text:gmatch("([^\n]*)\n") do
    local hname, help = line:match("^# HELP ([%a_:][%w_:]*) (.*)$")
    local tname, kind = line:match("^# TYPE ([%a_:][%w_:]*) (%a+)$")
    if hname then
      assert(not fams[hname], "HELP twice for " .. hname)
      fams[hname] = { help = help, samples = {} }
      cur = hname
    elseif tname then
      assert(tname == cur and fams[tname].type == nil, "TYPE not right after its HELP: " .. line)
      assert(kind == "counter" or kind == "gauge" or kind == "untyped", "bad type: " .. line)
      fams[tname].type = kind
    else
      local name, rest = line:match("^([%a_:][%w_:]*)(.*)$")
      assert(name and name == cur and fams[name].type, "sample outside its family: " .. line)
      local labels = {}
      if rest:sub(1, 1) == "{" then labels, rest = labels_of(rest, line) end
      local v = rest:match("^ (%S+)$")
      local n = v and (tonumber(v) or (v == "NaN" and 0 / 0) or (v == "+Inf" and math.huge)
                       or (v == "-Inf" and -math.huge))
      assert(n, "bad value: " .. line)
      table.insert(fams[name].samples, { labels = labels, value = n })
    end
  end
  return fams
end

--- The value of family name's sample with exactly these labels (nil: none).
function M.value(fams, name, labels)
  local f = fams[name]
  if not f then return nil end
  labels = labels or {}
  for _, s in ipairs(f.samples) do
    local same = true
    for k, v in pairs(labels) do if s.labels[k] ~= v then same = false end end
    for k in pairs(s.labels) do if labels[k] == nil then same = false end end
    if same then return s.value end
  end
  return nil
end

return M
