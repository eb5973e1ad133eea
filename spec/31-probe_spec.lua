-- netops.probe: resolve and connect without blocking, classes of failure,
-- the SSH identification line.  Loopback, and namespaces for the rest.
local sh = require "helpers.sh"
local P = require "helpers.proc"
local netops = require "netops"
local core = netops.core

-- whatever a test started is killed, reaped and cleaned up, even when it fails
after_each(function() P.cleanup() end)

-- A TCP listener on 127.0.0.1 (python3) that sends `greeting` to each
-- client, then holds the connection.  Returns the handle and its port.
local function listener(greeting, close_at_once)
  local h = P.start({ "python3", "-c", [[
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
end = time.time() + 30
while time.time() < end:
    s.settimeout(max(0.1, end - time.time()))
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    c.sendall(sys.argv[1].encode())
    if sys.argv[2] == "1":
        c.close()
    else:
        conns.append(c)
]], greeting, close_at_once and "1" or "0" })
  local port = h.until_(function() return tonumber(h.stdout():match("(%d+)")) end, 20)
  assert(port, "listener did not start: " .. h.stderr())
  return h, port
end

-- A port nothing listens on: bind-and-close in python would race; instead
-- ask the kernel for a free one and check that it refuses.
local function closed_port()
  for _ = 1, 50 do
    local p = math.random(20000, 59999)
    local ok, _, cls = netops.probe("127.0.0.1", p, { timeout = 1 })
    if not ok and cls == "refused" then return p end
  end
  error("no closed port")
end

describe("netops.probe", function()
  it("says true and which address answered when a port accepts", function()
    local h, port = listener("")
    local ok, info = netops.probe("127.0.0.1", port, { timeout = 5 })
    assert.is_true(ok)
    assert.equal("127.0.0.1", info.address)
    assert.equal(port, info.port)
    assert.equal("inet", info.family)
    assert.is_number(info.elapsed)
    h.proc:kill("KILL"); h.wait(); h.close()
  end)

  it("reports refused for a closed port, naming host and port", function()
    local port = closed_port()
    local ok, msg, cls = netops.probe("127.0.0.1", port)
    assert.is_nil(ok)
    assert.equal("refused", cls)
    assert.matches("127%.0%.0%.1", msg)
    assert.matches(tostring(port), msg)
  end)

  it("honours the family option", function()
    local h, port = listener("")
    local ok, _, cls = netops.probe("127.0.0.1", port, { family = "inet6", timeout = 2 })
    assert.is_nil(ok)
    assert.matches("^dns_", cls)
    assert.is_true((netops.probe("127.0.0.1", port, { family = "inet", timeout = 2 })))
    h.proc:kill("KILL"); h.wait(); h.close()
  end)

  it("reports dns_permanent for a name that does not exist", function()
    local ok, msg, cls = netops.probe("netops-no-such-host.invalid", 22, { timeout = 5 })
    assert.is_nil(ok)
    assert.equal("dns_permanent", cls)
    assert.matches("netops%-no%-such%-host%.invalid", msg)
  end)

  it("reads the SSH identification line after other lines (RFC 4253 4.2)", function()
    local h, port = listener("Welcome\r\nnot yet\r\nSSH-2.0-Test_1.0 comment\r\n")
    local ok, info = netops.probe("127.0.0.1", port, { banner = "SSH-", timeout = 5 })
    assert.is_true(ok, info)
    assert.equal("SSH-2.0-Test_1.0 comment", info.banner)
    h.proc:kill("KILL"); h.wait(); h.close()
  end)

  it("a port that accepts but never identifies is a timeout when a banner is asked", function()
    local h, port = listener("")
    local ok, msg, cls = netops.probe("127.0.0.1", port, { banner = true, timeout = 0.3 })
    assert.is_nil(ok)
    assert.equal("timeout", cls)
    assert.matches("identification", msg)
    h.proc:kill("KILL"); h.wait(); h.close()
  end)

  it("a port that closes before identifying is a reset", function()
    local h, port = listener("", true)
    local ok, _, cls = netops.probe("127.0.0.1", port, { banner = true, timeout = 5 })
    assert.is_nil(ok)
    assert.equal("reset", cls)
    h.proc:kill("KILL"); h.wait(); h.close()
  end)

  it("misuse raises", function()
    assert.has_error(function() netops.probe("127.0.0.1", 0) end)
    assert.has_error(function() netops.probe("127.0.0.1", 65536) end)
    assert.has_error(function() netops.probe("127.0.0.1", "ssh") end)
    assert.has_error(function() netops.probe("", 22) end)
    assert.has_error(function() netops.probe("127.0.0.1", 22, { family = "ipx" }) end)
    assert.has_error(function() netops.probe("127.0.0.1", 22, { timeout = -1 }) end)
  end)

  it("refuses an unknown option key (a typo), naming it and the known ones", function()
    local ok, err = pcall(netops.probe, "127.0.0.1", 1, { timout = 1 })
    assert.is_false(ok)
    assert.matches("unknown opts field 'timout' (known: timeout, stagger, family, banner, interruptible)",
      tostring(err), 1, true)
  end)

  it("raises on a NUL byte in the host, port, family or banner instead of probing what C sees", function()
    for _, args in ipairs {
      { "127.0.0.1\0evil", 1 },
      { "127.0.0.1", "1\0 22" },
      { "127.0.0.1", 1, { family = "inet\0x" } },
      { "127.0.0.1", 1, { banner = "SSH-\0x" } },
    } do
      local ok, err = pcall(netops.probe, table.unpack(args))
      assert.is_false(ok, tostring(args[1]) .. " " .. tostring(args[2]))
      assert.matches("NUL", tostring(err), 1, true)
    end
  end)
end)

describe("netops.probe in a namespace", function()
  after_each(function() sh.netns_cleanup() end)

  local function in_ns(ns, code)
    local out, rc = sh.nsrun(ns, { "lua5.4", "-e",
      ('package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="%s/?.so;"..package.cpath;')
        :format(sh.build) .. code }, { stderr = true })
    return out, rc
  end

  -- 198.51.100.2 has a fixed neighbour entry on a veth whose peer drops
  -- everything: SYNs leave and nothing ever answers.
  local function blackhole(ns)
    for _, argv in ipairs {
      { "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb" },
      { "ip", "addr", "add", "198.51.100.1/24", "dev", "va" },
      { "ip", "link", "set", "va", "up" },
      { "ip", "link", "set", "vb", "up" },
      { "ip", "neigh", "replace", "198.51.100.2", "lladdr", "02:00:00:00:00:02", "dev", "va", "nud", "permanent" },
    } do
      local out, rc = sh.nsrun(ns, argv, { stderr = true })
      assert(rc == 0, table.concat(argv, " ") .. ": " .. out)
    end
  end

  -- The blackhole above, plus 198.51.100.3 and .4 as our own addresses on
  -- va, nftables counting the SYNs we send to each of .2/.3/.4 (the
  -- attempts a probe made), and /etc/netns/NS/hosts (which `ip netns exec`
  -- mounts over /etc/hosts) giving the name two.test the addresses `addrs`
  -- in this order.  Checks that getaddrinfo keeps that order.
  local hostdirs = {}
  after_each(function()
    for i = #hostdirs, 1, -1 do sh.run({ "rm", "-rf", hostdirs[i] }); hostdirs[i] = nil end
  end)

  local function lan(ns, addrs)
    blackhole(ns)
    for _, argv in ipairs {
      { "ip", "addr", "add", "198.51.100.3/24", "dev", "va" },
      { "ip", "addr", "add", "198.51.100.4/24", "dev", "va" },
    } do
      local out, rc = sh.nsrun(ns, argv, { stderr = true })
      assert(rc == 0, table.concat(argv, " ") .. ": " .. out)
    end
    local rules = { "type filter hook output priority 0" }
    for i = 2, 4 do
      rules[#rules + 1] = ("ip daddr 198.51.100.%d tcp flags & (syn | ack) == syn counter"):format(i)
    end
    local out, rc = sh.nsrun(ns, { "nft", "-f", "-" },
      { stderr = true, stdin = "table inet probe {\nchain out {\n" .. table.concat(rules, "\n") .. "\n}\n}\n" })
    assert(rc == 0, "nft: " .. out)
    local dir = "/etc/netns/" .. ns
    sh.run({ "mkdir", "-p", dir })
    hostdirs[#hostdirs + 1] = dir
    local lines = {}
    for i, a in ipairs(addrs) do lines[i] = a .. " two.test\n" end
    sh.write(dir .. "/hosts", table.concat(lines))
    local order = {}
    for a in sh.nsrun(ns, { "getent", "ahostsv4", "two.test" }):gmatch("(%S+)%s+STREAM") do order[#order + 1] = a end
    assert.same(addrs, order, "getaddrinfo does not keep the hosts file's order")
  end

  -- SYNs sent so far to 198.51.100.N, by N
  local function syns(ns)
    local t = { 0, 0, 0, 0 }
    local out = sh.nsrun(ns, { "nft", "list", "chain", "inet", "probe", "out" })
    for n, pk in out:gmatch("198%.51%.100%.(%d).-counter packets (%d+)") do t[tonumber(n)] = tonumber(pk) end
    return t
  end

  -- A listener in ns on address:port 0 that accepts and holds connections.
  local function ns_listener(ns, address)
    local h = P.start({ "ip", "netns", "exec", ns, "python3", "-c", [[
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
s.settimeout(30)
try:
    while True:
        conns.append(s.accept()[0])
except socket.timeout:
    pass
]], address })
    local port = h.until_(function() return tonumber(h.stdout():match("(%d+)")) end, 20)
    assert(port, "listener did not start: " .. h.stderr())
    return h, port
  end

  local function probe_in(ns, host, port, opts)
    local out = in_ns(ns, ([[
      local netops = require "netops"
      local t = netops.core.monotime()
      local ok, a, b = netops.probe(%q, %d, %s)
      local took = netops.core.monotime() - t
      if ok then print("ok", a.address, a.family, a.port, a.elapsed) else print("fail", b, a, took) end
    ]]):format(host, port, opts))
    local ok, f1, f2, f3, f4 = out:match("^(%a+)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?([^\t\n]*)\n$")
    assert(ok, "unexpected output: " .. out)
    if ok == "ok" then return true, { address = f1, family = f2, port = tonumber(f3), elapsed = tonumber(f4) } end
    return nil, f2, f1, tonumber(f3)            -- nil, message, class, seconds it took
  end

  it("tries every address of a name: when the first refuses, the next at once, not after the stagger", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    lan(ns, { "198.51.100.3", "198.51.100.4" })
    local h, port = ns_listener(ns, "198.51.100.4")     -- nothing on .3: it refuses
    -- a stagger longer than the timeout: only .3's failure can start .4
    local ok, info = probe_in(ns, "two.test", port, "{ stagger = 30, timeout = 10 }")
    assert.is_true(ok, info)
    assert.equal("198.51.100.4", info.address)
    assert.equal("inet", info.family)
    assert.equal(port, info.port)
    assert.same({ 0, 0, 1, 1 }, syns(ns))                -- one attempt each, .3 then .4
    h.close()
  end)

  it("staggers the addresses of a name: the next one starts after `stagger` (0.25 s by default) while the first still waits", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    -- .2 never answers; .3 and .4 would both accept
    lan(ns, { "198.51.100.2", "198.51.100.3", "198.51.100.4" })
    local h, port = ns_listener(ns, "0.0.0.0")
    local before = syns(ns)
    for _, case in ipairs { { opts = "{ timeout = 10 }", stagger = 0.25 }, { opts = "{ timeout = 10, stagger = 0.6 }", stagger = 0.6 } } do
      local ok, info = probe_in(ns, "two.test", port, case.opts)
      assert.is_true(ok, info)
      assert.equal("198.51.100.3", info.address)
      -- the reported time: .3 was not started before the stagger passed
      assert.is_true(info.elapsed >= case.stagger, case.opts .. ": answered after " .. info.elapsed)
      local now = syns(ns)
      assert.is_true(now[2] > before[2], "no SYN to the first address")
      assert.equal(before[3] + 1, now[3], "one attempt at the second")
      assert.equal(before[4], now[4], "the third tried although the second answered")
      before = now
    end
    -- a stagger past the timeout: the second address is never tried
    local ok, msg, cls, took = probe_in(ns, "two.test", port, "{ timeout = 0.5, stagger = 30 }")
    assert.is_nil(ok)
    assert.equal("timeout", cls, msg)
    assert.is_true(took >= 0.5, took)
    local now = syns(ns)
    assert.is_true(now[2] > before[2], "no SYN to the first address")
    assert.equal(before[3], now[3], "the second address tried before its stagger")
    h.close()
  end)

  it("reports unreachable when there is no route", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    local out = in_ns(ns, 'print(require("netops").probe("192.0.2.1", 22, {timeout = 2}))')
    assert.matches("\tunreachable\n$", out)
  end)

  it("waits out the whole timeout for an address that never answers, then reports timeout", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    lan(ns, {})
    -- packets to 198.51.100.2 vanish: the SYN leaves, nothing answers
    local ok, msg, cls, took = probe_in(ns, "198.51.100.2", 22, "{ timeout = 0.5 }")
    assert.is_nil(ok)
    assert.equal("timeout", cls)
    assert.matches("198%.51%.100%.2 port 22: connection timed out after 0%.5 s", msg)
    assert.is_true(took >= 0.5, "gave up before the timeout: " .. took)
    assert.is_true(syns(ns)[2] >= 1, "no SYN was sent")
  end)

  -- run `code` in lua5.4 in ns; it prints "ready" first
  local function start_in(ns, code)
    return P.start({ "ip", "netns", "exec", ns, "lua5.4", "-e",
      ('package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="%s/?.so;"..package.cpath;')
        :format(sh.build) .. 'io.stdout:write("ready\\n"); io.stdout:flush();' .. code })
  end

  for _, sig in ipairs { "INT", "TERM", "HUP" } do
    it("a probe waiting on a connect ends early with class interrupted on SIG" .. sig .. ", and the caller goes on", function()
      if sh.need_root("network namespaces") then return end
      local ns = sh.netns("probe")
      blackhole(ns)
      local h = start_in(ns, 'print(require("netops").probe("198.51.100.2", 22, {timeout = 30})); print("after")')
      assert.truthy(h.until_(function() return h.stdout():find("ready") end))
      core.sleep(0.5)
      h.proc:kill(sig)
      local r = h.wait(20)
      assert.is_nil(r.hung)
      assert.equal("exited", r.status)
      assert.equal(0, r.code, h.stderr())
      assert.equal(("ready\nnil\tprobe 198.51.100.2 port 22: interrupted by SIG%s\tinterrupted\tSIG%s\nafter\n")
        :format(sig, sig), h.stdout())
      h.close()
    end)
  end

  describe("with a resolver that never answers", function()
    -- ip netns exec mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf;
    -- its name server is in the blackhole, so every lookup of a name runs
    -- into the resolver's own timeout (1 s) while the probe's (0.02 s) ends
    local ns, dir
    before_each(function()
      if not sh.is_root() then return end
      ns = sh.netns("probe")
      blackhole(ns)
      dir = "/etc/netns/" .. ns
      sh.run({ "mkdir", "-p", dir })
      local f = assert(io.open(dir .. "/resolv.conf", "w"))
      f:write("nameserver 198.51.100.2\noptions timeout:1 attempts:1\n")
      f:close()
    end)
    after_each(function()
      if dir then sh.run({ "rm", "-rf", dir }) end
      dir = nil
    end)

    for _, sig in ipairs { "TERM", "HUP" } do
      it("a probe waiting on the name lookup ends early with class interrupted on SIG" .. sig, function()
        if sh.need_root("network namespaces") then return end
        -- the resolver's own timeout as long as it goes (30 s): only the signal ends this
        sh.write(dir .. "/resolv.conf", "nameserver 198.51.100.2\noptions timeout:30 attempts:1\n")
        local h = start_in(ns, 'print(require("netops").probe("slow.example", 22, {timeout = 60})); print("after")')
        assert.truthy(h.until_(function() return h.stdout():find("ready") end))
        core.sleep(0.5)
        h.proc:kill(sig)
        local r = h.wait(20)
        assert.is_nil(r.hung)
        assert.equal(0, r.code, h.stderr())
        assert.equal(("ready\nnil\tprobe slow.example port 22: interrupted by SIG%s\tinterrupted\tSIG%s\nafter\n")
          :format(sig, sig), h.stdout())
        h.close()
      end)
    end

    it("probes that time out during the lookup leave no memory behind once it ends (sssh probes in a loop)", function()
      if sh.need_root("network namespaces") then return end
      -- spec/helpers/probeleak: two rounds of 40 timed-out probes, the heap
      -- in use compared around the second; each lost lookup costs > 130 bytes
      local out = sh.nsrun(ns, { sh.build .. "/helpers/probeleak", "40", "4" }, { stderr = true })
      local timeouts, busy, leaked = out:match("^timeouts (%d+) busy (%d+) leaked (%-?%d+)\n$")
      assert.equal("40", timeouts, out)
      assert.equal("0", busy, out)
      assert.is_true(tonumber(leaked) < 1024, out)
    end)

    it("past " .. 64 .. " lookups still pending, a probe of a name fails at once as resolver busy", function()
      if sh.need_root("network namespaces") then return end
      local out = sh.nsrun(ns, { sh.build .. "/helpers/probeleak", "100", "0" }, { stderr = true })
      local timeouts, busy = out:match("^timeouts (%d+) busy (%d+) ")
      assert.truthy(timeouts, out)
      assert.is_true(tonumber(busy) > 0 and tonumber(timeouts) + tonumber(busy) == 100, out)
      -- and from Lua: the class a retry policy retries on
      local lua = ('package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="%s/?.so;"..package.cpath;')
        :format(sh.build) .. [[
        local netops = require "netops"
        local last
        for i = 1, 300 do last = { netops.probe("busy" .. i .. ".example", 22, { timeout = 0.01 }) } end
        print(last[3], last[2])
      ]]
      out = sh.nsrun(ns, { "lua5.4", "-e", lua }, { stderr = true })
      assert.matches("^dns_transient\t.*resolver busy %(64 earlier lookups still pending%)", out)
    end)
  end)
end)
