-- The documentation as a reader meets it: a short README.md, and every
-- relative link in README.md and doc/*.md leading somewhere: to a file or
-- directory that exists and, for a #anchor, to a heading of that page (the
-- anchor GitHub and pandoc make of it).
local lfs = require "lfs"
local sh = require "helpers.sh"

local function read(path) return assert(sh.read(path), path .. ": cannot read") end

-- Lines outside fenced code blocks, with inline code spans blanked out.
local function prose_lines(text)
  local out, fence = {}, nil
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    local f = line:match("^%s*(```+)") or line:match("^%s*(~~~+)")
    if fence then
      if f and f:sub(1, 1) == fence:sub(1, 1) and #f >= #fence then fence = nil end
      out[#out + 1] = ""
    elseif f then
      fence = f
      out[#out + 1] = ""
    else
      out[#out + 1] = line:gsub("(`+)(.-)%1", function(_, code) return ("x"):rep(#code) end)
    end
  end
  return out
end

-- The anchor of a heading: its text without markup, lower case, only
-- letters, digits, blanks, '-' and '_' kept, blanks turned into '-'.
local function slug(heading)
  local s = heading:gsub("%[(.-)%]%b()", "%1"):gsub("`", "")
  s = s:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-")
  return s
end

-- The anchors of a markdown file's headings (repeated ones get -1, -2 ...).
local function anchors(path)
  local set, seen, fence = {}, {}, nil
  for line in (read(path) .. "\n"):gmatch("(.-)\r?\n") do
    local f = line:match("^%s*(```+)") or line:match("^%s*(~~~+)")
    if fence then
      if f and #f >= #fence then fence = nil end
    elseif f then
      fence = f
    else
      local text = line:match("^#+%s+(.-)%s*#*%s*$")
      if text and #line:match("^#+") <= 6 then
        local a = slug(text)
        if seen[a] then
          seen[a] = seen[a] + 1
          a = a .. "-" .. seen[a]
        else
          seen[a] = 0
        end
        set[a] = true
      end
    end
  end
  return set
end

-- Relative links of a markdown file: { line =, target = } for inline links
-- [text](target "title"), images, and reference definitions [x]: target.
local function links(path)
  local out = {}
  for n, line in ipairs(prose_lines(read(path))) do
    for target in line:gmatch("%]%(%s*<?([^%s%)>]*)>?[^%)]*%)") do
      out[#out + 1] = { line = n, target = target }
    end
    local def = line:match("^%s*%[[^%]]+%]:%s*<?([^%s>]+)")
    if def then out[#out + 1] = { line = n, target = def } end
  end
  return out
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

-- Every broken relative link of the given files, one message each.
local function broken_links(files)
  local bad = {}
  for _, file in ipairs(files) do
    for _, l in ipairs(links(file)) do
      local t = l.target
      if t == "" then
        bad[#bad + 1] = ("%s:%d: empty link"):format(file, l.line)
      elseif not t:match("^%a[%w+.-]*:") and not t:match("^//") then
        local p, anchor = t:match("^([^#]*)#?(.*)$")
        local target = p == "" and file or dirname(file) .. "/" .. p
        local mode = lfs.attributes(target, "mode")
        if not mode then
          bad[#bad + 1] = ("%s:%d: %s: no such file"):format(file, l.line, t)
        elseif anchor ~= "" then
          if mode ~= "file" or not target:match("%.md$") then
            bad[#bad + 1] = ("%s:%d: %s: an anchor into something not markdown"):format(file, l.line, t)
          elseif not anchors(target)[anchor] then
            bad[#bad + 1] = ("%s:%d: %s: no heading '#%s' in %s"):format(file, l.line, t, anchor, target)
          end
        end
      end
    end
  end
  return bad
end

local function doc_files()
  local files = { "README.md" }
  local names = {}
  for name in lfs.dir("doc") do
    if name:match("%.md$") then names[#names + 1] = "doc/" .. name end
  end
  table.sort(names)
  for _, n in ipairs(names) do files[#files + 1] = n end
  return files
end

describe("documentation", function()
  it("README.md is at most 200 lines", function()
    local n = select(2, read("README.md"):gsub("\n", ""))
    assert.is_true(n <= 200, "README.md has " .. n .. " lines")
  end)

  it("every relative link in README.md and doc/*.md reaches a file and, for #anchors, a heading", function()
    local files = doc_files()
    assert.is_true(#files >= 5, "doc/*.md: " .. table.concat(files, " "))
    local bad = broken_links(files)
    assert.same({}, bad)
  end)

  it("README.md links every page of doc/", function()
    local linked = {}
    for _, l in ipairs(links("README.md")) do linked[l.target:match("^[^#]*")] = true end
    local missing = {}
    for _, f in ipairs(doc_files()) do
      if f ~= "README.md" and not linked[f] then missing[#missing + 1] = f end
    end
    assert.same({}, missing)
  end)

  it("the link check reports a missing file, a missing heading and a link into code it must skip", function()
    local dir = sh.tmpdir()
    finally(function() sh.rmtree(dir) end)
    local function write(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w")); f:write(text); f:close()
    end
    write("a.md", table.concat({
      "# Top",
      "## The HA lab (`make demo`)",
      "## netops.proc and netops.signals",
      "## Top",
      "See [b](b.md), [lab](#the-ha-lab-make-demo), [p](b.md#netopsproc-and-netopssignals),",
      "[again](#top-1), [web](https://example.org/x.md), [gone](c.md), [bad](b.md#nowhere).",
      "`[in code](nothing.md)`",
      "```",
      "[in a block](nothing.md)",
      "```",
      "[ref]: missing.md",
    }, "\n") .. "\n")
    write("b.md", "# B\n\n### netops.proc and netops.signals\n")
    assert.same({
      dir .. "/a.md:6: c.md: no such file",
      dir .. "/a.md:6: b.md#nowhere: no heading '#nowhere' in " .. dir .. "/b.md",
      dir .. "/a.md:11: missing.md: no such file",
    }, broken_links({ dir .. "/a.md" }))
  end)
end)
