-- netops-conntrack, the command: run as operators run it (the launcher in
-- examples/, a real process) against real kernel tables in namespaces this
-- file creates and always deletes; the root namespace's table is never
-- touched.  The tables are made and read with conntrack-tools' own
-- `conntrack -I` / `conntrack -L`, so netops' parser shapes no expectation.
local sh = require "helpers.sh"
local P = require "helpers.proc"
local json = require "dkjson"

local VERSION = require("netops")._VERSION

-- Run the command: stdout, stderr, exit status.  opts.stdin: text for its
-- stdin; opts.env: NAME=VALUE words put before it.
local function nc(args, opts)
  opts = opts or {}
  local err = sh.tmpfile()
  local argv = sh.cmd("netops-conntrack", table.unpack(args))
  if opts.env then table.insert(argv, 1, "env"); for i, w in ipairs(opts.env) do table.insert(argv, 1 + i, w) end end
  local out, code = sh.run(sh.join(argv) .. " 2>" .. sh.quote(err), { stdin = opts.stdin })
  local e = sh.read(err) or ""
  os.remove(err)
  return out, e, code
end

describe("netops-conntrack: options", function()
  it("--help shows every command's usage and exits 0; COMMAND --help shows that command's", function()
    local out, err, code = nc { "--help" }
    assert.same({ "", 0 }, { err, code })
    for _, c in ipairs { "count", "save FILE", "restore FILE", "diff FILE", "flush FILTER", "list", "metrics" } do
      assert.truthy(out:find("netops-conntrack [--netns NAME] " .. c, 1, true), c)
    end
    out, err, code = nc { "restore", "--help" }
    assert.same({ "", 0 }, { err, code })
    assert.matches("^Usage: netops%-conntrack %[%-%-netns NAME%] restore FILE", out)
    assert.truthy(out:find("--replace", 1, true))
  end)

  it("--version prints the netops version and exits 0, in-process too", function()
    assert.same({ VERSION .. "\n", "", 0 }, { nc { "--version" } })
    local main = require("netops.cli.netops_conntrack").main
    local real = io.stdout
    local f = io.tmpfile()
    io.stdout = f
    local ok, status = pcall(main, { "--version" })
    io.stdout = real
    f:seek("set")
    assert.same({ true, 0, VERSION .. "\n" }, { ok, status, f:read("a") })
    f:close()
  end)

  for _, case in ipairs {
    { { "sav", "f" }, "unknown command 'sav'; did you mean 'save'%?" },
    { { "list", "prot=tcp" }, "unknown filter key 'prot'; did you mean 'proto'%?" },
    { { "list", "tcp" }, "a filter is KEY=VALUE, not 'tcp'" },
    { { "list", "--jsn" }, "unknown option '%-%-jsn'; did you mean '%-%-json'%?" },
    { { "list", "--json=no" }, "" },
    { { "list", "dport=70000" }, "bad port '70000'" },
    { { "list", "mark=0x10/zz" }, "bad mark '0x10/zz'" },
    { { "list", "src=2001:db8::1::2" }, "src: invalid IPv6 address '2001:db8::1::2'" },
    { { "list", "dst=192.0.2.0/24", "family=ipv6" }, "family=ipv6 but an ipv4 address" },
    { { "list", "src=192.0.2.1", "dst=2001:db8::1" }, "dst=2001:db8::1 is not ipv4" },
    { { "list", "state=ESTABLISHD" }, "unknown state 'ESTABLISHD'" },
    { { "restore", "f", "--timeout", "soon" }, "%-%-timeout: 'soon'" },
    { { "save" }, "save: no FILE given" },
    { { "flush" }, "flush: no FILTER given" },
    { { "flush", "--all", "proto=tcp" }, "flush: %-%-all takes no FILTER" },
    { { "--netns", "a/b", "count" }, "%-%-netns: 'a/b' is not a name" },
    { {}, "no command given" },
  } do
    it("usage error, one line and the usage, exit 2: " .. table.concat(case[1], " "), function()
      -- a namespace that does not exist: were the check missing, no table is touched
      local args = case[1]
      if args[1] ~= "--netns" and #args > 0 then args = { "--netns", "nt-ctcmd-absent", table.unpack(args) } end
      local out, err, code = nc(args)
      assert.same({ "", 2 }, { out, code })
      assert.matches("^netops%-conntrack: [^\n]*" .. case[2] .. "[^\n]*\nUsage: netops%-conntrack ", err)
    end)
  end
end)

local table_text = require("helpers.ct_lab").table_text   -- the table as conntrack -L shows it

local function conntrack(ns, args)
  local out, code = sh.run("ip netns exec " .. ns .. " conntrack " .. args, { stderr = true })
  assert(code == 0, "conntrack " .. args .. ": " .. out)
  return out
end

-- v4 and v6, TCP and UDP, source and destination NAT, ICMP and ICMPv6,
-- zones and marks; all SEEN_REPLY and ASSURED, as ct:commit makes every
-- entry (an UNREPLIED entry would come back ASSURED).
local ENTRIES = {
  "-s 192.0.2.1 -d 198.51.100.1 -p tcp --sport 1000 --dport 80 --state ESTABLISHED -m 16",
  "-s 2001:db8:1::1 -d 2001:db8:2::1 -p tcp --sport 2000 --dport 443 --state ESTABLISHED -w 5",
  "-s 192.0.2.2 -d 198.51.100.1 -p udp --sport 3000 --dport 53 --src-nat 203.0.113.7",
  "-s 192.0.2.4 -d 198.51.100.9 -p tcp --sport 4000 --dport 22 --state ESTABLISHED --dst-nat 198.51.100.10:2222",
  "-s 192.0.2.3 -d 198.51.100.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 77",
  "-s 2001:db8:1::3 -d 2001:db8:2::1 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78 -m 0x20",
  "-s 2001:db8:1::4 -d 2001:db8:2::1 -p udp --sport 5000 --dport 123 -w 7 -m 7",
}

local function populate(ns)
  conntrack(ns, "-F")
  for _, e in ipairs(ENTRIES) do conntrack(ns, "-I -t 300 -u SEEN_REPLY,ASSURED " .. e) end
  local t = table_text(ns)
  assert(select(2, t:gsub("\n", "")) + 1 == #ENTRIES, t)
  return t
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("netops-conntrack against a kernel table", function()
  local ns, dir
  before_each(function()
    if sh.is_root() then ns = sh.netns("ctcmd") end
    dir = sh.tmpdir()
  end)
  after_each(function()
    P.cleanup()
    sh.netns_cleanup()
    sh.rmtree(dir)
  end)

  it("save then restore into the emptied table gives the same table (v4, v6, NAT, ICMP, zones, marks)", function()
    if sh.need_root() then return end
    local before = populate(ns)
    local file = dir .. "/snap"
    local out, err, code = nc { "--netns", ns, "save", file }
    assert.same({ "", "netops-conntrack: save: 7 entries written to " .. file .. "\n", 0 }, { out, err, code })
    assert.equal(#ENTRIES, #lines(sh.read(file)))
    assert.matches("^600 ", sh.run({ "stat", "-c", "%a %s", file }))
    conntrack(ns, "-F")
    assert.equal("", table_text(ns))
    out, err, code = nc { "--netns", ns, "restore", file }
    assert.same({ "", 0 }, { out, code })
    assert.matches("^netops%-conntrack: restore: " .. file:gsub("%p", "%%%0")
      .. ": 7 created, 0 updated, 0 failed %(%d+%.%d+ s%)\n$", err)
    assert.equal(before, table_text(ns))
    -- again into the full table: every entry updated, the table the same
    out, err, code = nc { "--netns", ns, "restore", file, "--timeout", "600" }
    assert.same({ "", 0 }, { out, code })
    assert.matches(": 0 created, 7 updated, 0 failed", err)
    assert.equal(before, table_text(ns))
    -- and conntrack -R reads what save wrote into the same table
    conntrack(ns, "-F")
    conntrack(ns, "-R " .. file)
    assert.equal(before, table_text(ns))
  end)

  it("restore: each refused line on stderr with its line number, the rest committed, exit 1", function()
    if sh.need_root() then return end
    local before = lines(populate(ns))
    local file = dir .. "/snap"
    assert.equal(0, select(3, nc { "--netns", ns, "save", file }))
    local good = lines(sh.read(file))
    -- an entry the kernel refuses to update: it has FIXED_TIMEOUT
    conntrack(ns, "-F")
    conntrack(ns, "-I -t 300 -u SEEN_REPLY,ASSURED,FIXED_TIMEOUT -s 192.0.2.50 -d 198.51.100.1 -p tcp "
                  .. "--sport 5000 --dport 80 --state ESTABLISHED")
    before[#before + 1] = table_text(ns)
    table.sort(before)
    local fixed = "-A -t 300 -u SEEN_REPLY,ASSURED -s 192.0.2.50 -d 198.51.100.1 -p tcp --sport 5000 "
      .. "--dport 80 --state ESTABLISHED"
    local text = { "# a comment", good[1], "-A -t 10 bogus", good[2], "", good[3], fixed,
                   "-A -t 60 -u SEEN_REPLY -s 192.0.2.9 -p tcp --sport 1 --dport 2", good[4] }
    for i = 5, #good do text[#text + 1] = good[i] end
    sh.write(file, table.concat(text, "\n") .. "\n")
    local out, err, code = nc { "--netns", ns, "restore", file }
    assert.same({ "", 1 }, { out, code })
    local e = lines(err)
    assert.equal(4, #e, err)
    assert.matches("^netops%-conntrack: " .. file:gsub("%p", "%%%0") .. ":3: unexpected word 'bogus': %-A %-t 10 bogus$", e[1])
    assert.matches("^netops%-conntrack: [^:]+:7: operation not permitted [^\n]*: %-A %-t 300 ", e[2])
    assert.matches("^netops%-conntrack: [^:]+:8: missing %-s and %-d", e[3])
    assert.matches(": 7 created, 0 updated, 3 failed", e[4])
    assert.equal(table.concat(before, "\n"), table_text(ns))
    -- an unreadable file: exit 2, nothing committed
    out, err, code = nc { "--netns", ns, "restore", dir .. "/none" }
    assert.same({ "", 2 }, { out, code })
    assert.matches("^netops%-conntrack: restore: [^\n]*none: No such file or directory\n$", err)
  end)

  it("restore of 20,000 lines (three commit batches): a refused line's number is right in every batch", function()
    if sh.need_root() then return end
    conntrack(ns, "-F")
    local function line(i)
      return ("-A -t 300 -u SEEN_REPLY,ASSURED -s 192.0.2.1 -d 198.51.100.1 -p udp --sport %d --dport 53"):format(10000 + i)
    end
    -- the entry of line 15000 exists with FIXED_TIMEOUT: the kernel refuses its update
    conntrack(ns, "-I -t 300 -u SEEN_REPLY,ASSURED,FIXED_TIMEOUT -s 192.0.2.1 -d 198.51.100.1 -p udp --sport 25000 --dport 53")
    local t = {}
    for i = 1, 20000 do t[i] = line(i) end
    t[9000] = "-A -t 300 -u SEEN_REPLY -s 192.0.2.1 -d 198.51.100.1 -p udp --sport 70000 --dport 53"
    local file = dir .. "/big"
    sh.write(file, table.concat(t, "\n") .. "\n")
    local out, err, code = nc { "--netns", ns, "restore", file }
    assert.same({ "", 1 }, { out, code })
    local e = lines(err)
    assert.equal(3, #e, err)
    assert.matches("^netops%-conntrack: [^:]+:9000: [^\n]*70000", e[1])
    assert.matches("^netops%-conntrack: [^:]+:15000: operation not permitted", e[2])
    assert.matches(": 19998 created, 0 updated, 2 failed", e[3])
    assert.equal("19999\n", (nc { "--netns", ns, "count" }))
  end)

  it("diff: exit 0 when the snapshot and the table agree, 1 when they differ, --json parses", function()
    if sh.need_root() then return end
    populate(ns)
    local file = dir .. "/snap"
    assert.equal(0, select(3, nc { "--netns", ns, "save", file }))
    assert.same({ "", "", 0 }, { nc { "--netns", ns, "diff", file } })
    conntrack(ns, "-D -p udp -s 192.0.2.2")                                     -- missing
    conntrack(ns, "-I -t 300 -u SEEN_REPLY,ASSURED -s 192.0.2.60 -d 198.51.100.1 -p tcp --sport 6000 "
                  .. "--dport 80 --state ESTABLISHED")                          -- extra
    conntrack(ns, "-U -p tcp -s 192.0.2.1 -m 99")                              -- changed mark
    local out, err, code = nc { "--netns", ns, "diff", file }
    assert.same({ "", 1 }, { err, code })
    local l = lines(out)
    assert.equal(4, #l, out)
    assert.matches("^%-%-A .* %-s 192%.0%.2%.2 .* %-p udp", l[1])
    assert.matches("^%+%-A .* %-s 192%.0%.2%.60 ", l[2])
    assert.matches("^%-%-A .* %-s 192%.0%.2%.1 .* %-m 16$", l[3])
    assert.matches("^%+%-A .* %-s 192%.0%.2%.1 .* %-m 99$", l[4])
    out, err, code = nc { "--netns", ns, "diff", file, "--json" }
    assert.same({ "", 1 }, { err, code })
    local d = assert(json.decode(out))
    assert.equal(1, #d.missing); assert.equal("192.0.2.2", d.missing[1].src)
    assert.equal(1, #d.extra); assert.equal("192.0.2.60", d.extra[1].src)
    assert.equal(1, #d.changed); assert.same({ "mark" }, d.changed[1].fields)
    assert.same({ 16, 99 }, { d.changed[1].file.mark, d.changed[1].table.mark })
    -- a snapshot with a bad line: reported, exit 2 (trouble, as diff(1))
    sh.write(dir .. "/bad", "-A nonsense\n")
    out, err, code = nc { "--netns", ns, "diff", dir .. "/bad" }
    assert.equal(2, code)
    assert.matches(":1: ", err)
  end)

  it("flush: refuses an empty filter (exit 2, nothing deleted), deletes only the matching entries", function()
    if sh.need_root() then return end
    local before = populate(ns)
    local out, err, code = nc { "--netns", ns, "flush" }
    assert.same({ "", 2 }, { out, code })
    assert.matches("no FILTER given %(%-%-all deletes every entry%)", err)
    assert.equal(before, table_text(ns))
    -- by protocol (ct:flush's filter)
    out, err, code = nc { "--netns", ns, "flush", "proto=udp" }
    assert.same({ "", "netops-conntrack: flush: 2 entries deleted\n", 0 }, { out, err, code })
    local after = table_text(ns)
    assert.is_nil(after:find("^udp") or after:find("\nudp"))
    assert.equal(#ENTRIES - 2, #lines(after))
    -- by prefix and state (matched in Lua, deleted one by one)
    out, err, code = nc { "--netns", ns, "flush", "src=2001:db8::/32", "state=established" }
    assert.same({ "", "netops-conntrack: flush: 1 entry deleted\n", 0 }, { out, err, code })
    after = table_text(ns)
    assert.is_nil(after:find("2001:db8:1::1", 1, true))
    assert.truthy(after:find("2001:db8:1::3", 1, true))     -- ICMPv6: no state
    assert.equal(#ENTRIES - 3, #lines(after))
    out, err, code = nc { "--netns", ns, "flush", "--all" }
    assert.same({ "", 0 }, { out, code })
    assert.equal("", table_text(ns))
  end)

  it("list: one line per entry as conntrack -L; --json parses; filters on the kernel's fields and in Lua", function()
    if sh.need_root() then return end
    populate(ns)
    local out, err, code = nc { "--netns", ns, "list" }
    assert.same({ "", 0 }, { err, code })
    -- as conntrack -L, without the use count and the reply's ICMP type, code and id
    local mine = lines((out:gsub("(%S+ %d+ )%d+", "%1T")))
    local theirs = lines(table_text(ns))
    for i, l in ipairs(theirs) do
      theirs[i] = l:gsub("%s+", " "):gsub(" use=1$", ""):gsub(" type=%d+ code=%d+ id=%d+ %[ASSURED%]", " [ASSURED]")
    end
    table.sort(mine)
    assert.same(theirs, mine)
    out, err, code = nc { "--netns", ns, "list", "--json" }
    assert.same({ "", 0 }, { err, code })
    local all = assert(json.decode(out))
    assert.equal(#ENTRIES, #all)
    for _, e in ipairs(all) do
      assert.is_string(e.src); assert.is_table(e.reply); assert.is_number(e.timeout)
      local st = table.concat(e.status, ",")   -- names, sorted
      assert.matches("^ASSURED,CONFIRMED,.*SEEN_REPLY", st)
      assert.equal(e.src == "192.0.2.2", st:find("SRC_NAT,") ~= nil, st)
    end
    local function srcs(args)
      local o, _, c = nc(args)
      assert.equal(0, c)
      local t = {}
      for _, e in ipairs(assert(json.decode(o))) do t[#t + 1] = e.src .. (e.sport and (" " .. e.sport) or "") end
      table.sort(t)
      return t
    end
    assert.same({ "2001:db8:1::1 2000", "2001:db8:1::3", "2001:db8:1::4 5000" },
                srcs { "--netns", ns, "list", "--json", "src=2001:db8::/32" })
    assert.same({ "192.0.2.1 1000" }, srcs { "--netns", ns, "list", "--json", "mark=0x10/0xff" })
    assert.same({ "192.0.2.1 1000", "192.0.2.4 4000" },
                srcs { "--netns", ns, "list", "--json", "proto=TCP", "state=ESTABLISHED", "family=ipv4" })
    assert.same({ "2001:db8:1::4 5000" }, srcs { "--netns", ns, "list", "--json", "zone=7", "dport=123" })
    assert.same({}, srcs { "--netns", ns, "list", "--json", "dst=203.0.113.0/24" })
    assert.same({ "", "", 0 }, { nc { "--netns", ns, "list", "dport=9" } })
    assert.same({ "[]\n", "", 0 }, { nc { "--netns", ns, "list", "--json", "dport=9" } })
  end)

  it("save - writes the snapshot to stdout (what save FILE writes; conntrack -R reads it)", function()
    if sh.need_root() then return end
    local before = populate(ns)
    local out, err, code = nc { "--netns", ns, "save", "-" }
    assert.same({ "netops-conntrack: save: 7 entries written to stdout\n", 0 }, { err, code })
    local file = dir .. "/snap"
    assert.equal(0, select(3, nc { "--netns", ns, "save", file }))
    local a, b = lines(out), lines(sh.read(file))
    local function untimed(t) for i, l in ipairs(t) do t[i] = l:gsub(" %-t %d+ ", " -t T ") end table.sort(t) return t end
    assert.same(untimed(b), untimed(a))
    sh.write(file, out)
    conntrack(ns, "-F")
    conntrack(ns, "-R " .. file)
    assert.equal(before, table_text(ns))
    out, err, code = nc { "--netns", ns, "save", "-", "proto=icmp" }
    assert.equal(0, code, err)
    assert.equal(1, #lines(out))
    assert.matches("^%-A .* %-p icmp ", out)
  end)

  it("metrics: the namespace's nf_conntrack_count and nf_conntrack_max as Prometheus gauges, --output atomically 0644", function()
    if sh.need_root() then return end
    populate(ns)
    local count = sh.run({ "ip", "netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count" }):match("%d+")
    local max = sh.run({ "ip", "netns", "exec", ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_max" }):match("%d+")
    assert.equal(tostring(#ENTRIES), count)
    local out, err, code = nc { "--netns", ns, "metrics" }
    assert.same({ "", 0 }, { err, code })
    local l = ('{netns="%s"}'):format(ns)
    assert.equal(table.concat({
      "# HELP netops_conntrack_entries Entries in the connection tracking table (nf_conntrack_count).",
      "# TYPE netops_conntrack_entries gauge",
      "netops_conntrack_entries" .. l .. " " .. count,
      "# HELP netops_conntrack_max The table's size limit (nf_conntrack_max).",
      "# TYPE netops_conntrack_max gauge",
      "netops_conntrack_max" .. l .. " " .. max, "" }, "\n"), out)
    local file = dir .. "/netops_conntrack.prom"
    sh.write(file, "old\n")
    assert.same({ "", "", 0 }, { nc { "--netns", ns, "metrics", "--output", file } })
    assert.equal(out, sh.read(file))
    assert.equal("644\n", (sh.run({ "stat", "-c", "%a", file })))
    assert.equal("netops_conntrack.prom\n", (sh.run({ "ls", dir })))   -- no temp file left
    -- the sample service's command line, with the checkout's launcher and this directory
    local unit = assert(sh.read("examples/netops-conntrack-metrics.service"))
    local exec = assert(unit:match("\nExecStart=(%S+ [^\n]+)"))
    local bin, args = exec:match("^(%S+) (.*)$")
    assert.equal("/usr/local/bin/netops-conntrack", bin)
    local argv = { "--netns", ns }
    for w in args:gsub("/var/lib/prometheus/node%-exporter", dir):gmatch("%S+") do argv[#argv + 1] = w end
    os.remove(file)
    assert.same({ "", "", 0 }, { nc(argv) })
    assert.equal(out, sh.read(file))
  end)

  it("save and restore show a progress line on a terminal, never when stderr is a pipe", function()
    if sh.need_root() then return end
    populate(ns)
    local file = dir .. "/snap"
    -- NETOPS_PROGRESS_AFTER=0: the line is due at once, whatever the speed
    local env = { NETOPS_PROGRESS_AFTER = "0" }
    local function pty(...)
      local h = P.start({ sh.build .. "/helpers/ptyrun", "lua5.4", "examples/netops-conntrack.lua", ... }, { env = env })
      local r = h.wait(60)
      assert.is_nil(r.hung)
      return h.stdout(), r.code
    end
    local out, code = pty("--netns", ns, "save", file)
    assert.equal(0, code, out)
    assert.matches("\rnetops%-conntrack: save: 7 entries, %d+/s\27%[K", out)
    conntrack(ns, "-F")
    out, code = pty("--netns", ns, "restore", file)
    assert.equal(0, code, out)
    assert.matches("\rnetops%-conntrack: restore: 7 entries, %d+/s\27%[K", out)
    -- the same through pipes: no progress line, no \r
    local err
    out, err, code = nc({ "--netns", ns, "save", file }, { env = { "NETOPS_PROGRESS_AFTER=0" } })
    assert.same({ "", "netops-conntrack: save: 7 entries written to " .. file .. "\n", 0 }, { out, err, code })
    out, err, code = nc({ "--netns", ns, "restore", file }, { env = { "NETOPS_PROGRESS_AFTER=0" } })
    assert.equal(0, code)
    assert.is_nil(err:find("\r", 1, true))
    assert.is_nil(err:find("entries,", 1, true))
  end)

  it("count prints the number of entries; a namespace that does not exist is one line, exit 1", function()
    if sh.need_root() then return end
    populate(ns)
    assert.same({ #ENTRIES .. "\n", "", 0 }, { nc { "--netns", ns, "count" } })
    local out, err, code = nc { "--netns", ns .. "-none", "count" }
    assert.same({ "", 1 }, { out, code })
    assert.matches("^netops%-conntrack: conntrack: network namespace '[^']+': no such namespace[^\n]*\n$", err)
  end)
end)
