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

  it("tries every address of a name: localhost on a port only ::1 or 127.0.0.1 serves", function()
    local h, port = listener("")
    local ok, info = netops.probe("localhost", port, { timeout = 5 })
    assert.is_true(ok, info)
    assert.equal("127.0.0.1", info.address)
    h.proc:kill("KILL"); h.wait(); h.close()
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

  it("reports unreachable when there is no route", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    local out = in_ns(ns, 'print(require("netops").probe("192.0.2.1", 22, {timeout = 2}))')
    assert.matches("\tunreachable\n$", out)
  end)

  it("reports timeout for an address that never answers, within the timeout", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    -- packets to 198.51.100.2 vanish
    blackhole(ns)
    local out = in_ns(ns, 'local ok, m, c = require("netops").probe("198.51.100.2", 22, {timeout = 0.5}); print(ok, c, m)')
    assert.matches("^nil\ttimeout\t", out)
  end)

  it("ends early with class interrupted on SIGINT", function()
    if sh.need_root("network namespaces") then return end
    local ns = sh.netns("probe")
    blackhole(ns)
    local h = P.start({ "ip", "netns", "exec", ns, "lua5.4", "-e",
      ('package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="%s/?.so;"..package.cpath;')
        :format(sh.build) .. 'io.stdout:write("ready\\n"); io.stdout:flush();'
        .. 'print(require("netops").probe("198.51.100.2", 22, {timeout = 30}))' })
    assert.truthy(h.until_(function() return h.stdout():find("ready") end))
    core.sleep(0.5)
    h.proc:kill("INT")
    local r = h.wait(20)
    assert.is_nil(r.hung)
    assert.matches("interrupted by SIGINT\tinterrupted\tSIGINT", h.stdout())
    h.close()
  end)

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
