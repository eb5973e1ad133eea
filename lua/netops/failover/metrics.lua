--- netops.failover.metrics: series in the Prometheus text exposition format,
-- written for node_exporter's textfile collector.
--
--     local metrics = require "netops.failover.metrics"
--     local set = metrics.new()
--     set:add("netops_failover_superseded_total", 3, nil, "Calls superseded.", "counter")
--     set:add("netops_failover_state", 1, { instance = "VI_1", state = "master" }, "...", "gauge")
--     assert(metrics.write("/var/lib/prometheus/node-exporter/netops_failover.prom", set:render()))
--
-- Each family is rendered once, `# HELP` and `# TYPE` first, then its
-- samples in the order they were added, labels sorted by name.  Label
-- values are escaped as the format says (`\` as `\\`, `"` as `\"`, a newline
-- as `\n`); a byte that is not UTF-8 becomes the text `\xNN`, since a file
-- that is not UTF-8 is refused whole by node_exporter.  No timestamps: the
-- textfile collector refuses them.  A bad metric or label name, an unknown
-- type, a value that is not a number, or one name given two helps or types
-- raises (misuse).
-- @module netops.failover.metrics
local core = require "netops.core"

local M = {}

--- The file netops-failover writes in the metrics directory.
M.FILE = "netops_failover.prom"

local TYPES = { counter = true, gauge = true, untyped = true }

local function check_name(name, level)
  if type(name) ~= "string" or not name:match("^[%a_:][%w_:]*$") then
    error("metrics: bad metric name " .. string.format("%q", tostring(name))
          .. " (letters, digits, _ and :, not starting with a digit)", level + 1)
  end
end

local function check_label(name, level)
  if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") or name:sub(1, 2) == "__" then
    error("metrics: bad label name " .. string.format("%q", tostring(name))
          .. " (letters, digits and _, not starting with a digit or __)", level + 1)
  end
end

--- Valid UTF-8 text as it is; each byte that is not UTF-8 as the text \xNN.
function M.utf8(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local ok, bad = utf8.len(s, i)
    if ok then out[#out + 1] = s:sub(i); break end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = string.format("\\x%02X", s:byte(bad))
    i = bad + 1
  end
  return table.concat(out)
end

--- A label value for the text format: UTF-8, then `\`, `"`, newline escaped.
function M.escape_label(v)
  return (M.utf8(tostring(v)):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

--- A HELP text: UTF-8, `\` and newline escaped.
function M.escape_help(s)
  return (M.utf8(tostring(s)):gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

--- A sample value: integers as they are, NaN, +Inf, -Inf, else the shortest
-- decimal that reads back as the same float.
function M.format_value(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "NaN" end
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v == math.floor(v) and math.abs(v) < 2^53 then return string.format("%d", v) end
  for _, f in ipairs { "%.15g", "%.16g" } do
    local s = string.format(f, v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

--- The label part of a sample, `{a="x",b="y"}` (names sorted), or "".
local function label_text(labels)
  if not labels or next(labels) == nil then return "" end
  local names = {}
  for k in pairs(labels) do check_label(k, 3); names[#names + 1] = k end
  table.sort(names)
  for i, k in ipairs(names) do names[i] = k .. '="' .. M.escape_label(labels[k]) .. '"' end
  return "{" .. table.concat(names, ",") .. "}"
end

--- The label part of a sample, `{a="x",b="y"}` (names sorted), or "";
-- raises on a bad label name.
-- @function labels
M.labels = label_text

local Set = {}
Set.__index = Set

--- A new, empty set of series.
function M.new()
  return setmetatable({ families = {}, byname = {} }, Set)
end

--- Add (or replace: same name and labels) one sample.  labels: a table of
-- label name -> value (nil for none); help: the family's help text; kind:
-- "gauge" (default), "counter" or "untyped".  Returns the set.
function Set:add(name, value, labels, help, kind)
  check_name(name, 2)
  kind = kind or "gauge"
  if not TYPES[kind] then error("metrics: unknown type " .. tostring(kind) .. " (counter, gauge, untyped)", 2) end
  if type(value) ~= "number" then error("metrics: " .. name .. ": value must be a number, got " .. type(value), 2) end
  if labels ~= nil and type(labels) ~= "table" then error("metrics: " .. name .. ": labels must be a table", 2) end
  local key = label_text(labels)
  local fam = self.byname[name]
  if not fam then
    fam = { name = name, help = help or name, kind = kind, samples = {}, index = {} }
    self.byname[name] = fam
    self.families[#self.families + 1] = fam
  elseif fam.kind ~= kind or (help and help ~= fam.help) then
    error("metrics: " .. name .. " given again with another help or type", 2)
  end
  local i = fam.index[key]
  if not i then
    i = #fam.samples + 1
    fam.index[key] = i
  end
  fam.samples[i] = { labels = key, value = value }
  return self
end

--- Is a family of this name in the set?
function Set:has(name) return self.byname[name] ~= nil end

--- The text exposition format of every family in the set.
function Set:render()
  local out = {}
  for _, fam in ipairs(self.families) do
    out[#out + 1] = "# HELP " .. fam.name .. " " .. M.escape_help(fam.help)
    out[#out + 1] = "# TYPE " .. fam.name .. " " .. fam.kind
    for _, s in ipairs(fam.samples) do
      out[#out + 1] = fam.name .. s.labels .. " " .. M.format_value(s.value)
    end
  end
  return #out == 0 and "" or table.concat(out, "\n") .. "\n"
end

--- Replace the file at path with text, atomically (core.file_new: a new
-- O_EXCL file beside it, then rename), mode 0644 so node_exporter, which
-- does not run as root, can read it.  true | nil, message, errno.
function M.write(path, text)
  local f, err, code = core.file_new(path, 420)   -- 0644
  if not f then return nil, "metrics " .. err, code end
  local ok, werr, wcode = f:write(text)
  if not ok then return nil, "metrics " .. werr, wcode end
  ok, werr, wcode = f:commit()
  if not ok then return nil, "metrics " .. werr, wcode end
  return true
end

return M
