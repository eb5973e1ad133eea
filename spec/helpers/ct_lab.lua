--- Conntrack test lab: client -- firewall -- server namespaces, the firewall
-- forwarding with an nftables `ct state` ruleset so the kernel tracks what
-- crosses it.  Addresses only from the documentation ranges.
-- Every namespace is made with sh.netns and removed by sh.netns_cleanup().
local sh = require "helpers.sh"

local M = {}

local function must(argv)
  local out, code = sh.run(argv, { stderr = true })
  assert(code == 0, sh.join(argv) .. " failed: " .. out)
  return out
end

M.client4, M.server4 = "192.0.2.1", "198.51.100.1"
M.client6, M.server6 = "2001:db8:1::1", "2001:db8:2::1"

--- Build the lab; returns { c =, fw =, s = } namespace names.  With nat,
-- the firewall masquerades what leaves towards the server (IPv4 and IPv6).
function M.build(tag, nat)
  local lab = { c = sh.netns(tag .. "c"), fw = sh.netns(tag .. "f"), s = sh.netns(tag .. "s") }
  must { "ip", "-n", lab.c, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", lab.fw }
  must { "ip", "-n", lab.s, "link", "add", "v0", "type", "veth", "peer", "name", "v2", "netns", lab.fw }
  local function addr(ns, dev, a) must { "ip", "-n", ns, "addr", "add", a, "dev", dev, "nodad" } end
  addr(lab.c, "v0", "192.0.2.1/24"); addr(lab.c, "v0", "2001:db8:1::1/64")
  addr(lab.fw, "v1", "192.0.2.254/24"); addr(lab.fw, "v1", "2001:db8:1::fe/64")
  addr(lab.fw, "v2", "198.51.100.254/24"); addr(lab.fw, "v2", "2001:db8:2::fe/64")
  addr(lab.s, "v0", "198.51.100.1/24"); addr(lab.s, "v0", "2001:db8:2::1/64")
  for _, x in ipairs { { lab.c, "v0" }, { lab.fw, "v1" }, { lab.fw, "v2" }, { lab.s, "v0" } } do
    must { "ip", "-n", x[1], "link", "set", x[2], "up" }
  end
  must { "ip", "-n", lab.c, "route", "add", "default", "via", "192.0.2.254" }
  must { "ip", "-n", lab.c, "-6", "route", "add", "default", "via", "2001:db8:1::fe" }
  must { "ip", "-n", lab.s, "route", "add", "default", "via", "198.51.100.254" }
  must { "ip", "-n", lab.s, "-6", "route", "add", "default", "via", "2001:db8:2::fe" }
  must { "ip", "netns", "exec", lab.fw, "sysctl", "-qw", "net.ipv4.ip_forward=1" }
  must { "ip", "netns", "exec", lab.fw, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1" }
  local rules = [[
table inet netops_test {
  chain forward_ct {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    ct state new accept
  }
}
]]
  if nat then
    rules = rules .. [[
table inet netops_test_nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "v2" masquerade
  }
}
]]
  end
  local f = sh.tmpfile()
  sh.write(f, rules)
  must { "ip", "netns", "exec", lab.fw, "nft", "-f", f }
  os.remove(f)
  return lab
end

--- Start traffic that leaves entries in the firewall's table: a TCP
-- connection held open (IPv4 and IPv6), one-way UDP, and ICMP echo; all
-- bounded by `timeout`.  Returns once the entries exist (or after ~5 s).
function M.traffic(lab)
  local function bg(ns, cmd)
    os.execute("ip netns exec " .. ns .. " " .. cmd .. " >/dev/null 2>&1 &")
  end
  bg(lab.s, "timeout 40 socat -u TCP4-LISTEN:8080,reuseaddr OPEN:/dev/null")
  bg(lab.s, "timeout 40 socat -u TCP6-LISTEN:8081,reuseaddr OPEN:/dev/null")
  bg(lab.s, "timeout 40 socat -u UDP4-RECV:5353 OPEN:/dev/null")
  for _ = 1, 100 do   -- listeners up (bounded: 10 s)
    local ls = sh.run("ip netns exec " .. lab.s .. " ss -ltn 2>/dev/null")
    if ls:find(":8080", 1, true) and ls:find(":8081", 1, true) then break end
    sh.run("sleep 0.1")
  end
  bg(lab.c, "timeout 30 socat -u SYSTEM:'sleep 25' TCP4:" .. M.server4 .. ":8080")
  bg(lab.c, "timeout 30 socat -u SYSTEM:'sleep 25' TCP6:[" .. M.server6 .. "]:8081")
  sh.run("echo x | ip netns exec " .. lab.c .. " timeout 5 socat -u - UDP6-SENDTO:[" .. M.server6 .. "]:5354")
  sh.run("echo x | ip netns exec " .. lab.c .. " timeout 5 socat -u - UDP4-SENDTO:" .. M.server4 .. ":5353")
  sh.run("ip netns exec " .. lab.c .. " ping -q -c 1 -W 2 " .. M.server4)
  sh.run("ip netns exec " .. lab.c .. " ping -q -6 -c 1 -W 2 " .. M.server6)
  for _ = 1, 100 do   -- both TCP connections tracked (bounded: 10 s)
    local out = sh.run("ip netns exec " .. lab.fw .. " conntrack -L -f ipv4 -p tcp 2>/dev/null")
      .. sh.run("ip netns exec " .. lab.fw .. " conntrack -L -f ipv6 -p tcp 2>/dev/null")
    local n = 0
    for _ in out:gmatch("ESTABLISHED") do n = n + 1 end
    if n >= 2 then break end
    sh.run("sleep 0.1")
  end
end

--- stdout of argv run in namespace ns, its stderr dropped (conntrack
-- prints "N flow entries have been shown" there).
function M.quiet(ns, argv)
  return sh.run(sh.join { "ip", "netns", "exec", ns, table.unpack(argv) } .. " 2>/dev/null")
end

--- The table of namespace ns as `conntrack -L` prints it (both families),
-- timeouts (they count down) left out, in a stable order; marks too when
-- nomark.
function M.table_text(ns, nomark)
  local rows = {}
  for _, fam in ipairs { "ipv4", "ipv6" } do
    for l in M.quiet(ns, { "conntrack", "-L", "-f", fam }):gmatch("[^\n]+") do
      l = l:gsub("^(%S+%s+%d+%s+)%d+", "%1T")
      if nomark then l = l:gsub(" mark=%d+", "") end
      rows[#rows + 1] = l
    end
  end
  table.sort(rows)
  return table.concat(rows, "\n")
end

--- Entries printed by `conntrack -L -o save` in namespace ns, parsed.
function M.conntrack_save(ns, ct)
  local out = M.quiet(ns, { "conntrack", "-L", "-o", "save" })
  local out6 = M.quiet(ns, { "conntrack", "-L", "-f", "ipv6", "-o", "save" })
  local list, lines = {}, {}
  for line in (out .. "\n" .. out6):gmatch("[^\n]+") do
    if line:match("^%-") then
      local e = assert(ct.parse(line))
      list[#list + 1] = e
      lines[#lines + 1] = line
    end
  end
  return list, lines
end

--- Synthetic TCP entries: n distinct tuples, mark 1 on every fourth.
function M.synthetic(n, timeout)
  local out = {}
  for i = 0, n - 1 do
    local host = i % 250 + 1
    local port = 10000 + i // 250
    out[#out + 1] = {
      family = "ipv4", proto = "tcp", state = "ESTABLISHED",
      src = "192.0.2." .. host, dst = "198.51.100." .. (i % 7 + 1),
      sport = port, dport = 443, timeout = timeout or 3600,
      mark = (i % 4 == 0) and 1 or 0,
    }
  end
  return out
end

return M
