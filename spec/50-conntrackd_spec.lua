-- netops.conntrackd: the control client against a real conntrackd pair in
-- namespaces, plus sockets that are missing, stale, silent or forbidden.
local sh = require "helpers.sh"
local ctd = require "netops.conntrackd"

local function python(code, ...)
  local argv = { "/usr/bin/python3", "-c", code, ... }
  return sh.join(argv)
end

describe("netops.conntrackd client", function()
  it("opens without connecting and raises on misuse", function()
    local h = ctd.open { socket = "/nonexistent/conntrackd.ctl", timeout = 1 }
    assert.equal("/nonexistent/conntrackd.ctl", h:path())
    assert.equal(1, h:timeout())
    assert.matches("netops.Conntrackd", tostring(h))
    assert.has_error(function() ctd.open { socket = 42 } end)
    assert.has_error(function() ctd.open { timeout = -1 } end)
    assert.has_error(function() ctd.open { socket = "" } end)
    assert.has_error(function() ctd.open { socket = string.rep("x", 200) } end)
    assert.has_error(function() ctd.open { socket = "/tmp/ctl\0evil" } end)
    assert.has_error(function() require("netops.core").conntrackd.open("/tmp/ctl\0evil", 1) end)
    assert.has_error(function() ctd.open { max_reply = -1 } end)
    assert.has_error(function() ctd.open { max_reply = 1.5 } end)
    assert.has_error(function() h:request(21, 1, -1) end)
    assert.equal(ctd.DEFAULT_MAX_REPLY, h:max_reply())
    assert.equal(4096, ctd.open({ max_reply = 4096 }):max_reply())
    assert.has_error(function() h:flush("everything") end)
    assert.has_error(function() h:stats("nonsense") end)
    assert.has_error(function() h:request(1000) end)
    h:close(); h:close()
    assert.has_error(function() h:commit() end)
    do local h2 <close> = ctd.open {} end
  end)

  it("defaults to /var/run/conntrackd.ctl", function()
    assert.equal("/var/run/conntrackd.ctl", ctd.open():path())
  end)

  -- Whether conntrackd runs is read from /proc: other tests on this host may
  -- run conntrackd at any moment.  So the client runs as pid 1 of a pid
  -- namespace of its own, with its own /proc (and in network namespace ns),
  -- where the only conntrackd is the one the test starts.  Prints the pid
  -- of that conntrackd (when CONF is given), then the class and the message.
  local PIDNS_CLIENT = [[
    package.path = 'lua/?.lua;' .. package.path
    package.cpath = os.getenv'BUILD' .. '/?.so;' .. package.cpath
    local c = require 'netops.conntrackd'
    local conf, pid = os.getenv'CONF', '-'
    if conf then
      local p = io.popen('exec conntrackd -C ' .. conf .. ' >/dev/null 2>&1 & echo $!')
      pid = p:read'n'; p:close()
      for _ = 1, 100 do
        if os.execute('test -S ' .. os.getenv'LISTEN') then break end
        os.execute('sleep 0.1')
      end
    end
    local ok, msg, cls = c.open{ socket = os.getenv'SOCK', timeout = 2 }:commit()
    io.write(pid, '\n', tostring(cls), '\n', tostring(msg), '\n')
  ]]
  local function pidns_client(ns, sock, conf, listen)
    local out, code = sh.run({ "ip", "netns", "exec", ns, "env", "BUILD=" .. sh.build, "SOCK=" .. sock,
                               conf and "CONF=" .. conf or "NOCONF=1", "LISTEN=" .. (listen or ""),
                               "unshare", "--pid", "--fork", "--mount-proc", "lua5.4", "-e", PIDNS_CLIENT },
                             { stderr = true })
    assert.equal(0, code, out)
    local pid, cls, msg = out:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n$")
    assert.is_string(msg, out)
    return tonumber(pid), cls, msg
  end
  local function stale_socket(path)
    local _, code = sh.run(python("import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()", path))
    assert.equal(0, code)
  end
  local conntrackd_pids, hint
  local NONE = "no conntrackd process runs on this host: start it (conntrackd -d -C CONFIG)"
  local function ONE(pid)
    return "conntrackd runs (pid " .. pid .. ") but not at this path: check UNIX { Path } in its config"
  end

  -- pids of the processes named conntrackd, ascending; and the client's
  -- words for them
  function conntrackd_pids()
    local pids = {}
    for pid in sh.run("grep -lx conntrackd /proc/[0-9]*/comm 2>/dev/null"):gmatch("/proc/(%d+)/comm") do
      pids[#pids + 1] = tonumber(pid)
    end
    table.sort(pids)
    return pids
  end
  function hint(pids)
    if #pids == 0 then return NONE end
    if #pids == 1 then return ONE(pids[1]) end
    return #pids .. " conntrackd processes run (pid " .. pids[1] .. ", " .. pids[2] .. " ...) but none at "
      .. "this path: check UNIX { Path } in their configs"
  end

  describe("an unreachable socket: the exact message", function()
    local dir
    after_each(function()
      sh.netns_cleanup()   -- kills what still runs in the namespace
      if dir then sh.rmtree(dir) end
      dir = nil
    end)

    it("a missing socket, no conntrackd running", function()
      if sh.need_root("a pid namespace") then return end
      dir = sh.tmpdir()
      local pid, cls, msg = pidns_client(sh.netns("c5m"), dir .. "/conntrackd.ctl")
      assert.is_nil(pid)
      assert.equal("nosocket", cls)
      assert.equal("conntrackd: " .. dir .. "/conntrackd.ctl: no such socket (" .. NONE .. ")", msg)
    end)

    it("a stale socket (nobody listening), no conntrackd running", function()
      if sh.need_root("a pid namespace") then return end
      dir = sh.tmpdir()
      stale_socket(dir .. "/stale.ctl")
      local pid, cls, msg = pidns_client(sh.netns("c5s"), dir .. "/stale.ctl")
      assert.is_nil(pid)
      assert.equal("refused", cls)
      assert.equal("conntrackd: " .. dir .. "/stale.ctl: connection refused, stale socket (" .. NONE .. ")", msg)
    end)

    local function with_daemon(sock)
      local ns = sh.netns("c5d")
      sh.nsrun(ns, { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1" })
      sh.nsrun(ns, { "ip", "addr", "add", "203.0.113.1/30", "dev", "sync0" })
      sh.nsrun(ns, { "ip", "link", "set", "sync0", "up" })
      sh.write(dir .. "/conntrackd.conf", require("lab.lab").conntrackd_conf(dir, "203.0.113.1", "203.0.113.2", "sync0"))
      local pid, cls, msg = pidns_client(ns, sock, dir .. "/conntrackd.conf", dir .. "/conntrackd.ctl")
      assert.is_number(pid, msg)
      return pid, cls, msg
    end

    it("a missing socket while a conntrackd runs elsewhere names its pid", function()
      if sh.need_root("a pid namespace") then return end
      dir = sh.tmpdir()
      local pid, cls, msg = with_daemon(dir .. "/other.ctl")
      assert.equal("nosocket", cls)
      assert.equal("conntrackd: " .. dir .. "/other.ctl: no such socket (" .. ONE(pid) .. ")", msg)
    end)

    it("a stale socket while a conntrackd runs elsewhere names its pid", function()
      if sh.need_root("a pid namespace") then return end
      dir = sh.tmpdir()
      stale_socket(dir .. "/stale.ctl")
      local pid, cls, msg = with_daemon(dir .. "/stale.ctl")
      assert.equal("refused", cls)
      assert.equal("conntrackd: " .. dir .. "/stale.ctl: connection refused, stale socket (" .. ONE(pid) .. ")", msg)
    end)
  end)

  it("a file that is not a socket is reported", function()
    local dir = sh.tmpdir()
    sh.write(dir .. "/plain", "x")
    local ok, msg, cls = ctd.open { socket = dir .. "/plain" }:stats()
    sh.rmtree(dir)
    assert.is_nil(ok)
    assert.equal("io", cls)   -- not "refused, stale socket": nothing ever listened there
    assert.equal("conntrackd: " .. dir .. "/plain: not a socket", msg)
  end)

  it("a stale socket (nobody listening) is refused, not hung", function()
    local dir = sh.tmpdir()
    local path = dir .. "/stale.ctl"
    local _, code = sh.run(python("import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()", path))
    assert.equal(0, code)
    local ok, msg, cls = ctd.open { socket = path, timeout = 2 }:resync()
    sh.rmtree(dir)
    assert.is_nil(ok)
    assert.equal("refused", cls)
    assert.matches("connection refused", msg)
  end)

  it("a socket that accepts and never answers gives a timeout", function()
    local dir = sh.tmpdir()
    local path = dir .. "/silent.ctl"
    -- listens, accepts, reads the request, never answers; exits by itself after 10 s
    sh.run(python("import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)\n"
      .. "s.settimeout(10)\nc,_=s.accept(); c.recv(4); time.sleep(10)", path) .. " >/dev/null 2>&1 & sleep 0.5")
    local ok, msg, cls = ctd.open { socket = path, timeout = 0.5 }:commit()
    sh.rmtree(dir)
    assert.is_nil(ok)
    assert.equal("timeout", cls)
    assert.matches("timeout after 0.5s", msg)
  end)

  -- A fake daemon (python) that reads the request and sends `reply` (a file)
  -- then closes (and lives 3 s more, as a daemon does), or with `flood`
  -- writes until the client goes away: replies a real conntrackd never gives.
  local function fake(path, reply, flood)
    local code = "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(5)\n"
      .. "s.settimeout(10)\nc,_=s.accept(); c.recv(4)\n"
      .. (flood and "b=b'x'*65536\ntry:\n  while True: c.sendall(b)\nexcept OSError: pass\n"
                 or "c.sendall(open(sys.argv[2],'rb').read()); c.close(); time.sleep(3)\n")
    sh.run(python(code, path, reply or "/dev/null") .. " >/dev/null 2>&1 & "
      .. "for i in 1 2 3 4 5 6 7 8 9 10; do [ -S " .. sh.quote(path) .. " ] && break; sleep 0.1; done")
  end

  it("a reply longer than max_reply fails with class toolarge, naming the socket and the cap", function()
    local dir = sh.tmpdir()
    local path = dir .. "/flood.ctl"
    fake(path, nil, true)
    local ok, msg, cls = ctd.open { socket = path, timeout = 10, max_reply = 100000 }:dump_external()
    sh.rmtree(dir)
    assert.is_nil(ok)
    assert.equal("toolarge", cls)
    assert.truthy(msg:find(path, 1, true), msg)
    assert.matches("cap of 100000 bytes", msg)
  end)

  it("garbage lines in a dump are counted and reported, never raised", function()
    local dir = sh.tmpdir()
    local path = dir .. "/garbage.ctl"
    sh.write(dir .. "/reply", "tcp      6 ESTABLISHED src=192.0.2.10 dst=198.51.100.10 sport=1026 dport=80 [ASSURED] mark=0\n"
      .. "tcp      6 ESTABLISHED src=192.0.2.10 dst=198.51.100.10 sport=1 dport=2 status=1 [ASSURED]\n"
      .. "tcp      6 src=192.0.2.300 dst=198.51.100.10 sport=1 dport=2\n"
      .. "tcp      6 src=192.0.2.1 dst=198.51.100.10 sport=70000 dport=2\n"
      .. string.rep("a", 100000) .. "\n"
      .. "udp      17 src=192.0.2.11 dst=198.51.100.10 sport=53 dport=53 mark=7\n")
    fake(path, dir .. "/reply")
    local list, secs = ctd.open { socket = path, timeout = 5 }:dump_external()
    sh.rmtree(dir)
    assert.is_table(list, secs)
    assert.equal(2, #list)
    assert.equal(1026, list[1].sport)
    assert.equal(7, list[2].mark)
    assert.equal(4, list.bad.n)
    assert.same({ 2, 3, 4, 5 }, { list.bad[1].line, list.bad[2].line, list.bad[3].line, list.bad[4].line })
    assert.matches("overwrite", list.bad[1].reason)
    assert.matches("address", list.bad[2].reason)
    assert.matches("port", list.bad[3].reason)
    assert.equal(160, #list.bad[4].text)
  end)

  describe("against a real conntrackd FTFW pair", function()
    local lab, P
    local function setup()
      lab = require "lab.lab"
      P = lab.pair { tag = "c5" }
      P:load_entries("a", 20)
      -- wait (bounded) until the peer's external cache holds them
      local b = ctd.open { socket = P:sock("b") }
      for _ = 1, 50 do
        local st = b:stats()
        if st and st.cache_external and st.cache_external.current_active_connections == 20 then break end
        lab.sleep(0.2)
      end
    end
    after_each(function()
      if P then P:teardown() end
      P = nil
    end)

    local function count(h, which)
      return #assert(h["dump_" .. which](h))
    end
    -- bounded wait until pred() is true (the daemons act on a request after
    -- answering it); returns its last value
    local function eventually(pred, tries)
      local v
      for _ = 1, tries or 50 do
        v = pred()
        if v then return v end
        lab.sleep(0.2)
      end
      return v
    end
    local function sports(list)
      local ports = {}
      for _, e in ipairs(list) do ports[#ports + 1] = e.sport end
      table.sort(ports)
      return ports
    end
    local ALL = {}
    for p = 1024, 1043 do ALL[#ALL + 1] = p end
    -- the 20 loaded sessions in namespace n's kernel table
    local function kernel_count(n)
      local out = P:ns(n, { "conntrack", "-L", "-p", "tcp", "--dport", "80" }, { stderr = true })
      local c = 0
      for p in out:gmatch("src=192%.0%.2%.10 dst=198%.51%.100%.10 sport=(%d+) dport=80 ") do
        if tonumber(p) >= 1024 and tonumber(p) <= 1043 then c = c + 1 end
      end
      return c
    end

    it("statistics of every kind hold the daemon's real counters", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local a = ctd.open { socket = P:sock("a"), timeout = 10 }
      local b = ctd.open { socket = P:sock("b"), timeout = 10 }

      local st, raw = a:stats()
      assert.is_table(st, raw)
      assert.equal(0, st.bad.n, raw)
      assert.same({ current_active_connections = 20, connections_created = 20, connections_created_failed = 0,
                    connections_updated = 0, connections_updated_failed = 0, connections_destroyed = 0,
                    connections_destroyed_failed = 0 }, st.cache_internal)
      assert.equal(0, st.cache_external.current_active_connections)
      assert.equal("active device=sync0", st.udp_traffic.info)
      assert.is_true(st.udp_traffic.bytes_sent > 0 and st.udp_traffic.pckts_sent > 0, raw)
      assert.equal(0, st.message_tracking.malformed_msgs)
      local bst = assert(b:stats())
      assert.equal(20, bst.cache_external.current_active_connections)
      assert.equal(0, bst.cache_internal.current_active_connections)
      assert.is_true(bst.udp_traffic.bytes_recv > 0 and bst.udp_traffic.pckts_recv > 0)

      local function kind(k)
        local t, text = a:stats(k)
        assert.is_table(t, text)
        assert.is_string(text)
        assert.equal(0, t.bad.n, text)
        return t, text
      end
      local t, text = kind("network")
      assert.equal(0, t.network_statistics.malformed_messages, text)
      assert.equal(0, t.network_statistics.bad_message_size, text)
      assert.equal(0, t.sequence_tracking_statistics.packets_lost, text)
      assert.equal("active device=sync0", t.udp_traffic.info)
      assert.is_true(t.udp_traffic.bytes_sent > 0, text)

      t, text = kind("cache")
      assert.same({ active_objects = 20, active_entries = 20, total_entries = 20, creation_ok = 20,
                    creation_failed = 0, no_memory_available = 0, no_space_left_in_cache = 0,
                    update_ok = 0, update_failed = 0, entry_not_found = 0, deletion_created = 0,
                    deletion_failed = 0 }, t.cache_internal, text)
      assert.equal(0, t.cache_external.active_objects, text)
      assert.equal(0, t.cache_external.creation_ok, text)

      t, text = kind("runtime")
      assert.is_true(math.type(t.general.daemon_uptime) == "integer" and t.general.daemon_uptime >= 0, text)
      assert.matches("^daemon uptime: %d+ min\n", text)
      assert.equal(20, t.netlink_stats.events_received, text)
      assert.equal(0, t.netlink_stats.resync_with_kernel_table, text)
      assert.equal(2097152, t.netlink_stats.current_buffer_size_in_bytes, text)  -- NetlinkBufferSize
      assert.equal(0, t.runtime_stats.local_unknown_request, text)

      -- one section per sync link: "UDP traffic device=sync0 status=RUNNING role=ACTIVE:"
      -- (status NO-CARRIER until the daemon sees the link's carrier)
      t, text = kind("link")
      local link, links = nil, 0
      for key, v in pairs(t) do
        if key ~= "bad" then
          links = links + 1
          assert.matches("^udp_traffic_device_sync0_status_[%w_]+_role_active$", key)
          link = v
        end
      end
      assert.equal(1, links, text)
      assert.is_true(link.bytes_sent > 0 and link.pckts_sent > 0, text)
      assert.equal(0, link.error_send, text)

      t, text = kind("rsqueue")
      assert.matches("^resent queue %(len=%d+%)\n", text)
      assert.matches("^len=%d+$", t.resent_queue.info)

      -- no child process (commit, flush) runs: conntrackd lists none
      t, text = kind("process")
      assert.equal("", text)

      t, text = kind("queue")
      assert.equal(2147483647, t.queue_txqueue.maximum_elements, text)
      assert.equal(128, t.queue_errorq.maximum_elements, text)
      assert.equal(131072, t.queue_rsqueue.maximum_elements, text)
      assert.equal(0, t.queue_txqueue.not_enough_space_errors, text)
      assert.is_true(t.general.allocated_queue_nodes >= 0, text)
    end)

    it("the C client (build/ctest/conntrackd SOCKET N) against the real daemon", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local out, code = sh.run({ sh.build .. "/ctest/conntrackd", P:sock("a"), "20" }, { stderr = true })
      assert.equal("ok 1 - commit: an empty reply then EOF is success\n"
        .. "ok 2 - stats: the whole text, the internal cache's count first\n"
        .. "ok 3 - internal dump answered\n"
        .. "ok 4 - internal dump: one line per entry\n"
        .. "ok 5 - no descriptor leaked\n"
        .. "1..5\n", out)
      assert.equal(0, code)
      -- and through the Lua binding: the raw text and the seconds
      local h = require("netops.core").conntrackd.open(P:sock("a"), 10, 1 << 20)
      local text, secs = h:request(ctd.codes.ALL_COMMIT)
      assert.equal("", text)
      assert.is_number(secs)
      text = assert(h:request(ctd.codes.STATS))
      assert.matches("^cache internal:\ncurrent active connections:%s+20\n", text)
    end)

    it("dumps parse into entries and commit puts the peer's sessions in the kernel table", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local a = ctd.open { socket = P:sock("a"), timeout = 10 }
      local b = ctd.open { socket = P:sock("b"), timeout = 10 }
      local int = assert(a:dump_internal())
      assert.equal(20, #int)
      assert.equal(0, int.bad.n)
      local ext = assert(b:dump_external())
      assert.equal(20, #ext)
      assert.equal(0, ext.bad.n)
      for _, e in ipairs(ext) do
        assert.equal("ipv4", e.family)
        assert.equal("tcp", e.proto)
        assert.equal("ESTABLISHED", e.state)
        assert.equal("198.51.100.10", e.dst)
        assert.equal(80, e.dport)
        assert.equal("198.51.100.10", e.reply.src)
        assert.equal(e.sport, e.reply.dport)
        assert.is_true(e.status.ASSURED)
      end
      assert.same(ALL, sports(ext))
      assert.same(ALL, sports(int))

      -- b's kernel table is empty; commit puts the peer's sessions there
      assert.equal(0, kernel_count("b"))
      local ok, secs = b:commit()
      assert.is_true(ok)
      assert.is_number(secs)
      assert.equal(20, kernel_count("b"))
    end)

    it("flush('external') empties the external cache; request_resync has the peer send it again", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local b = ctd.open { socket = P:sock("b"), timeout = 10 }
      assert.equal(20, count(b, "external"))
      assert.is_true((b:flush("external")))
      assert.equal(0, count(b, "external"))
      lab.sleep(1)   -- nothing refills it by itself
      assert.equal(0, count(b, "external"))
      assert.is_true((b:request_resync()))
      assert.equal(20, eventually(function() local n = count(b, "external") return n == 20 and n end) or 0)
      assert.same(ALL, sports(assert(b:dump_external())))
      assert.matches("resync requested by other node", sh.read(P.dir .. "/a/conntrackd.log"))
    end)

    it("bulk_send refills the peer's external cache", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local a = ctd.open { socket = P:sock("a"), timeout = 10 }
      local b = ctd.open { socket = P:sock("b"), timeout = 10 }
      assert.is_true((b:flush("external")))
      assert.equal(0, count(b, "external"))
      lab.sleep(1)
      assert.equal(0, count(b, "external"))
      assert.is_true((a:bulk_send()))
      assert.equal(20, eventually(function() local n = count(b, "external") return n == 20 and n end) or 0)
      assert.same(ALL, sports(assert(b:dump_external())))
    end)

    it("flush('internal') empties the internal cache; resync reads it back from the kernel table", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local a = ctd.open { socket = P:sock("a"), timeout = 10 }
      assert.is_true((a:flush("internal")))
      assert.equal(0, count(a, "internal"))
      assert.equal(20, kernel_count("a"))   -- the kernel table is untouched
      lab.sleep(1)
      assert.equal(0, count(a, "internal"))
      assert.is_true((a:resync()))
      assert.equal(20, eventually(function() local n = count(a, "internal") return n == 20 and n end) or 0)
      assert.same(ALL, sports(assert(a:dump_internal())))
      assert.equal(1, assert(a:stats("runtime")).netlink_stats.resync_with_kernel_table)
    end)

    it("flush() empties both caches and leaves the kernel table alone", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local b = ctd.open { socket = P:sock("b"), timeout = 10 }
      assert.is_true((b:commit()))
      -- the committed entries reach b's internal cache through kernel events
      assert.equal(20, eventually(function() local n = count(b, "internal") return n == 20 and n end) or 0)
      assert.equal(20, count(b, "external"))
      assert.is_true((b:flush()))
      assert.equal(0, count(b, "internal"))
      assert.equal(0, count(b, "external"))
      assert.equal(20, kernel_count("b"))
    end)

    it("reset_timers purges the synced kernel entries after PurgeTimeout", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local a = ctd.open { socket = P:sock("a"), timeout = 10 }
      assert.equal(20, kernel_count("a"))
      assert.is_true((a:reset_timers()))
      -- the lab's PurgeTimeout is 5 s: wait up to 15 for the purge
      assert.equal(0, eventually(function() return kernel_count("a") == 0 and 0 end, 75) or kernel_count("a"))
      assert.equal(0, count(a, "internal"))
      local log = sh.read(P.dir .. "/a/conntrackd.log")
      assert.matches("flushing conntrack table in 5 secs", log)
      assert.matches("flushing kernel conntrack table %(scheduled%)", log)
    end)

    it("a stopped daemon is reported as such", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      local b = ctd.open { socket = P:sock("b"), timeout = 2 }
      assert.is_table((b:stats()))
      P:stop_ctd("b")
      -- conntrackd removes its socket when it exits on SIGTERM; a's daemon
      -- (and those of other tests on this host) still run: the message names
      -- them as /proc lists them, read here before and after the request
      -- (again when one started or stopped in between)
      local ok, msg, cls, expect
      for _ = 1, 5 do
        local before = conntrackd_pids()
        ok, msg, cls = b:stats()
        if table.concat(before, " ") == table.concat(conntrackd_pids(), " ") then
          expect = hint(before)
          break
        end
      end
      assert.is_nil(ok)
      assert.equal("nosocket", cls)
      assert.is_string(expect, "conntrackd processes kept changing")
      assert.equal("conntrackd: " .. P:sock("b") .. ": no such socket (" .. expect .. ")", msg)
      -- kill (-k) asks the daemon to exit: afterwards its socket is gone
      local a = ctd.open { socket = P:sock("a"), timeout = 5 }
      assert.is_true((a:kill()))
      local gone
      for _ = 1, 50 do
        gone = not a:stats()
        if gone then break end
        lab.sleep(0.1)
      end
      assert.is_true(gone)
    end)

    it("a daemon killed before it read the commit is an io failure, not success", function()
      if sh.need_root("conntrackd in network namespaces") then return end
      setup()
      -- the lab's pid is timeout(1); conntrackd is its child
      local f = assert(io.open("/proc/" .. P.pids["b.conntrackd"] .. "/task/" .. P.pids["b.conntrackd"] .. "/children"))
      local pid = assert(tonumber(f:read("a"):match("%d+"))); f:close()
      sh.run({ "kill", "-STOP", tostring(pid) })
      -- the request waits in the stopped daemon's backlog; then it dies
      sh.run("(sleep 0.5; kill -KILL " .. pid .. ") >/dev/null 2>&1 &")
      local ok, msg, cls = ctd.open { socket = P:sock("b"), timeout = 10 }:commit()
      assert.is_nil(ok, "commit reported success from a daemon that never read it")
      assert.equal("io", cls)
      assert.matches("reset before request 46 was read", msg)
    end)

    it("a non-root caller gets permission denied", function()
      if sh.need_root("to drop to nobody") then return end
      setup()
      local code = "package.path='lua/?.lua;'..package.path package.cpath='" .. sh.build .. "/?.so;'..package.cpath "
        .. "local c=require'netops.conntrackd' local ok,msg,cls=c.open{socket=os.getenv'SOCK'}:stats() print(cls, msg)"
      local out = sh.run({ "env", "SOCK=" .. P:sock("a"), "setpriv", "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups", "lua5.4", "-e", code }, { stderr = true })
      assert.matches("^denied", out)
      assert.matches("permission denied", out)
    end)
  end)
end)

describe("netops.conntrackd parsers", function()
  it("parses conntrack -L style lines with both tuples", function()
    local e = assert(ctd.parse_entry("tcp      6 431999 ESTABLISHED src=192.0.2.10 dst=198.51.100.10 "
      .. "sport=51424 dport=5001 src=198.51.100.10 dst=198.51.100.1 sport=5001 dport=51424 [ASSURED] mark=0 use=1"))
    assert.same({ src = "198.51.100.10", dst = "198.51.100.1", sport = 5001, dport = 51424 }, e.reply)
    assert.equal(431999, e.timeout)
    assert.equal(51424, e.sport)
    assert.is_true(e.status.SEEN_REPLY)
    assert.is_nil(e.reply_inferred)
    local u = assert(ctd.parse_entry("udp      17 29 src=2001:db8::1 dst=2001:db8::2 sport=1 dport=2 [UNREPLIED] "
      .. "src=2001:db8::2 dst=2001:db8::1 sport=2 dport=1 mark=0 use=1"))
    assert.equal("ipv6", u.family)
    assert.is_true(u.status.UNREPLIED)
    assert.is_nil(u.status.SEEN_REPLY)
    local i = assert(ctd.parse_entry("icmp     1 ESTABLISHED? src=192.0.2.1 dst=192.0.2.2 type=8 code=0 id=7 [ASSURED]"))
    assert.same({ type = 8, code = 0, id = 7 }, i.icmp)
    local i2 = assert(ctd.parse_entry("icmp     1 29 src=192.0.2.1 dst=192.0.2.2 type=8 code=0 id=7 "
      .. "src=192.0.2.2 dst=192.0.2.1 type=0 code=0 id=7 mark=0 use=1"))
    assert.same({ type = 8, code = 0, id = 7 }, i2.icmp)
    assert.equal("192.0.2.2", i2.reply.src)
    assert.equal(29, i2.timeout)
    assert.is_nil(i2.id)
    assert.is_nil(ctd.parse_entry("conntrack v1.4.7 (conntrack-tools): 6 flow entries have been shown."))
  end)

  it("a field that would overwrite the entry's own is a bad line, not an exception", function()
    local e, why = ctd.parse_entry("tcp 6 src=192.0.2.1 dst=192.0.2.2 sport=1 dport=2 status=1 [ASSURED]")
    assert.is_nil(e)
    assert.matches("overwrite", why)
    assert.is_nil(ctd.parse_entry("tcp 6 src=192.0.2.1 dst=192.0.2.2 sport=65536 dport=2"))
    assert.is_nil(ctd.parse_entry("tcp 6 99999999999999999999 src=192.0.2.1 dst=192.0.2.2"))
    assert.is_nil(ctd.parse_entry("tcp 6 src=192.0.2.1 dst=2001:db8::2"))
    assert.is_nil(ctd.parse_entry("tcp 6 src=192.0.2.1\0 dst=192.0.2.2"))
    local st = ctd.parse_stats("x:\na\0b: 1\nc: 99999999999999999999\nlabel: 5\nnothing here\n")
    assert.equal(3, st.bad.n)
    assert.same({ 2, 3, 5 }, { st.bad[1].line, st.bad[2].line, st.bad[3].line })
    assert.equal(5, st.x.label)
  end)

  it("parsers take linear time on hostile lines", function()
    -- each of these took the Lua-pattern parsers seconds at 8 KB (quadratic):
    -- at 256 KB they would take many minutes; linear parsers take milliseconds
    local n = 256 * 1024
    local lines = { string.rep("a", n), string.rep("a ", n // 2), string.rep("a:", n // 2),
                    string.rep("(", n), "tcp 6 " .. string.rep("a", n), "tcp 6 " .. string.rep("a=", n // 2),
                    string.rep("1 a", n // 3), "a" .. string.rep(" ", n) .. ":" }
    local t0 = os.clock()
    for _, line in ipairs(lines) do
      local st = ctd.parse_stats(line)
      assert.is_table(st)
      assert.is_table(ctd.parse_dump(line))
      ctd.parse_entry(line)
    end
    local cpu = os.clock() - t0
    assert.is_true(cpu < 20, "parsing took " .. cpu .. " s of CPU")   -- generous sanity only
  end)

  it("keeps -s cache's two caches apart and reads its N/M pairs", function()
    -- conntrackd 1.4.7 `-s cache`, verbatim (tabs and all)
    local text = "cache:internal\tactive objects:\t\t          20\n"
      .. "\tactive/total entries:\t\t          20/          20\n"
      .. "\tcreation OK/failed:\t\t          20/           0\n"
      .. "\t\tno memory available:\t           0\n"
      .. "\t\tno space left in cache:\t           0\n"
      .. "\tupdate OK/failed:\t\t           0/           0\n"
      .. "\t\tentry not found:\t           0\n"
      .. "\tdeletion created/failed:\t           0/           0\n"
      .. "\t\tentry not found:\t           0\n\n"
      .. "cache:external\tactive objects:\t\t           3\n"
      .. "\tactive/total entries:\t\t           3/           7\n"
      .. "\tcreation OK/failed:\t\t           7/           1\n"
      .. "\t\tno memory available:\t           0\n"
      .. "\t\tno space left in cache:\t           0\n"
      .. "\tupdate OK/failed:\t\t           2/           0\n"
      .. "\t\tentry not found:\t           0\n"
      .. "\tdeletion created/failed:\t           4/           0\n"
      .. "\t\tentry not found:\t           0\n\n"
    local st = ctd.parse_stats(text)
    assert.equal(0, st.bad.n)
    assert.is_nil(st.general)
    assert.same({ active_objects = 20, active_entries = 20, total_entries = 20, creation_ok = 20,
                  creation_failed = 0, no_memory_available = 0, no_space_left_in_cache = 0,
                  update_ok = 0, update_failed = 0, entry_not_found = 0, deletion_created = 0,
                  deletion_failed = 0 }, st.cache_internal)
    assert.same({ active_objects = 3, active_entries = 3, total_entries = 7, creation_ok = 7,
                  creation_failed = 1, no_memory_available = 0, no_space_left_in_cache = 0,
                  update_ok = 2, update_failed = 0, entry_not_found = 0, deletion_created = 4,
                  deletion_failed = 0 }, st.cache_external)
    -- a second number needs a label with a slash
    assert.equal(1, ctd.parse_stats("x:\nactive entries: 3/7\n").bad.n)
  end)

  it("parses statistics sections and failed counters", function()
    local st = ctd.parse_stats("cache internal:\ncurrent active connections:\t 5\n"
      .. "connections created:\t\t 5\tfailed:\t 2\n\nUDP traffic (active device=sync0):\n"
      .. "                 396 Bytes sent                   16 Bytes recv\n")
    assert.equal(5, st.cache_internal.current_active_connections)
    assert.equal(2, st.cache_internal.connections_created_failed)
    assert.equal(396, st.udp_traffic.bytes_sent)
    assert.equal(16, st.udp_traffic.bytes_recv)
    assert.equal("active device=sync0", st.udp_traffic.info)
  end)
end)
