-- netops.failover.doctor and `netops-failover doctor`: each check says ok,
-- FAIL (with a fix) or skipped (with the reason); keepalived includes are
-- followed; `keepalived -t`; the notify lines' policies; conntrackd's
-- timeouts and sync interface; the JSON form; exit status.  Most tests call
-- the API in this process; those that need a namespace of their own (local
-- addresses, interfaces, a conntrackd) or another user or PATH run the real
-- command.
local sh = require "helpers.sh"
local doctor = require "netops.failover.doctor"
local failover = require "netops.failover"
local lab = require "lab.lab"
local json = require "dkjson"

local ROOT = (sh.run("pwd"):gsub("%s+$", ""))   -- busted runs from the checkout
local LAUNCHER = "/usr/bin/env NETOPS_BUILD=" .. sh.build .. " /usr/bin/lua5.4 " .. ROOT
  .. "/examples/netops-failover.lua"
local dir

local function write(rel, text, mode)
  local p = dir .. "/" .. rel
  sh.run({ "mkdir", "-p", p:match("^(.*)/") })
  sh.write(p, text)
  if mode then sh.run({ "chmod", mode, p }) end
  return p
end

-- The results of `check` with `status` whose what matches pattern.
local function find(results, check, status, pattern)
  local out = {}
  for _, r in ipairs(results) do
    if r.check == check and (not status or r.status == status)
       and (not pattern or (r.what .. ": " .. (r.reason or "")):find(pattern)) then
      out[#out + 1] = r
    end
  end
  return out
end

local function expect(results, check, status, pattern)
  local got = find(results, check, status, pattern)
  assert(#got > 0, string.format("no %s %s result matching %q in:\n%s", status, check, tostring(pattern),
    doctor.render(results)))
  return got[1]
end

local function none(results, check, status)
  local got = find(results, check, status)
  assert(#got == 0, string.format("unexpected %s %s result in:\n%s", status, check, doctor.render(results)))
end

local NOTIFY = [[
    notify_master "%s primary"
    notify_backup "%s backup"
]]

local function notify_lines(policy)
  local cmd = LAUNCHER .. (policy and (" --policy " .. policy) or "")
  return NOTIFY:format(cmd, cmd)
end

local INSTANCES = [[
vrrp_instance WAN {
    interface wan0
    state BACKUP
    virtual_router_id 61
    priority 100
    virtual_ipaddress {
        198.51.100.1/24 dev wan0
    }
    virtual_ipaddress_excluded {
        2001:db8:2::1/64 dev wan0
    }
}
vrrp_instance LAN {
    interface lan0
    state BACKUP
    virtual_router_id 62
    priority 100
    virtual_ipaddress {
        192.0.2.1/24 dev lan0
    }
}
]]

local GLOBAL = "global_defs {\n    router_id fw1\n    script_user root\n    enable_script_security\n}\n"

-- A whole keepalived.conf in one file.
local function ka_conf(notify)
  return GLOBAL .. "vrrp_sync_group G1 {\n    group {\n        WAN\n        LAN\n    }\n" .. notify
    .. "}\n" .. INSTANCES
end

-- The same configuration spread over includes: a glob, a brace pattern, a
-- quoted name, and an include nested in an included file, relative to that
-- file's own directory.  A hidden file and a README beside them are not
-- matched (keepalived's glob skips them too); both would fail if read.
local function ka_split(policy)
  write("conf.d/10-sync.conf", "vrrp_sync_group G1 {\n    group {\n        WAN\n        LAN\n    }\n"
    .. "    include ../notify.inc\n}\n")
  write("notify.inc", notify_lines(policy))
  write("instances/wan.conf", INSTANCES:match("^(vrrp_instance WAN.-\n}\n)"))
  write("instances/lan.conf", INSTANCES:match("(vrrp_instance LAN.-\n}\n)$"))
  write("conf.d/.hidden.conf", 'vrrp_sync_group X {\n    notify_fault "/bin/true"\n}\n')
  write("conf.d/README", 'notify_fault "/bin/true"\n')
  return write("keepalived.conf", GLOBAL .. "include conf.d/*.conf\ninclude instances/{wan,lan}.conf\n"
    .. 'include "conf.d/none-*.conf"  # matches nothing: no problem\n')
end

local function policy(name, mode, text)
  return write(name or "policy.lua", text or "return { master = function() end }\n", mode or "0644")
end

local function ctd_conf(iface, ignore)
  return lab.conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", iface or "lo", ignore or {})
end

-- In this process: a ruleset file and a socket nobody listens on, so that
-- only the checks under test depend on the host.
local function run(opts)
  opts.ruleset = opts.ruleset or write("ruleset.nft", lab.RULESET)
  opts.socket = opts.socket or (dir .. "/none.ctl")
  opts.conntrackd = opts.conntrackd or write("conntrackd.conf", ctd_conf())
  return doctor.run(opts)
end

describe("netops.failover.doctor", function()
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  it("follows keepalived's includes as keepalived does", function()
    local res = run { keepalived = ka_split(policy()) }
    expect(res, "keepalived.config", "ok", "read with 4 included file%(s%)")
    none(res, "keepalived.config", "FAIL")
    expect(res, "keepalived.notify", "ok", "notify_master calls netops%-failover")
    expect(res, "keepalived.notify", "ok", "notify_backup calls netops%-failover")
    assert.equal(2, #find(res, "keepalived.notify"), doctor.render(res))
    none(res, "keepalived.notify", "FAIL")
    expect(res, "keepalived.policy", "ok", "passes the ownership rules")
    local ka = doctor.parse_keepalived(assert(doctor.read_keepalived(dir .. "/keepalived.conf")).text)
    assert.same({ "198.51.100.1", "2001:db8:2::1", "192.0.2.1" }, ka.vips)
  end)

  it("reports an include that names no file, and an executable one keepalived skips", function()
    write("keepalived.conf", GLOBAL .. "include instances.conf\ninclude extra/*.conf\n"
      .. "include extra/none-*.conf\n")
    write("extra/run.conf", "", "0755")
    local res = run { keepalived = dir .. "/keepalived.conf" }
    local f = expect(res, "keepalived.config", "FAIL", "include " .. dir:gsub("%p", "%%%0")
      .. "/instances%.conf %(in .-%): no such file; keepalived goes on without it")
    assert.matches("correct the path", f.fix)
    f = expect(res, "keepalived.config", "FAIL", "keepalived skips .-/extra/run.conf")
    assert.equal("chmod a-x " .. dir .. "/extra/run.conf", f.fix)
    assert.equal(2, #find(res, "keepalived.config", "FAIL"), doctor.render(res))
  end)

  it("glob: braces, sets, hidden names, sorted per alternative", function()
    for _, n in ipairs { "b.conf", "a.conf", "c.txt", ".h.conf", "x1.conf", "x2.conf" } do write("g/" .. n, "") end
    local g = dir .. "/g/"
    assert.same({ g .. "a.conf", g .. "b.conf", g .. "x1.conf", g .. "x2.conf" }, doctor.glob(g .. "*.conf"))
    assert.same({ g .. "x2.conf", g .. "x1.conf", g .. "c.txt" }, doctor.glob(g .. "{x2,x1,c}.*"))
    assert.same({ g .. "x1.conf" }, doctor.glob(g .. "x[!2].conf"))
    assert.same({ g .. ".h.conf" }, doctor.glob(g .. ".*.conf"))
    assert.same({}, doctor.glob(g .. "nothing-*"))
  end)

  it("runs keepalived -t and reports what it finds", function()
    local good = write("good.conf", "global_defs {\n    router_id fw1\n}\n")
    local res = run { keepalived = good }
    expect(res, "keepalived.test", "ok", "keepalived %-t %-f " .. good:gsub("%p", "%%%0") .. " accepts")
    local bad = write("bad.conf", "global_defs {\n    router_id fw1\n    bogus_keyword 1\n}\n")
    res = run { keepalived = bad }
    local f = expect(res, "keepalived.test", "FAIL", "Unknown keyword 'bogus_keyword'")
    assert.matches("^keepalived %-t %-f " .. bad:gsub("%p", "%%%0") .. ": exit %d+", f.what)
    assert.matches("correct what keepalived reports, then run keepalived %-t %-f", f.fix)
  end)

  it("checks the policy of each notify line: missing, insecure, broken, good", function()
    local res = run { keepalived = write("k1.conf", ka_conf(notify_lines(dir .. "/absent.lua"))) }
    local f = expect(res, "keepalived.policy", "FAIL", "policy .-/absent%.lua does not exist")
    assert.matches("cp examples/primary%-backup%.lua", f.fix)
    assert.equal(1, #find(res, "keepalived.policy"), "one check per policy file")

    local loose = policy("loose.lua", "0664")
    res = run { keepalived = write("k2.conf", ka_conf(notify_lines(loose))) }
    f = expect(res, "keepalived.policy", "FAIL", "loose%.lua: refused: writable by its group")
    assert.matches("chmod go%-w", f.fix)

    local broken = policy("broken.lua", "0644", "return {\n")
    res = run { keepalived = write("k3.conf", ka_conf(notify_lines(broken))) }
    expect(res, "keepalived.policy", "FAIL", "broken%.lua")

    res = run { keepalived = write("k4.conf", ka_conf(notify_lines(policy()))) }
    expect(res, "keepalived.policy", "ok", "policy .-/policy%.lua passes the ownership rules and compiles")
  end)

  it("checks the default policy when a notify line gives none", function()
    local res = run { keepalived = write("k.conf", ka_conf(notify_lines(nil))) }
    local want = io.open(failover.DEFAULT_POLICY) and failover.DEFAULT_POLICY
      or (ROOT .. "/examples/primary-backup.lua")
    expect(res, "keepalived.policy", "ok", "policy " .. want:gsub("%p", "%%%0") .. " passes")
  end)

  it("reports notify lines that bypass netops-failover or run a missing program", function()
    local text = ka_conf('    notify_master "/etc/conntrackd/primary-backup.sh primary"\n'
      .. '    notify_backup "/nonexistent/netops-failover backup"\n'
      .. '    notify_fifo /run/keepalived.fifo\n')
    local res = run { keepalived = write("k.conf", text) }
    expect(res, "keepalived.notify", "FAIL", "notify_master does not call netops%-failover")
    local f = expect(res, "keepalived.notify", "FAIL", "notify_backup runs /nonexistent/netops%-failover, "
      .. "which is not an executable file")
    assert.matches("correct the path", f.fix)
    assert.equal(2, #find(res, "keepalived.notify"), "notify_fifo names a FIFO, not a script")
    -- no --policy: the default one, which nothing beside that launcher holds
    expect(res, "keepalived.policy", "skipped", "shipped policy was not found beside /nonexistent/")
    res = run { keepalived = write("k2.conf", ka_conf('    notify_master "/bin/true"\n')) }
    expect(res, "keepalived.policy", "skipped", "no notify line calls netops%-failover")
  end)

  it("checks conntrackd's CommitTimeout and PurgeTimeout", function()
    local res = run { keepalived = write("k.conf", ka_conf(notify_lines(policy()))) }
    expect(res, "conntrackd.timeouts", "ok", "CommitTimeout is 1800 s")
    expect(res, "conntrackd.timeouts", "ok", "PurgeTimeout is 5 s")
    res = run { keepalived = dir .. "/k.conf",
                conntrackd = write("c.conf", (ctd_conf():gsub("\n%s*PurgeTimeout %d+", ""))) }
    expect(res, "conntrackd.timeouts", "ok", "CommitTimeout")
    local f = expect(res, "conntrackd.timeouts", "FAIL", "PurgeTimeout is not set")
    assert.matches("PurgeTimeout 5", f.fix)
    res = run { keepalived = dir .. "/k.conf",
                conntrackd = write("c2.conf", (ctd_conf():gsub("\n%s*CommitTimeout %d+", ""))) }
    expect(res, "conntrackd.timeouts", "FAIL", "CommitTimeout is not set")
    res = run { keepalived = dir .. "/k.conf", conntrackd = write("c3.conf", "General {\n}\n") }
    expect(res, "conntrackd.timeouts", "FAIL", "no Sync section")
    expect(res, "conntrackd.interface", "skipped", "no Sync section")
  end)

  it("checks that the sync interface exists", function()
    local res = run { keepalived = write("k.conf", ka_conf(notify_lines(policy()))),
                      conntrackd = write("c.conf", ctd_conf("lo")) }
    expect(res, "conntrackd.interface", "ok", "sync interface lo %(UDP%) exists")
    res = run { keepalived = dir .. "/k.conf", conntrackd = write("c2.conf", ctd_conf("nosuch0")) }
    local f = expect(res, "conntrackd.interface", "FAIL", "sync interface nosuch0 %(UDP%) does not exist")
    assert.matches("/sys/class/net/nosuch0", f.what)
    res = run { keepalived = dir .. "/k.conf",
                conntrackd = write("c3.conf", (ctd_conf():gsub("\n%s*Interface %S+", ""))) }
    expect(res, "conntrackd.interface", "skipped", "names no Interface")
  end)

  it("skips the checks of a default file that is missing, and fails on a named one", function()
    local saved = doctor.DEFAULTS.keepalived
    doctor.DEFAULTS.keepalived = dir .. "/absent/keepalived.conf"
    local ok, res = pcall(doctor.run, { ruleset = write("r.nft", lab.RULESET), socket = dir .. "/none.ctl",
                                        conntrackd = write("c.conf", ctd_conf()) })
    doctor.DEFAULTS.keepalived = saved
    assert(ok, res)
    for _, check in ipairs { "keepalived.config", "keepalived.test", "keepalived.notify", "keepalived.policy" } do
      local r = expect(res, check, "skipped", "absent/keepalived%.conf: no such file %(the default")
      assert.is_nil(r.fix)
    end
    none(res, "keepalived.config", "FAIL")
    expect(res, "conntrackd.ignore", "skipped", "lists the virtual IPs: the keepalived config was not read")

    res = run { keepalived = dir .. "/typo.conf" }
    expect(res, "keepalived.config", "FAIL", "typo%.conf: No such file")
    expect(res, "keepalived.test", "skipped", "keepalived config not read")
  end)

  it("renders text and JSON; exit status 1 only for a failure", function()
    local res, status = run { keepalived = write("k.conf", ka_conf(notify_lines(dir .. "/absent.lua"))),
                              conntrackd = write("c.conf", ctd_conf("nosuch0")) }
    assert.equal(1, status)
    local text = doctor.render(res)
    assert.matches("\nFAIL policy [^\n]*absent%.lua does not exist[^\n]*\n     fix: ", text)
    assert.matches("\nok   conntrackd CommitTimeout is 1800 s\n", text)
    assert.matches("doctor: %d+ problem%(s%)\n$", text)
    local doc = assert(json.decode(doctor.render(res, { json = true })))
    assert.equal(1, doc.exit_status)
    assert.equal(#res, #doc.checks)
    local ok, bad, skipped = doctor.counts(res)
    assert.same({ ok, bad, skipped }, { doc.ok, doc.failed, doc.skipped })
    for i, c in ipairs(doc.checks) do
      assert.equal(res[i].check, c.check)
      assert.equal(res[i].status, c.status)
      if c.status == "FAIL" then assert.is_string(c.fix) end
      if c.status == "skipped" then assert.is_string(c.reason) end
    end
    -- only skips: exit 0, and the text says what was skipped and why
    local only = { { check = "ruleset", status = "skipped", what = "the live ruleset", reason = "not root" },
                   { check = "conntrackd.socket", status = "ok", what = "conntrackd answers" } }
    assert.equal(0, json.decode(doctor.render(only, { json = true })).exit_status)
    assert.equal("skipped the live ruleset: not root\nok   conntrackd answers\n"
      .. "doctor: all checks passed, 1 skipped\n", doctor.render(only))
  end)

  it("reports the same problems in iptables-save form", function()
    local f = failover.check_ruleset("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n"
      .. "-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n")
    local text = {}
    for _, x in ipairs(f) do text[#text + 1] = (x.ok and "ok " or "FAIL ") .. x.what end
    text = table.concat(text, "\n")
    assert.matches("FAIL iptables INPUT policy ACCEPT", text)
    assert.matches("ok iptables FORWARD policy DROP", text)
    assert.matches("FAIL iptables rule rejects in FORWARD", text)
  end)
end)

describe("netops-failover doctor", function()
  before_each(function() dir = sh.tmpdir() end)
  after_each(function()
    sh.netns_cleanup()
    sh.rmtree(dir)
  end)

  -- A namespace with the lab's addresses and interfaces, a conntrackd, and
  -- config files (keepalived.conf split over includes unless opts.keepalived).
  local function world(ns, opts)
    opts = opts or {}
    for _, l in ipairs { { "wan0", "wan1" }, { "lan0", "lan1" }, { "sync0", "sync1" } } do
      sh.nsrun(ns, { "ip", "link", "add", l[1], "type", "veth", "peer", "name", l[2] })
      sh.nsrun(ns, { "ip", "link", "set", l[1], "up" })
      sh.nsrun(ns, { "ip", "link", "set", l[2], "up" })
    end
    sh.nsrun(ns, { "ip", "addr", "add", "198.51.100.2/24", "dev", "wan0" })
    sh.nsrun(ns, { "ip", "addr", "add", "2001:db8:2::2/64", "dev", "wan0", "nodad" })
    sh.nsrun(ns, { "ip", "addr", "add", "192.0.2.2/24", "dev", "lan0" })
    sh.nsrun(ns, { "ip", "addr", "add", "203.0.113.1/30", "dev", "sync0" })
    local ignore = { "198.51.100.2", "192.0.2.2", "203.0.113.1", "198.51.100.1", "192.0.2.1", "2001:db8:2::2",
                     "2001:db8:2::1" }
    if opts.drop_vip then table.remove(ignore, #ignore) end
    sh.write(dir .. "/conntrackd.conf", lab.conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", "sync0", ignore))
    if opts.keepalived then sh.write(dir .. "/keepalived.conf", opts.keepalived) else ka_split(policy()) end
    sh.write(dir .. "/ruleset.nft", opts.ruleset or lab.RULESET)
    sh.run({ "chmod", "-R", "go+rX", dir })
    if not opts.no_daemon then
      sh.run(sh.join { "ip", "netns", "exec", ns, "conntrackd", "-C", dir .. "/conntrackd.conf" }
             .. " >/dev/null 2>&1 &")
      for _ = 1, 50 do
        if select(2, sh.run({ "test", "-S", dir .. "/conntrackd.ctl" })) == 0 then break end
        lab.sleep(0.1)
      end
    end
  end

  local function doctor_argv(...)
    return sh.cmd("netops-failover", "doctor", "--conntrackd-config", dir .. "/conntrackd.conf",
                  "--keepalived-config", dir .. "/keepalived.conf", ...)
  end

  local function run_doctor(ns, ...)
    return sh.nsrun(ns, doctor_argv("--ruleset", dir .. "/ruleset.nft", ...), { stderr = true })
  end

  it("passes a good configuration split over includes, keepalived -t included", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns)
    local out, code = run_doctor(ns)
    assert.equal(0, code, out)
    assert.matches("doctor: all checks passed", out)
    assert.matches("ok   keepalived config [^\n]* read with 4 included file%(s%)", out)
    assert.matches("ok   keepalived %-t %-f [^\n]* accepts the configuration", out)
    assert.matches("ok   conntrackd Address Ignore lists every local address and virtual IP %(7%)", out)
    assert.matches("ok   keepalived notify_master calls netops%-failover", out)
    assert.matches("ok   policy [^\n]*/policy%.lua passes the ownership rules and compiles", out)
    assert.matches("ok   conntrackd sync interface sync0 %(UDP%) exists", out)
    assert.matches("ok   conntrackd answers", out)
    assert.not_matches("FAIL", out)
  end)

  it("--json through the command: the same checks, and exit_status is the exit code", function()
    if sh.need_root("namespaces") then return end
    local json = require "dkjson"
    local ns = sh.netns("doc")
    world(ns)
    local out, code = sh.nsrun(ns, sh.cmd("netops-failover", "doctor", "--conntrackd", dir .. "/conntrackd.conf",
      "--keepalived", dir .. "/keepalived.conf", "--ruleset", dir .. "/ruleset.nft", "--json"))
    assert.equal(0, code, out)
    local doc = assert(json.decode(out), out)
    assert.equal(0, doc.exit_status)
    assert.equal(0, doc.failed)
    assert.equal(#doc.checks, doc.ok + doc.skipped)
    -- a syntax error: FAIL, exit 1, and the object says so
    sh.write(dir .. "/instances/lan.conf", (sh.read(dir .. "/instances/lan.conf"):gsub("\n}\n$", "\n")))
    out, code = sh.nsrun(ns, sh.cmd("netops-failover", "doctor", "--conntrackd", dir .. "/conntrackd.conf",
      "--keepalived", dir .. "/keepalived.conf", "--ruleset", dir .. "/ruleset.nft", "--json"))
    assert.equal(1, code, out)
    doc = assert(json.decode(out), out)
    assert.equal(1, doc.exit_status)
    local failed = {}
    for _, c in ipairs(doc.checks) do if c.status == "FAIL" then failed[#failed + 1] = c.check end end
    assert.equal(1, #failed)
  end)

  it("catches a keepalived syntax error with keepalived -t", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns)
    sh.write(dir .. "/instances/lan.conf", (sh.read(dir .. "/instances/lan.conf"):gsub("\n}\n$", "\n")))
    local out, code = run_doctor(ns)
    assert.equal(1, code, out)
    assert.matches("FAIL keepalived %-t %-f [^\n]*: exit %d+: [^\n]*missing '}'", out)
    assert.matches("doctor: 1 problem%(s%)", out)
  end)

  it("skips, as another user, what only root may check; skips are not failures", function()
    if sh.need_root("namespaces, setpriv") then return end
    local ns = sh.netns("doc")
    world(ns)
    local argv = { "setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups" }
    for _, a in ipairs(doctor_argv()) do argv[#argv + 1] = a end
    local out, code = sh.nsrun(ns, argv, { stderr = true })
    assert.equal(0, code, out)
    assert.matches("skipped:? the live ruleset: not root", out)
    assert.matches("skipped:? policy [^\n]*/policy%.lua passes the ownership rules: not root", out)
    assert.matches("skipped:? conntrackd answers on [^\n]*: not root", out)
    assert.matches("ok   keepalived %-t", out)
    assert.matches("doctor: all checks passed", out)
  end)

  it("skips keepalived -t where keepalived is not installed", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns)
    local argv = { "env", "PATH=/usr/bin:/bin" }
    for _, a in ipairs(doctor_argv("--ruleset", dir .. "/ruleset.nft")) do argv[#argv + 1] = a end
    local out, code = sh.nsrun(ns, argv, { stderr = true })
    assert.equal(0, code, out)
    assert.matches("skipped:? keepalived's own config test %(keepalived %-t%): keepalived is not installed", out)
  end)

  it("reports an accept policy, a reject rule and masquerade", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    local rs = lab.RULESET:gsub("policy drop;", "policy accept;", 1)
      :gsub('iifname "sync0" accept', 'iifname "sync0" accept\n        tcp dport 22 reject', 1)
      :gsub("snat to [%d.]+", "masquerade", 1)
    world(ns, { ruleset = rs })
    local out, code = run_doctor(ns)
    assert.equal(1, code, out)
    assert.matches("FAIL nftables chain input %(hook input%) has policy accept", out)
    assert.matches("FAIL nftables chain input %(hook input%) rejects traffic", out)
    assert.matches("FAIL nftables chain postrouting uses masquerade", out)
    assert.matches("fix: ", out)
    assert.matches("doctor: 3 problem%(s%)", out)
  end)

  it("reads the namespace's own ruleset when no --ruleset is given", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns)
    local rs = lab.RULESET:gsub("policy drop;", "policy accept;", 1)
    sh.write(dir .. "/loaded.nft", rs)
    local _, c = sh.nsrun(ns, { "nft", "-f", dir .. "/loaded.nft" })
    assert.equal(0, c)
    local out, code = sh.nsrun(ns, doctor_argv(), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("FAIL nftables chain input %(hook input%) has policy accept", out)
    assert.matches("ok   nftables forward chain drops unknown traffic", out)
  end)

  it("fails when the namespace has no ruleset loaded", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns)
    local out, code = sh.nsrun(ns, doctor_argv(), { stderr = true })
    assert.equal(1, code, out)
    assert.matches("FAIL no ruleset is loaded", out)
  end)

  it("reports a virtual IP missing from Address Ignore", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    world(ns, { drop_vip = true })
    local out, code = run_doctor(ns)
    assert.equal(1, code, out)
    assert.matches("FAIL conntrackd Address Ignore does not list 2001:db8:2::1 %(virtual IP", out)
  end)

  it("reports conntrackd down and notify lines that bypass netops-failover", function()
    if sh.need_root("namespaces") then return end
    local ns = sh.netns("doc")
    local ka = ka_conf(notify_lines(policy()))
    ka = ka:gsub('"[^"\n]*backup"', '"/etc/conntrackd/primary-backup.sh backup"')
    world(ns, { no_daemon = true, keepalived = ka })
    local out, code = run_doctor(ns)
    assert.equal(1, code, out)
    assert.matches("FAIL conntrackd: [^\n]*conntrackd.ctl: no such socket", out)
    assert.matches("FAIL keepalived notify_backup does not call netops%-failover", out)
  end)
end)
