-- Snapshot lines (csrc/ct_text.c) against the real conntrack command, in a
-- network namespace of the test's own: each line of
-- spec/data/conntrack-testsuite.txt (conntrack-tools' own test suite and
-- netops' cases) given to `conntrack -I` makes the entry netops reads from
-- the line; netops' formatted line, loaded with `conntrack -R`, makes the
-- same table; the lines conntrack refuses, netops refuses.  The C parser
-- runs as build/helpers/ct_text_cli (no Lua binding yet).
local sh = require "helpers.sh"

local CLI = sh.build .. "/helpers/ct_text_cli"

-- The suite's addresses, moved into the documentation ranges.
local ADDRS = {
  ["1.1.1.1"] = "192.0.2.1", ["2.2.2.2"] = "192.0.2.2", ["3.3.3.3"] = "192.0.2.3",
  ["4.4.4.4"] = "192.0.2.4", ["5.5.5.5"] = "192.0.2.5", ["0.0.0.0"] = "192.0.2.10",
  ["224.0.0.22"] = "192.0.2.22",
}

local function doc_addrs(line)
  line = line:gsub("%-d ::2 ", "-d 2001:db8::2 ")
  return (line:gsub("%d+%.%d+%.%d+%.%d+", function(a) return ADDRS[a] end))
end

local function data()
  local out = {}
  local n = 0
  for line in io.lines("spec/data/conntrack-testsuite.txt") do
    n = n + 1
    local verdict, text = line:match("^(%u+)\t(.+)$")
    if verdict then out[#out + 1] = { verdict = verdict, line = doc_addrs(text), no = n } end
  end
  return out
end

-- The C parser's reading of each line: { ok = fields } or { bad = reason }.
local function cli(mode, lines)
  local out, code = sh.run({ CLI, mode }, { stdin = table.concat(lines, "\n") .. "\n" })
  assert(code == 0, CLI .. " failed: " .. out)
  local res = {}
  for l in out:gmatch("[^\n]+") do res[#res + 1] = l end
  assert(#res == #lines, "ct_text_cli: one answer a line")
  return res
end

local function fields(answer)
  local t = {}
  for k, v in answer:gmatch("(%w+)=(%S+)") do t[k] = v end
  return t
end

local ns
local function ct(args, stdin)
  return sh.run("ip netns exec " .. ns .. " conntrack " .. args, { stderr = true, stdin = stdin })
end

-- The table as `conntrack -L` prints it, without the timeouts (they count
-- down) and in a stable order.
local function table_text()
  local out = ct("-L")
  local rows = {}
  for l in out:gmatch("[^\n]+") do
    if not l:match("^conntrack v") then
      rows[#rows + 1] = (l:gsub("^(%S+%s+%d+%s+)%d+", "%1T"))
    end
  end
  table.sort(rows)
  return table.concat(rows, "\n")
end

-- Fields that conntrack -L -o save writes and the kernel keeps as given.
local SAME = { "family", "proto", "orig", "reply", "zone", "orig_zone", "reply_zone", "state",
               "icmp", "vtag", "keys", "role" }
-- status bits: SEEN_REPLY, ASSURED, SRC_NAT, DST_NAT (conntrack writes
-- FIXED_TIMEOUT and EXPECTED too, but the kernel sets those itself)
local STATUS_KEPT = 0x2 | 0x4 | 0x10 | 0x20

describe("ct_text against the real conntrack", function()
  local lines = data()

  setup(function()
    if sh.is_root() then
      assert(sh.run({ "test", "-x", CLI }) ~= nil)
      ns = sh.netns("cttext")
    end
  end)
  teardown(function() sh.netns_cleanup() end)

  it("reads conntrack-tools' test-suite lines: the data has them all", function()
    local n = { OK = 0, BAD = 0 }
    for _, l in ipairs(lines) do n[l.verdict] = (n[l.verdict] or 0) + 1 end
    assert.is_true(n.OK >= 60 and n.BAD >= 50, "OK " .. n.OK .. ", BAD " .. n.BAD)
  end)

  local oks, bads = {}, {}
  for _, l in ipairs(lines) do
    if l.verdict == "OK" then oks[#oks + 1] = l else bads[#bads + 1] = l end
  end

  for _, l in ipairs(oks) do
    it("data:" .. l.no .. ": conntrack -I makes the entry netops reads, and conntrack -R of "
       .. "netops' line makes the same table: " .. l.line, function()
      if sh.need_root("network namespaces") then return end
      local mine = cli("parse", { l.line })[1]
      assert.is_truthy(mine:match("^OK "), mine)
      local want = fields(mine)
      local create = l.line:gsub("^%-U ", "-I ")
      ct("-F")
      local out, code = ct(create)
      assert.are.equal(0, code, out)
      local before = table_text()
      local saved = ct("-L -o save"):match("(%-A [^\n]+)")
      assert.is_truthy(saved, "conntrack -L -o save shows the entry")
      local theirs = cli("parse", { saved })[1]
      if want.proto == "33" and not saved:find("--state", 1, true) then
        pending("this kernel has no DCCP connection tracking (the entry is generic)")
        return
      end
      assert.is_truthy(theirs:match("^OK "), saved .. " -> " .. theirs)
      local got = fields(theirs)
      -- conntrack's own save of an entry NATed both ways writes -g and -n
      -- and the reply ports; -R then completes the reply tuple itself and
      -- drops those ports (netops reads the line as -R does).  Only the
      -- addresses agree; netops' own line keeps the ports (checked below).
      local both = saved:find(" -g ", 1, true) and saved:find(" -n ", 1, true)
      for _, k in ipairs(SAME) do
        local w, g = want[k], got[k]
        if both and k == "reply" then w, g = w:match("^[^,]+,[^,]+"), g:match("^[^,]+,[^,]+") end
        assert.are.equal(w, g, k .. " of " .. saved)
      end
      assert.is_true(tonumber(got.timeout) <= tonumber(want.timeout), "timeout counts down")
      assert.are.equal((tonumber(want.status or "0") or 0) & STATUS_KEPT,
                       (tonumber(got.status or "0") or 0) & STATUS_KEPT, "status of " .. saved)

      local formatted = cli("format", { l.line })[1]
      assert.is_truthy(formatted:match("^%-A "), formatted)
      ct("-F")
      out, code = ct("-R -", formatted .. "\n")
      assert.are.equal(0, code, formatted .. ": " .. out)
      assert.are.equal(before, table_text(), "conntrack -R of " .. formatted)
    end)
  end

  it("refuses what conntrack refuses, and conntrack refuses it for its syntax", function()
    if sh.need_root("network namespaces") then return end
    local texts = {}
    for i, l in ipairs(bads) do texts[i] = l.line end
    local answers = cli("parse", texts)
    for i, l in ipairs(bads) do
      assert.is_truthy(answers[i]:match("^BAD %S"), "data:" .. l.no .. " read: " .. l.line)
      if l.verdict == "BAD" then
        ct("-F")
        local out, code = ct(l.line)
        assert.are.equal(2, code, "conntrack -I " .. l.line .. ": " .. out)   -- PARAMETER_PROBLEM
        assert.are.equal("", table_text(), "no entry from " .. l.line)
      elseif l.verdict == "STRICT" then
        -- conntrack 1.4.7 takes these and makes an entry of what it wrapped
        -- or guessed; netops says why it will not
        ct("-F")
        local _, code = ct(l.line)
        assert.are.equal(0, code, "conntrack -I " .. l.line)
      end
    end
  end)
end)
