-- Conntrack snapshots in C: C.parse/C.format/C.load (csrc/ct_text.c through
-- csrc/lua_ct_text.c), ct:restore (file -> kernel in batches, no Lua table
-- per entry) and ct:save (kernel -> file), against the real kernel table in
-- namespaces of the test's own and the real conntrack command.
local sh = require "helpers.sh"
local lab = require "helpers.ct_lab"
local ct = require("netops").conntrack

local table_text = lab.table_text

local function listing(dir)
  local names = {}
  for name in sh.run("ls -A " .. sh.quote(dir)):gmatch("[^\n]+") do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function udp_line(sport, extra)
  return ("-A -t 600 -u ASSURED -s 192.0.2.1 -d 198.51.100.1 -p udp --sport %d --dport 53%s")
    :format(sport, extra or "")
end

-- A seed of every kind the round trip covers: v4, v6, NAT both ways,
-- ICMP/ICMPv6, zones, marks.
local function seed()
  local t = lab.synthetic(200, 900)
  local more = {
    { proto = "icmp", src = "192.0.2.9", dst = "198.51.100.9", timeout = 900, icmp = { type = 8, id = 4 } },
    { proto = "icmpv6", src = "2001:db8::9", dst = "2001:db8::a", timeout = 900, icmp = { type = 128, id = 6 }, mark = 9 },
    { proto = "udp", src = "2001:db8::9", dst = "2001:db8::a", sport = 1, dport = 2, timeout = 900, zone = 4, mark = 0x10 },
    { proto = "tcp", src = "192.0.2.20", dst = "198.51.100.20", sport = 4000, dport = 80, timeout = 900,
      state = "ESTABLISHED", zone = 7, status = { SRC_NAT = true, ASSURED = true, SEEN_REPLY = true },
      reply = { src = "198.51.100.20", dst = "203.0.113.1", sport = 80, dport = 61000 } },
    { proto = "tcp", src = "192.0.2.21", dst = "203.0.113.80", sport = 4001, dport = 80, timeout = 900,
      state = "ESTABLISHED", status = { DST_NAT = true, SEEN_REPLY = true },
      reply = { src = "198.51.100.80", dst = "192.0.2.21", sport = 8080, dport = 4001 } },
    { proto = "tcp", src = "2001:db8:1::1", dst = "2001:db8:2::1", sport = 5000, dport = 443, timeout = 900,
      state = "SYN_SENT", status = { SRC_NAT = true },
      reply = { src = "2001:db8:2::1", dst = "2001:db8:ff::1", sport = 443, dport = 5000 } },
  }
  for _, e in ipairs(more) do t[#t + 1] = e end
  return t
end

describe("conntrack snapshot lines in C", function()
  it("reads every address text as one canonical address", function()
    local function src(a)
      return assert(ct.parse("-A -t 1 -s " .. a .. " -d 2001:db8::2 -p udp --sport 1 --dport 2")).src
    end
    assert.equal("2001:db8::101:101", src("2001:DB8::1.1.1.1"))
    assert.equal("2001:db8::101:101", src("2001:0db8:0:0::0101:0101"))
    assert.equal("::102:304", src("::1.2.3.4"))
    local a = ct.parse("-A -t 1 -s 2001:DB8::1 -d 2001:db8::2 -p udp --sport 1 --dport 2")
    local b = ct.parse("-A -t 1 -s 2001:db8:0::1 -d 2001:db8::2 -p udp --sport 1 --dport 2")
    assert.equal(ct.key(a), ct.key(b))
    local d = ct.diff({ a }, { b })
    assert.same({ {}, {}, {} }, { d.missing, d.extra, d.changed })
  end)

  it("gives every field back: parse(format(e)) over conntrack-tools' test-suite lines", function()
    local n = 0
    for line in io.lines("spec/data/conntrack-testsuite.txt") do
      local verdict, text = line:match("^(%u+)\t(.+)$")
      if verdict == "OK" then
        local e = assert(ct.parse(text))
        local again = assert(ct.parse(ct.format(e)), ct.format(e))
        assert.same(e, again, text)
        n = n + 1
      elseif verdict then
        assert.is_nil(ct.parse(text), text)
      end
    end
    assert.is_true(n >= 60, "OK lines: " .. n)
  end)

  it("gives every field back: parse(format(e)) over random entries", function()
    math.randomseed(42)
    local r = math.random
    local function addr(v6)
      if v6 then return ("2001:db8:%x::%x"):format(r(1, 0xffff), r(1, 0xffff)) end
      return ("%s.%d"):format(({ "192.0.2", "198.51.100", "203.0.113" })[r(3)], r(1, 254))
    end
    local protos = { "tcp", "udp", "udplite", "sctp", "dccp", "icmp", "gre", 2 }
    local states = { tcp = { "SYN_SENT", "ESTABLISHED", "TIME_WAIT", "SYN_SENT2", "CLOSE" },
                     sctp = { "ESTABLISHED", "COOKIE_WAIT" }, dccp = { "OPEN", "REQUEST", "TIMEWAIT" } }
    for _ = 1, 3000 do
      local v6 = r(2) == 1
      local p = protos[r(#protos)]
      if p == "icmp" and v6 then p = "icmpv6" end
      local e = { proto = p, src = addr(v6), dst = addr(v6), timeout = r(0, 0xffffffff),
                  mark = r(3) == 1 and r(0, 0xffffffff) or 0, zone = r(3) == 1 and r(0, 65535) or 0,
                  status = { ASSURED = r(2) == 1, SEEN_REPLY = r(2) == 1 } }
      if r(4) == 1 then e.orig_zone = r(0, 65535) end
      if r(4) == 1 then e.reply_zone = r(0, 65535) end
      if p == "icmp" or p == "icmpv6" then
        e.icmp = { type = r(0, 255), code = r(0, 255), id = r(0, 65535) }
      elseif p == "gre" then
        e.gre = { key = r(0, 65535), reply_key = r(0, 65535) }
      elseif p ~= 2 then
        e.sport, e.dport = r(0, 65535), r(0, 65535)
        e.reply = { src = e.dst, dst = e.src, sport = e.dport, dport = e.sport }
        if r(3) == 1 then e.reply.dst = addr(v6); e.reply.dport = r(0, 65535); e.status.SRC_NAT = true end
        if r(3) == 1 then e.reply.src = addr(v6); e.reply.sport = r(0, 65535); e.status.DST_NAT = true end
      end
      if states[p] then e.state = states[p][r(#states[p])] end
      if p == "dccp" then e.role = r(2) == 1 and "client" or "server" end
      if p == "sctp" then e.vtag = { orig = r(0, 0xffffffff), reply = r(0, 0xffffffff) } end
      local line = ct.format(e)
      local back = assert(ct.parse(line), line)
      assert.same(back, assert(ct.parse(ct.format(back))), line)
      for _, k in ipairs { "proto", "src", "dst", "sport", "dport", "timeout", "mark", "zone", "orig_zone",
                           "reply_zone", "state", "role", "icmp", "gre", "vtag" } do
        assert.same(e[k], back[k], k .. " of " .. line)
      end
      if e.reply then
        -- both NATs: conntrack -R completes the reply tuple itself, so the
        -- addresses are kept but the ports follow the NATed addresses' own
        local both = e.status.SRC_NAT and e.status.DST_NAT
        assert.same({ e.reply.src, e.reply.dst }, { back.reply.src, back.reply.dst }, line)
        if not both then assert.same(e.reply, back.reply, line) end
      end
      for _, s in ipairs { "ASSURED", "SEEN_REPLY", "SRC_NAT", "DST_NAT" } do
        assert.equal(e.status[s] or false, back.status[s] or false, s .. " of " .. line)
      end
    end
  end)

  it("refuses to format what conntrack -R could not load, saying why", function()
    local base = { proto = "tcp", src = "192.0.2.1", dst = "192.0.2.2", sport = 1, dport = 2 }
    local function why(over)
      local e = {}
      for k, v in pairs(base) do e[k] = v end
      for k, v in pairs(over) do e[k] = v end
      local ok, err = pcall(ct.format, e)
      assert.is_false(ok)
      return err
    end
    assert.matches("no timeout", why { state = "ESTABLISHED" })
    assert.matches("no state", why { timeout = 5 })
    assert.matches("without role", why { proto = "dccp", timeout = 5, state = "OPEN" })
    assert.matches("without gre", why { proto = "gre", sport = false, dport = false, timeout = 5 })
    assert.matches("role is for DCCP", why { timeout = 5, state = "ESTABLISHED", role = "client" })
  end)

  it("loads a file in blocks: lines longer than conntrack's limit are bad lines, the rest read", function()
    local dir = sh.tmpdir()
    local lines = {}
    for i = 1, 5000 do lines[i] = udp_line(i) end
    lines[2500] = udp_line(2500, " " .. ("x"):rep(20000))
    sh.write(dir .. "/snap", table.concat(lines, "\n"))   -- no newline at the end
    local entries, bad = assert(ct.load(dir .. "/snap"))
    sh.rmtree(dir)
    assert.equal(4999, #entries)
    assert.equal(5000, entries[4999].sport)
    assert.equal(1, #bad); assert.equal(2500, bad[1].line); assert.matches("too long", bad[1].message)
    assert.is_true(#bad[1].text < 300)
  end)
end)

describe("ct:restore and ct:save in namespaces", function()
  after_each(function() sh.netns_cleanup() end)

  it("restores the good lines of a file and reports each bad or refused line by number and text", function()
    if sh.need_root("network namespaces") then return end
    local h <close> = assert(ct.open { netns = sh.netns("ctrs") })
    local dir = sh.tmpdir()
    local body = {
      "# a snapshot",                                                     -- 1
      udp_line(1),                                                        -- 2
      "-A -t 600 -s 192.0.2.1 -d 198.51.100.1 --sport 1 --dport 2",       -- 3 bad: no -p
      "",                                                                 -- 4
      udp_line(2),                                                        -- 5
      udp_line(1),                                                        -- 6 refused: exists
      udp_line(3, " -u SEEN_REPLY,BOGUS"),                                -- 7 bad status
      udp_line(4),                                                        -- 8
    }
    sh.write(dir .. "/snap", table.concat(body, "\n") .. "\n")
    local r = assert(h:restore(dir .. "/snap", { create_only = true }))
    assert.same({ 3, 0, 1, 2, 8, 0 }, { r.created, r.updated, r.failed, r.bad, r.lines, r.omitted })
    assert.equal(3, #r.errors)
    assert.same({ 3, 6, 7 }, { r.errors[1].line, r.errors[2].line, r.errors[3].line })
    assert.equal(body[3], r.errors[1].text); assert.matches("after %-p", r.errors[1].message)
    assert.equal(body[6], r.errors[2].text); assert.equal(17, r.errors[2].errno)   -- EEXIST
    assert.equal(body[7], r.errors[3].text); assert.matches("BOGUS", r.errors[3].message)
    local sports = {}
    for e in h:dump() do sports[#sports + 1] = e.sport end
    table.sort(sports)
    assert.same({ 1, 2, 4 }, sports)
    -- again without create_only: the existing ones are updated, timeout overridden
    r = assert(h:restore(dir .. "/snap", { timeout = 77 }))
    assert.same({ 0, 4, 0, 2 }, { r.created, r.updated, r.failed, r.bad })
    for e in h:dump() do assert.is_true(e.timeout <= 77) end
    -- errors are bounded, and counted; progress is called once a batch
    local many = {}
    for i = 1, 5000 do many[i] = i % 40 == 0 and ("-A bogus " .. i) or udp_line(10000 + i) end
    sh.write(dir .. "/many", table.concat(many, "\n") .. "\n")
    local seen = {}
    r = assert(h:restore(dir .. "/many", { progress = function(done) seen[#seen + 1] = done end }))
    assert.same({ 4875, 125, 5000, 25 }, { r.created, r.bad, r.lines, r.omitted })
    assert.equal(100, #r.errors); assert.equal(40, r.errors[1].line); assert.equal(4000, r.errors[100].line)
    assert.same({ 2048, 4096, 4875 }, seen)
    -- a file that is not there
    local none, msg, code = h:restore(dir .. "/nope")
    assert.is_nil(none); assert.matches("nope", msg); assert.equal(2, code)
    assert.has_error(function() h:restore(dir .. "/snap", { bogus = 1 }) end)
    assert.has_error(function() h:restore(dir .. "/snap", { progress = 1 }) end)
    assert.has_error(function() h:restore(dir .. "/snap\0x") end)
    sh.rmtree(dir)
  end)

  it("round-trips save -> flush -> restore (v4, v6, NAT, ICMP, zones, marks) as conntrack -L shows it", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("ctrt")
    local h <close> = assert(ct.open { netns = ns })
    local entries = seed()
    assert.equal(#entries, assert(h:commit(entries)).created)
    local before = table_text(ns)
    local dir = sh.tmpdir()
    local path = dir .. "/ct.save"
    local n, skipped = assert(h:save(path))
    assert.same({ #entries, 0 }, { n, skipped })
    assert.equal("600", sh.run("stat -c %a " .. sh.quote(path)):match("%d+"))
    assert.same({ "ct.save" }, listing(dir))   -- no temporary file left
    -- conntrack -R reads it as netops does
    local ns2 = sh.netns("ctrt2")
    local out, code = sh.nsrun(ns2, { "conntrack", "-R", path }, { stderr = true })
    assert.equal(0, code, out)
    assert.equal(before, table_text(ns2))
    h:flush()
    assert.equal("", table_text(ns))
    local r = assert(h:restore(path))
    assert.same({ #entries, 0, 0, 0, #entries }, { r.created, r.failed, r.bad, #r.errors + r.omitted, r.lines })
    assert.equal(before, table_text(ns))
    -- a filter saves only what it matches
    assert.equal(3, assert(h:save(dir .. "/v6.save", { family = "ipv6" })))
    assert.equal(3, #assert(ct.load(dir .. "/v6.save")))
    local none, msg, ecode = h:save(dir .. "/no/such/ct.save")
    assert.is_nil(none); assert.matches("no/such", msg); assert.equal(2, ecode)
    sh.rmtree(dir)
  end)

  it("restores a file written by conntrack -L -o save", function()
    if sh.need_root("network namespaces") then return end
    local ns1, ns2 = sh.netns("ctcs1"), sh.netns("ctcs2")
    local h1 <close> = assert(ct.open { netns = ns1 })
    local entries = seed()
    assert.equal(#entries, assert(h1:commit(entries)).created)
    local lines = {}
    for _, fam in ipairs { "ipv4", "ipv6" } do
      local o = lab.quiet(ns1, { "conntrack", "-L", "-f", fam, "-o", "save" })
      for line in o:gmatch("[^\n]+") do lines[#lines + 1] = line end
    end
    assert.equal(#entries, #lines)
    local dir = sh.tmpdir()
    sh.write(dir .. "/theirs.save", table.concat(lines, "\n") .. "\n")
    local h2 <close> = assert(ct.open { netns = ns2 })
    local r = assert(h2:restore(dir .. "/theirs.save"))
    sh.rmtree(dir)
    assert.same({ #entries, 0, 0 }, { r.created, r.failed, r.bad })
    -- conntrack-tools' save format carries no mark
    assert.equal(table_text(ns1, true), table_text(ns2, true))
  end)

  -- The table as `conntrack -L -o save` writes it (both families), the
  -- timeouts (they count down) left out, sorted.
  local function saved_lines(ns)
    local rows = {}
    for _, fam in ipairs { "ipv4", "ipv6" } do
      for l in lab.quiet(ns, { "conntrack", "-L", "-f", fam, "-o", "save" }):gmatch("[^\n]+") do
        rows[#rows + 1] = (l:gsub("^%-A %-t %d+ ", "-A "))
      end
    end
    table.sort(rows)
    return rows
  end

  it("restores GRE keys, directional zones and the status as conntrack -R does, and saves them back", function()
    if sh.need_root("network namespaces") then return end
    local lines = {
      "-A -t 600 -u SEEN_REPLY,ASSURED -s 192.0.2.1 -d 198.51.100.1 -p gre --srckey 0x10 --dstkey 0x20",
      "-A -t 600 -u SEEN_REPLY -s 2001:db8::1 -d 2001:db8::2 -r 2001:db8::2 -q 2001:db8::1 -p gre "
        .. "--srckey 5 --dstkey 6 --reply-key-src 7 --reply-key-dst 8",
      "-A -t 600 -u UNSET -s 192.0.2.2 -d 198.51.100.1 -p udp --sport 1 --dport 53",
      "-A -t 600 -u UNSET -s 2001:db8::3 -d 2001:db8::2 -p tcp --sport 2 --dport 80 --state SYN_SENT",
      "-A -t 600 -u ASSURED -s 192.0.2.3 -d 198.51.100.1 -p udp --sport 3 --dport 53",
      "-A -t 600 -u SEEN_REPLY,FIXED_TIMEOUT -s 192.0.2.4 -d 198.51.100.1 -p udp --sport 4 --dport 53",
      "-A -t 600 -u SEEN_REPLY,ASSURED --orig-zone 5 -s 192.0.2.5 -d 198.51.100.1 -p tcp --sport 5 "
        .. "--dport 80 --state ESTABLISHED",
      "-A -t 600 -u UNSET --reply-zone 6 -s 2001:db8::6 -d 2001:db8::2 -p udp --sport 6 --dport 53",
      "-A -t 600 -u SEEN_REPLY,ASSURED --orig-zone 7 -s 192.0.2.7 -d 198.51.100.1 -p gre --srckey 1 --dstkey 2",
    }
    local dir = sh.tmpdir()
    local file = dir .. "/lines.save"
    sh.write(file, table.concat(lines, "\n") .. "\n")
    -- what conntrack -R makes of the lines
    local theirs = sh.netns("ctfR")
    local out, code = sh.nsrun(theirs, { "conntrack", "-R", file }, { stderr = true })
    assert.equal(0, code, out)
    local want = saved_lines(theirs)
    assert.equal(#lines, #want)
    -- ct:restore of the same lines: the same table
    local ns = sh.netns("ctfM")
    local h <close> = assert(ct.open { netns = ns })
    local r = assert(h:restore(file))
    assert.same({ #lines, 0, 0 }, { r.created, r.failed, r.bad })
    assert.same(want, saved_lines(ns))
    -- the entries carry them
    local got = {}
    for e in h:dump() do got[e.src] = e end
    assert.same({ key = 0x20, reply_key = 0x10 }, got["192.0.2.1"].gre)
    assert.same({ key = 6, reply_key = 8, src_key = 5, reply_src_key = 7 }, got["2001:db8::1"].gre)
    assert.equal(5, got["192.0.2.5"].orig_zone); assert.is_nil(got["192.0.2.5"].reply_zone)
    assert.equal(6, got["2001:db8::6"].reply_zone); assert.is_nil(got["2001:db8::6"].orig_zone)
    assert.is_nil(got["192.0.2.2"].status.SEEN_REPLY); assert.is_nil(got["192.0.2.2"].status.ASSURED)
    -- ct:save writes every one back, conntrack -R of that is the same table again
    local n, skipped = assert(h:save(dir .. "/mine.save"))
    assert.same({ #lines, 0 }, { n, skipped })
    local again = sh.netns("ctfR2")
    out, code = sh.nsrun(again, { "conntrack", "-R", dir .. "/mine.save" }, { stderr = true })
    assert.equal(0, code, out)
    assert.same(want, saved_lines(again))
    -- and ct:commit of the dumped entries (Lua tables) makes it too
    local lua = sh.netns("ctfL")
    local h2 <close> = assert(ct.open { netns = lua })
    local c = assert(h2:commit(assert(h:list())))
    assert.same({ #lines, 0 }, { c.created, c.failed })
    assert.same(want, saved_lines(lua))
    sh.rmtree(dir)
  end)

  it("restores DCCP state and role as conntrack -R does", function()
    if sh.need_root("network namespaces") then return end
    local line = "-A -t 600 -u SEEN_REPLY,ASSURED -s 192.0.2.1 -d 198.51.100.1 -p dccp --sport 1 --dport 2 "
      .. "--state OPEN --role client"
    local theirs = sh.netns("ctfdR")
    local out, code = sh.nsrun(theirs, { "conntrack", "-R", "-" }, { stderr = true, stdin = line .. "\n" })
    assert.equal(0, code, out)
    local want = saved_lines(theirs)
    if not (want[1] or ""):find("--state", 1, true) then
      pending("this kernel has no DCCP connection tracking (conntrack -R made a generic entry: "
        .. tostring(want[1]) .. "); the DCCP request bytes are checked in spec/c/ct_build.c")
      return
    end
    local h <close> = assert(ct.open { netns = sh.netns("ctfdM") })
    local dir = sh.tmpdir()
    sh.write(dir .. "/dccp.save", line .. "\n")
    local r = assert(h:restore(dir .. "/dccp.save"))
    assert.same({ 1, 0 }, { r.created, r.failed })
    assert.same(want, saved_lines(h:netns()))
    local e = assert(h:list())[1]
    assert.same({ "OPEN", "client" }, { e.state, e.role })
    assert.same({ 1, 0 }, { assert(h:save(dir .. "/back.save")) })
    sh.rmtree(dir)
  end)

  it("stops at the batch that fills the table: the lines read ahead are neither tried nor reported", function()
    if sh.need_root("network namespaces") then return end
    local h <close> = assert(ct.open { netns = sh.netns("ctrsfull") })
    local _, max = assert(h:count())
    if max > 300000 then
      pending("nf_conntrack_max is " .. max .. ": filling a table that large is too slow for a test")
      return
    end
    -- restore commits batches of 2048 lines, each while the next is parsed:
    -- line max + 1 fails (ENOMEM) in batch k; batch k + 1, read ahead,
    -- holds a bad line that must not be reported, and nothing after batch
    -- k is tried
    local B = 2048
    local k = max // B                      -- 0-based batch of line max + 1
    local last = (k + 1) * B                -- the last line of that batch
    local dir = sh.tmpdir()
    finally(function() sh.rmtree(dir) end)
    local lines = {}
    for i, e in ipairs(lab.synthetic(last + B + 100, 600)) do lines[i] = assert(ct.format(e)) end
    lines[last + 10] = "-I garbage that no parser takes"
    sh.write(dir .. "/full", table.concat(lines, "\n") .. "\n")
    lines = nil
    local ok, err, code, r = h:restore(dir .. "/full")
    assert.is_nil(ok)
    assert.equal(12, code)   -- ENOMEM
    assert.matches("table full: nf_conntrack_max .* reached at line " .. last .. " of ", err)
    assert.equal(max, r.created)
    assert.equal(last, r.lines)
    assert.equal(0, r.bad)
    assert.equal(last - max, r.failed)
    for _, x in ipairs(r.errors) do assert.is_true(x.line <= last, "line " .. x.line .. " reported") end
    assert.equal(max, (h:count()))
    assert(h:flush())
  end)

  it("restores in flat memory: the peak RSS of 200,000 lines is that of 20,000", function()
    if sh.need_root("network namespaces") then return end
    local dir = sh.tmpdir()
    local block = {}
    for i = 0, 19999 do
      block[#block + 1] = ("-A -t 600 -u ASSURED -s 192.0.2.%d -d 198.51.100.%d -p tcp --sport %d --dport 443 "
        .. "--state ESTABLISHED -m %d"):format(i % 250 + 1, i % 7 + 1, 10000 + i // 250, i % 4)
    end
    local text = table.concat(block, "\n") .. "\n"
    sh.write(dir .. "/20k", text)
    sh.write(dir .. "/200k", text:rep(10))   -- the same entries ten times: updates after the first
    local script = dir .. "/restore.lua"
    sh.write(script, "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path\n"
      .. "package.cpath = '" .. sh.build .. "/?.so;' .. package.cpath\n" .. [[
local ct = require("netops").conntrack
local h = assert(ct.open { netns = arg[1] })
local r = assert(h:restore(arg[2]))
io.write(r.created + r.updated, " ", r.failed, " ", io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"), "\n")
]])
    local function peak(file, n)
      local ns = sh.netns("ctrss")
      -- under ASan, freed blocks wait in its quarantine (256 MB): turn it off
      -- so the figure is what the process holds
      local asan = (os.getenv("ASAN_OPTIONS") or "") .. ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
      local out, code = sh.run({ "env", "ASAN_OPTIONS=" .. asan, sh.lua, script, ns, dir .. "/" .. file },
                               { stderr = true })
      assert.equal(0, code, out)
      local done, failed, kb = out:match("^(%d+) (%d+) (%d+)")
      assert.same({ n, 0 }, { tonumber(done), tonumber(failed) }, out)
      return tonumber(kb)
    end
    local small, big = peak("20k", 20000), peak("200k", 200000)
    sh.rmtree(dir)
    assert.is_true(big <= small * 1.5 + 4096, ("VmHWM %d kB for 20k lines, %d kB for 200k"):format(small, big))
  end)
end)
