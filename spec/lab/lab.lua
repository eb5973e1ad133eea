--- The HA lab: the seed's "Testing" section, automated.
-- Namespaces client, fw1, fw2, server and a switch namespace holding the LAN
-- and WAN bridges (so nothing is added to the root namespace); a sync link
-- fw1<->fw2; real keepalived (VRRP, unicast_peer, one VIP per side, IPv4 and
-- IPv6) and conntrackd (FTFW over UDP on the sync link, external cache on);
-- nftables with drop policies and SNAT to the WAN VIPs.  Every daemon has its
-- own config, pid, lock, socket and log in the lab's temp dir and is stopped
-- by pid; lab:teardown() removes everything (call it in a finally).
local sh = require "helpers.sh"

local M = {}
local Lab = {}
Lab.__index = Lab

local ADDR = {
  client = { v4 = "192.0.2.10", v6 = "2001:db8:1::10" },
  server = { v4 = "198.51.100.10", v6 = "2001:db8:2::10" },
  fw1 = { lan4 = "192.0.2.2", lan6 = "2001:db8:1::2", wan4 = "198.51.100.2",
          wan6 = "2001:db8:2::2", sync = "203.0.113.1" },
  fw2 = { lan4 = "192.0.2.3", lan6 = "2001:db8:1::3", wan4 = "198.51.100.3",
          wan6 = "2001:db8:2::3", sync = "203.0.113.2" },
  vip = { lan4 = "192.0.2.1", lan6 = "2001:db8:1::1", wan4 = "198.51.100.1",
          wan6 = "2001:db8:2::1" },
}
M.ADDR = ADDR
local PORT = 5001

-- CLOCK_MONOTONIC, the clock stream.py stamps arrivals and events with.
local now = require("netops.core").monotime
M.now = now

local function sleep(s) sh.run({ "sleep", string.format("%.2f", s) }) end
M.sleep = sleep

local function must(out, code, what)
  if code ~= 0 then error("lab: " .. what .. " failed (" .. code .. "): " .. out, 2) end
  return out
end

function Lab:ns(name, argv, opts)
  return sh.nsrun(self[name], argv, opts)
end

function Lab:nsmust(name, argv)
  local out, code = sh.nsrun(self[name], argv, { stderr = true })
  return must(out, code, name .. ": " .. table.concat(argv, " "))
end

--- opts: root (checkout), policy (path), tag, say (function(msg) for a timeline),
-- notify (function(lab, fw) -> the command keepalived's notify_master,
-- notify_backup and notify_fault run, with primary|backup|fault appended;
-- default netops-failover)
function M.new(opts)
  local self = setmetatable({}, Lab)
  self.root = opts.root or (sh.run("pwd"):gsub("%s+$", ""))
  self.policy = opts.policy or (self.root .. "/examples/primary-backup.lua")
  self.say = opts.say or function() end
  self.notify = opts.notify
  self.tag = opts.tag or "ha"
  self.dir = sh.tmpdir()
  sh.run({ "chmod", "0700", self.dir })
  self.pids = {}
  self.t0 = now()
  return self
end

--- A conntrackd.conf for FTFW over UDP: files under dir, sync from local_ip
-- to peer_ip on iface; ignore = list of addresses for Address Ignore.
function M.conntrackd_conf(dir, local_ip, peer_ip, iface, ignore)
  local lines = {}
  for _, a in ipairs(ignore or {}) do
    lines[#lines + 1] = (a:find(":", 1, true) and "IPv6_address " or "IPv4_address ") .. a
  end
  return ([[
Sync {
    Mode FTFW {
        DisableExternalCache Off
        CommitTimeout 1800
        PurgeTimeout 5
    }
    UDP {
        IPv4_address %s
        IPv4_Destination_Address %s
        Port 3780
        Interface %s
        SndSocketBuffer 1249280
        RcvSocketBuffer 1249280
        Checksum on
    }
}
General {
    HashSize 32768
    HashLimit 524288
    LogFile %s/conntrackd.log
    Syslog off
    LockFile %s/conntrackd.lock
    UNIX {
        Path %s/conntrackd.ctl
        Backlog 20
    }
    NetlinkBufferSize 2097152
    NetlinkBufferSizeMaxGrowth 8388608
    Filter From Userspace {
        Protocol Accept {
            TCP
            UDP
            ICMP
        }
        Address Ignore {
            IPv4_address 127.0.0.1
            IPv6_address ::1
            %s
        }
    }
}
]]):format(local_ip, peer_ip, iface, dir, dir, dir, table.concat(lines, "\n            "))
end

local function conntrackd_conf(self, fw, peer)
  local a, ignore = ADDR, {}
  for _, k in ipairs { "lan4", "wan4", "sync", "lan6", "wan6" } do
    ignore[#ignore + 1] = a.fw1[k]; ignore[#ignore + 1] = a.fw2[k]
  end
  for _, k in ipairs { "lan4", "wan4", "lan6", "wan6" } do ignore[#ignore + 1] = a.vip[k] end
  return M.conntrackd_conf(self.dir .. "/" .. fw, a[fw].sync, a[peer].sync, "sync0", ignore)
end

function Lab:failover_argv(fw)
  local d = self.dir .. "/" .. fw
  return { "/usr/bin/env", "NETOPS_BUILD=" .. (os.getenv("NETOPS_BUILD") or "build"),
           "/usr/bin/lua5.4", self.root .. "/examples/netops-failover.lua",
           "--policy", self.policy, "--socket", d .. "/conntrackd.ctl",
           "--conntrackd-config", d .. "/conntrackd.conf",
           "--lock", d .. "/failover.lock", "--log", d .. "/failover.log",
           "--state-dir", d, "--metrics-dir", d }
end

local function keepalived_conf(self, fw, peer, prio)
  local a = ADDR
  local cmd = self.notify and self.notify(self, fw) or table.concat(self:failover_argv(fw), " ")
  -- fw1 uses the notify_master/backup/fault shape, fw2 keepalived's generic
  -- notify (GROUP G1 MASTER 0): the lab exercises both call shapes; a lab
  -- given opts.notify uses the first shape on both
  local notify
  if fw == "fw1" or self.notify then
    notify = string.format('    notify_master "%s primary"\n    notify_backup "%s backup"\n'
                           .. '    notify_fault "%s fault"', cmd, cmd, cmd)
  else
    notify = string.format('    notify "%s"', cmd)
  end
  return ([[
global_defs {
    router_id %s
    script_user root
    enable_script_security
    vrrp_garp_master_repeat 3
}
vrrp_sync_group G1 {
    group {
        WAN
        LAN
    }
%s
}
vrrp_instance WAN {
    interface wan0
    state BACKUP
    virtual_router_id 61
    priority %d
    advert_int 1
    nopreempt
    unicast_src_ip %s
    unicast_peer {
        %s
    }
    virtual_ipaddress {
        %s/24 dev wan0
    }
    virtual_ipaddress_excluded {
        %s/64 dev wan0
    }
    garp_master_delay 1
}
vrrp_instance LAN {
    interface lan0
    state BACKUP
    virtual_router_id 62
    priority %d
    advert_int 1
    nopreempt
    unicast_src_ip %s
    unicast_peer {
        %s
    }
    virtual_ipaddress {
        %s/24 dev lan0
    }
    virtual_ipaddress_excluded {
        %s/64 dev lan0
    }
    garp_master_delay 1
}
]]):format(fw, notify, prio, a[fw].wan4, a[peer].wan4, a.vip.wan4, a.vip.wan6,
             prio, a[fw].lan4, a[peer].lan4, a.vip.lan4, a.vip.lan6)
end

local RULESET = [[
flush ruleset
table inet filter {
    chain input {
        type filter hook input priority filter; policy drop;
        iif "lo" accept
        ct state established,related accept
        iifname "sync0" accept
        ip protocol vrrp accept
        ip protocol icmp accept
        meta l4proto ipv6-icmp accept
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan0" oifname "wan0" tcp flags & (syn | ack) == syn ct state new accept
        iifname "lan0" oifname "wan0" meta l4proto { icmp, ipv6-icmp } accept
    }
    chain output {
        type filter hook output priority filter; policy accept;
    }
}
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" ip saddr 192.0.2.0/24 snat to %s
    }
}
table ip6 nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" ip6 saddr 2001:db8:1::/64 snat to %s
    }
}
]]
M.RULESET = RULESET:format(ADDR.vip.wan4, ADDR.vip.wan6)

function Lab:setup()
  local a = ADDR
  for _, n in ipairs { "sw", "client", "fw1", "fw2", "server" } do
    self[n] = sh.netns(self.tag .. n)
  end
  for _, n in ipairs { "client", "fw1", "fw2", "server" } do
    self:nsmust(n, { "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
                     "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.default.dad_transmits=0" })
  end
  for _, fw in ipairs { "fw1", "fw2" } do
    self:nsmust(fw, { "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                      "net.ipv6.conf.all.forwarding=1" })
  end
  self:nsmust("sw", { "ip", "link", "add", "br-lan", "type", "bridge" })
  self:nsmust("sw", { "ip", "link", "add", "br-wan", "type", "bridge" })
  local function port(br, swname, ns, ifname)
    self:nsmust("sw", { "ip", "link", "add", swname, "type", "veth", "peer", "name", ifname,
                        "netns", self[ns] })
    self:nsmust("sw", { "ip", "link", "set", swname, "master", br, "up" })
  end
  port("br-lan", "c", "client", "eth0")
  port("br-lan", "f1l", "fw1", "lan0")
  port("br-lan", "f2l", "fw2", "lan0")
  port("br-wan", "f1w", "fw1", "wan0")
  port("br-wan", "f2w", "fw2", "wan0")
  port("br-wan", "s", "server", "eth0")
  self:nsmust("sw", { "ip", "link", "set", "br-lan", "up" })
  self:nsmust("sw", { "ip", "link", "set", "br-wan", "up" })
  self:nsmust("fw1", { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync0",
                       "netns", self.fw2 })
  local function addr(ns, dev, ip, len)
    self:nsmust(ns, { "ip", "addr", "add", ip .. "/" .. len, "dev", dev, ip:find(":") and "nodad" or nil })
  end
  addr("client", "eth0", a.client.v4, 24); addr("client", "eth0", a.client.v6, 64)
  addr("server", "eth0", a.server.v4, 24); addr("server", "eth0", a.server.v6, 64)
  for _, fw in ipairs { "fw1", "fw2" } do
    addr(fw, "lan0", a[fw].lan4, 24); addr(fw, "lan0", a[fw].lan6, 64)
    addr(fw, "wan0", a[fw].wan4, 24); addr(fw, "wan0", a[fw].wan6, 64)
    addr(fw, "sync0", a[fw].sync, 30)
    for _, dev in ipairs { "lan0", "wan0", "sync0" } do
      self:nsmust(fw, { "ip", "link", "set", dev, "up" })
    end
  end
  for _, n in ipairs { "client", "server" } do
    self:nsmust(n, { "ip", "link", "set", "eth0", "up" })
  end
  self:nsmust("client", { "ip", "route", "add", "default", "via", a.vip.lan4 })
  self:nsmust("client", { "ip", "-6", "route", "add", "default", "via", a.vip.lan6 })
  for _, fw in ipairs { "fw1", "fw2" } do
    local d = self.dir .. "/" .. fw
    must(sh.run({ "mkdir", "-m", "0700", d }), 0, "mkdir")
    sh.write(d .. "/ruleset.nft", M.RULESET)
    self:nsmust(fw, { "nft", "-f", d .. "/ruleset.nft" })
  end
  self.say("namespaces up: client, fw1, fw2, server; LAN and WAN bridges; sync link")
  -- address events in each firewall, time-stamped: when a VIP appeared
  for _, fw in ipairs { "fw1", "fw2" } do
    self.pids[fw .. ".watch"] = self:spawn(fw, { "/usr/bin/python3", self.root .. "/spec/lab/stream.py", "watch",
                                                 self.dir .. "/" .. fw .. "/addr.watch", "ip", "-o", "monitor",
                                                 "address" }, self.dir .. "/" .. fw .. "/watch.out")
  end
  self:start_conntrackd("fw1"); self:start_conntrackd("fw2")
  self:start_keepalived("fw1"); self:wait_vip("fw1", 15)
  self:start_keepalived("fw2")
  self:start_server()
end

-- Start argv in namespace `name` in the background, output to logfile; returns
-- pid.  Every process runs under timeout(1): even if the test runner is killed,
-- nothing the lab started outlives it by more than 10 minutes.  (timeout
-- forwards the TERM that stop_pid sends.)
function Lab:spawn(name, argv, logfile)
  local cmd = sh.join { "ip", "netns", "exec", self[name], "timeout", "-k", "5", "600" } .. " " .. sh.join(argv)
    .. " >>" .. sh.quote(logfile) .. " 2>&1 </dev/null & echo $!"
  local out = sh.run(cmd)
  local pid = tonumber(out:match("%d+"))
  assert(pid, "lab: could not start " .. argv[1])
  return pid
end

local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local s = f:read("a"); f:close()
  return not s:match("^%d+ %b() [ZX]")
end
M.alive = alive

function Lab:stop_pid(pid, grace)
  if not pid or not alive(pid) then return end
  sh.run({ "kill", "-TERM", tostring(pid) })
  local t = now() + (grace or 5)
  while alive(pid) and now() < t do sleep(0.1) end
  if alive(pid) then sh.run({ "kill", "-KILL", tostring(pid) }) end
end

-- Start conntrackd in namespace `name` with the config already in dir (its
-- stale lock removed) and wait until its control socket exists.
function Lab:launch_conntrackd(name, d)
  os.remove(d .. "/conntrackd.lock")
  self.pids[name .. ".conntrackd"] = self:spawn(name, { "conntrackd", "-C", d .. "/conntrackd.conf" },
                                                d .. "/conntrackd.out")
  local t = now() + 10
  while now() < t do
    if select(2, sh.run({ "test", "-S", d .. "/conntrackd.ctl" })) == 0 then return end
    sleep(0.1)
  end
  error("lab: conntrackd in " .. name .. " did not create its socket: " ..
        (sh.read(d .. "/conntrackd.out") or "") .. (sh.read(d .. "/conntrackd.log") or ""))
end

function Lab:start_conntrackd(fw)
  local peer = fw == "fw1" and "fw2" or "fw1"
  local d = self.dir .. "/" .. fw
  sh.write(d .. "/conntrackd.conf", conntrackd_conf(self, fw, peer))
  self:launch_conntrackd(fw, d)
end

function Lab:start_keepalived(fw)
  local peer = fw == "fw1" and "fw2" or "fw1"
  local d = self.dir .. "/" .. fw
  sh.write(d .. "/keepalived.conf", keepalived_conf(self, fw, peer, fw == "fw1" and 100 or 50))
  os.remove(d .. "/keepalived.pid"); os.remove(d .. "/vrrp.pid")
  self.pids[fw .. ".keepalived"] = self:spawn(fw, self:keepalived_argv(fw), d .. "/keepalived.log")
end

function Lab:keepalived_argv(fw)
  local d = self.dir .. "/" .. fw
  return { "keepalived", "-n", "-l", "-D", "-P", "-f", d .. "/keepalived.conf", "-p", d .. "/keepalived.pid",
           "-r", d .. "/vrrp.pid" }
end

-- keepalived's own pid, from its pid file (nil when it is not running).
function Lab:keepalived_pid(fw)
  local pid = tonumber((sh.read(self.dir .. "/" .. fw .. "/keepalived.pid") or ""):match("%d+"))
  local comm = pid and sh.read("/proc/" .. pid .. "/comm")
  return comm and comm:match("^keepalived") and alive(pid) and pid or nil
end

--- An `ssh` for failover-tester against the lab (called as SSH -o
-- BatchMode=yes USER@HOST -- WORDS...): HOST is a firewall's LAN address; the
-- words run in its namespace through sh -c, as ssh's remote shell would,
-- with FW_DIR set to its directory.  FW_DIR/restart-keepalived is what
-- `systemctl restart keepalived` does: stop keepalived (by its pid file,
-- bounded wait), start it again in the background.  Returns the wrapper's
-- path.
function Lab:ssh_wrapper()
  local map = {}
  for _, fw in ipairs { "fw1", "fw2" } do
    local d = self.dir .. "/" .. fw
    local kv = sh.join { "timeout", "-k", "5", "600" } .. " " .. sh.join(self:keepalived_argv(fw))
    sh.write(d .. "/restart-keepalived", table.concat({
      "#!/bin/sh",
      "pid=$(cat " .. d .. "/keepalived.pid 2>/dev/null)",
      'if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then',
      '  i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      "fi",
      "rm -f " .. d .. "/keepalived.pid " .. d .. "/vrrp.pid",
      "setsid " .. kv .. " >>" .. d .. "/keepalived.log 2>&1 </dev/null &",
      "i=0; while [ ! -s " .. d .. "/keepalived.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done",
      "" }, "\n"))
    sh.run({ "chmod", "0700", d .. "/restart-keepalived" })
    map[#map + 1] = string.format("  %s|%s) ns=%s; d=%s ;;", ADDR[fw].lan4, ADDR[fw].lan6, self[fw], d)
  end
  local path = self.dir .. "/ssh"
  sh.write(path, table.concat({
    "#!/bin/sh",
    'while [ $# -gt 0 ] && [ "$1" != "--" ]; do dest=$1; shift; done',
    "shift",
    'case "${dest#*@}" in',
    table.concat(map, "\n"),
    '  *) echo "ssh: no lab firewall at ${dest#*@}" >&2; exit 255 ;;',
    "esac",
    'exec ip netns exec "$ns" env FW_DIR="$d" sh -c "$*"',
    "" }, "\n"))
  sh.run({ "chmod", "0700", path })
  return path
end

function Lab:stop_keepalived(fw)
  self:stop_pid(self.pids[fw .. ".keepalived"], 8)
  self.pids[fw .. ".keepalived"] = nil
end

--- Which firewall holds the LAN and WAN IPv4 VIPs (nil when none or split).
function Lab:holder()
  local h = {}
  for _, fw in ipairs { "fw1", "fw2" } do
    local out = self:ns(fw, { "ip", "-o", "addr", "show" })
    local lan = out:find(ADDR.vip.lan4 .. "/", 1, true)
    local wan = out:find(ADDR.vip.wan4 .. "/", 1, true)
    local lan6 = out:find(ADDR.vip.lan6 .. "/", 1, true)
    local wan6 = out:find(ADDR.vip.wan6 .. "/", 1, true)
    if lan and wan and lan6 and wan6 then h[#h + 1] = fw end
  end
  return #h == 1 and h[1] or nil
end

--- When every VIP (IPv4 and IPv6, LAN and WAN) had been added on fw after
-- time `since` (ip monitor's events, CLOCK_MONOTONIC), or nil.
function Lab:vip_added(fw, since)
  local first = {}
  for line in (sh.read(self.dir .. "/" .. fw .. "/addr.watch") or ""):gmatch("[^\n]+") do
    local t, ev = line:match("^(%S+) (.*)$")
    t = tonumber(t)
    if t and t >= since and not ev:match("^Deleted") then
      for _, k in ipairs { "lan4", "wan4", "lan6", "wan6" } do
        if not first[k] and ev:find(" " .. ADDR.vip[k] .. "/", 1, true) then first[k] = t end
      end
    end
  end
  local last = 0
  for _, k in ipairs { "lan4", "wan4", "lan6", "wan6" } do
    if not first[k] then return nil end
    last = math.max(last, first[k])
  end
  return last
end

function Lab:wait_vip(fw, timeout)
  local t = now() + timeout
  while now() < t do
    if self:holder() == fw then return true end
    sleep(0.2)
  end
  return false
end

function Lab:start_server()
  self.pids.server = self:spawn("server", { "/usr/bin/python3", self.root .. "/spec/lab/stream.py",
                                            "server", tostring(PORT), self.dir .. "/server.log" },
                                self.dir .. "/server.out")
  sleep(0.5)
end

--- Start n streams per family (IPv4 and IPv6) of `total` bytes each, paced over
-- `seconds`; a stream stalled for `stall` seconds fails.
function Lab:start_streams(n, total, seconds, stall)
  self.streams = {}
  local i = 0
  for _, fam in ipairs { "v4", "v6" } do
    for _ = 1, n do
      i = i + 1
      local s = { id = i, family = fam == "v4" and "IPv4" or "IPv6", seed = 1000 + i, total = total,
                  progress = self.dir .. "/stream" .. i .. ".progress",
                  out = self.dir .. "/stream" .. i .. ".out" }
      s.pid = self:spawn("client", { "/usr/bin/python3", self.root .. "/spec/lab/stream.py", "client",
                                     ADDR.server[fam], tostring(PORT), tostring(s.seed), tostring(total),
                                     tostring(seconds), tostring(stall), s.progress }, s.out)
      self.streams[i] = s
    end
  end
end

--- Stream i's reads: a list of { t, bytes } (CLOCK_MONOTONIC seconds), as
-- far as the client has written them (it flushes every 0.5 s).
function Lab:arrivals(i)
  local r = {}
  for t, n in (sh.read(self.streams[i].progress .. ".arrivals") or ""):gmatch("(%S+) (%d+)\n") do
    r[#r + 1] = { tonumber(t), tonumber(n) }
  end
  return r
end

--- The longest time a stream received nothing around [from, to]: the
-- largest gap between two consecutive reads where the later read came after
-- `from` and the earlier one before `to`.  nil when nothing arrived after
-- `from` (the stall had not ended by `to`).
function M.longest_gap(arrivals, from, to)
  local best
  for k = 2, #arrivals do
    local a, b = arrivals[k - 1][1], arrivals[k][1]
    if b > from and a < to then best = math.max(best or 0, b - a) end
  end
  return best
end

function Lab:stream_bytes()
  local r = {}
  for i, s in ipairs(self.streams) do
    r[i] = tonumber((sh.read(s.progress) or ""):match("bytes=(%d+)")) or 0
  end
  return r
end

--- Wait until every stream ended (bounded); returns a list of results.
function Lab:wait_streams(timeout)
  local t = now() + timeout
  for _, s in ipairs(self.streams) do
    while alive(s.pid) and now() < t do sleep(0.25) end
    if alive(s.pid) then self:stop_pid(s.pid, 1) end
    local out = sh.read(s.out) or ""
    s.ok = out:match("OK bytes=(%d+) sha256=(%x+)") ~= nil
    s.bytes = tonumber(out:match("bytes=(%d+)")) or tonumber(out:match("at byte (%d+)")) or 0
    s.sha = out:match("sha256=(%x+)")
    s.result = (out:match("[^\n]*\n?$") or out):gsub("%s+$", "")
    if s.result == "" then s.result = "no result (killed)" end
    s.expect = sh.run({ "/usr/bin/python3", self.root .. "/spec/lab/stream.py", "expect",
                        tostring(s.seed), tostring(s.total) }):gsub("%s+$", "")
  end
  return self.streams
end

function Lab:failover_log(fw)
  return sh.read(self.dir .. "/" .. fw .. "/failover.log") or ""
end

function Lab:teardown(keep)
  for k, pid in pairs(self.pids) do self:stop_pid(pid, 3); self.pids[k] = nil end
  -- keepalived started again by restart-keepalived (failover-tester)
  for _, fw in ipairs { "fw1", "fw2" } do
    if self.dir and self[fw] then self:stop_pid(self:keepalived_pid(fw), 3) end
  end
  for _, s in ipairs(self.streams or {}) do self:stop_pid(s.pid, 1) end
  sh.netns_cleanup()
  if not keep and self.dir then sh.rmtree(self.dir) end
end

function Lab:elapsed() return now() - self.t0 end

--- A conntrackd FTFW pair without keepalived: namespaces a and b joined by a
-- sync link (203.0.113.1 <-> .2), one conntrackd in each.  Returns a Lab
-- (fields a, b: namespace names; lab:sock("a")) ; lab:teardown() removes it.
function M.pair(opts)
  local self = M.new(opts or {})
  self.a = sh.netns((self.tag or "ct") .. "a")
  self.b = sh.netns((self.tag or "ct") .. "b")
  self:nsmust("a", { "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync0",
                     "netns", self.b })
  for n, ip in pairs { a = "203.0.113.1", b = "203.0.113.2" } do
    self:nsmust(n, { "ip", "addr", "add", ip .. "/30", "dev", "sync0" })
    self:nsmust(n, { "ip", "link", "set", "sync0", "up" })
    local d = self.dir .. "/" .. n
    must(sh.run({ "mkdir", "-m", "0700", d }), 0, "mkdir")
  end
  self:start_ctd("a"); self:start_ctd("b")
  return self
end

function Lab:sock(n) return self.dir .. "/" .. n .. "/conntrackd.ctl" end

function Lab:start_ctd(n)
  local d = self.dir .. "/" .. n
  local mine, peer = "203.0.113.1", "203.0.113.2"
  if n == "b" then mine, peer = peer, mine end
  sh.write(d .. "/conntrackd.conf", M.conntrackd_conf(d, mine, peer, "sync0", { mine, peer }))
  self:launch_conntrackd(n, d)
end

function Lab:stop_ctd(n)
  self:stop_pid(self.pids[n .. ".conntrackd"], 5)
  self.pids[n .. ".conntrackd"] = nil
end

--- Load `count` synthetic ESTABLISHED TCP entries into namespace n's kernel
-- table (conntrack -R of a generated file): 192.0.2.x -> 198.51.100.x.
function Lab:load_entries(n, count, first_port)
  local path = self.dir .. "/entries-" .. n .. ".txt"
  local f = assert(io.open(path, "w"))
  first_port = first_port or 1024
  for i = 0, count - 1 do
    local sport = first_port + i % 60000
    local host = 10 + (i // 60000)
    f:write(string.format("-I -s 192.0.2.%d -d 198.51.100.10 -p tcp --sport %d --dport 80 "
      .. "--reply-src 198.51.100.10 --reply-dst 192.0.2.%d --reply-port-src 80 --reply-port-dst %d "
      .. "--state ESTABLISHED -u SEEN_REPLY,ASSURED -t 600\n", host, sport, host, sport))
  end
  f:close()
  return self:nsmust(n, { "conntrack", "-R", path })
end

return M
