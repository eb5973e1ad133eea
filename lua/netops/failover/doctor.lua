--- netops.failover.doctor: `netops-failover doctor`, the checks of a
-- firewall pair's configuration: the ruleset (drop, never reject, during a
-- failover; no masquerade), keepalived's notify lines, conntrackd's
-- `Address Ignore` list against the local addresses and virtual IPs, and
-- whether conntrackd answers.
local inet = require "netops.inet"

local M = {}

local function readfile(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local s = f:read("a"); f:close(); return s
end

local function strip_comments(text)
  return (text:gsub("#[^\n]*", ""):gsub("!%s[^\n]*", ""))
end

--- Canonical text of an IPv4 or IPv6 address, its /prefix dropped (RFC 5952
-- through netops.inet); text that is no address, lowercased.
local function canon(addr)
  addr = addr:lower():gsub("/%d+$", "")
  return inet.normalize(addr) or addr
end

--- Local addresses of this namespace (IPv4 from /proc/net/fib_trie, IPv6
-- from /proc/net/if_inet6), canonical text -> true.
function M.local_addresses()
  local set = {}
  local trie = readfile("/proc/net/fib_trie") or ""
  local last
  for line in trie:gmatch("[^\n]+") do
    local a = line:match("|%-%-%s+(%d+%.%d+%.%d+%.%d+)")
    if a then last = a end
    if line:find("/32 host LOCAL", 1, true) and last then set[last] = true end
  end
  for line in (readfile("/proc/net/if_inet6") or ""):gmatch("[^\n]+") do
    local hex, scope = line:match("^(%x+)%s+%x+%s+%x+%s+(%x+)")
    if hex and scope == "00" then
      local g = {}
      for i = 1, 32, 4 do g[#g + 1] = hex:sub(i, i + 3) end
      set[canon(table.concat(g, ":"))] = true
    end
  end
  return set
end

--- Parse a keepalived.conf: VIPs (virtual_ipaddress and _excluded) and the
-- notify command lines.
function M.parse_keepalived(text)
  text = strip_comments(text)
  local vips, notify = {}, {}
  for block in text:gmatch("virtual_ipaddress[_%w]*%s*(%b{})") do
    for a in block:gmatch("[{%s]([%x:%.]+[%x%.:])/?%d*") do
      if inet.family(a) then vips[#vips + 1] = a end
    end
  end
  for kw, cmd in text:gmatch("(notify[_%w]*)%s+([^\n]+)") do
    notify[#notify + 1] = { kind = kw, command = cmd:gsub("^%s+", ""):gsub("%s+$", "") }
  end
  return { vips = vips, notify = notify,
           script_security = text:find("enable_script_security", 1, true) ~= nil }
end

--- Parse a conntrackd.conf: ignored addresses and the UNIX socket path.
function M.parse_conntrackd(text)
  text = strip_comments(text)
  local ignore = {}
  local block = text:match("Address%s+Ignore%s*(%b{})")
  if block then
    for a in block:gmatch("IPv[46]_address%s+([%x:%./]+)") do ignore[canon(a)] = a end
  end
  local unix = text:match("UNIX%s*(%b{})")
  local path = unix and unix:match("Path%s+(%S+)")
  return { ignore = ignore, has_ignore = block ~= nil, socket = path }
end

--- Check a ruleset (text of `nft list ruleset` or `iptables-save`).
-- Returns a list of findings { ok =, what =, fix = }.
function M.check_ruleset(text)
  local f = {}
  local function add(ok, what, fix) f[#f + 1] = { ok = ok, what = what, fix = fix } end
  if text:find("table%s+%w+%s+[%w_-]+%s*{") or text:find("hook%s+%a+") then
    local seen = { input = false, forward = false }
    for chain, body in text:gmatch("chain%s+([%w_-]+)%s*(%b{})") do
      local hook = body:match("hook%s+(%a+)")
      local isfilter = body:match("type%s+filter")
      if isfilter and (hook == "input" or hook == "forward") then
        local policy = body:match("policy%s+(%a+)") or "accept"
        seen[hook] = seen[hook] or policy == "drop"
        if policy ~= "drop" then
          add(false, string.format("nftables chain %s (hook %s) has policy %s: unknown traffic "
            .. "must be dropped during a failover", chain, hook, policy),
            string.format("set `policy drop;` on chain %s and accept `ct state established,related`", chain))
        end
        if body:find("%f[%w]reject%f[%W]") then
          add(false, string.format("nftables chain %s (hook %s) rejects traffic: a reject answers "
            .. "packets of sessions not yet committed with RST/ICMP and kills them", chain, hook),
            "replace `reject` with `drop` in chain " .. chain)
        end
        if not body:find("ct state[^\n]*established") then
          add(false, string.format("nftables chain %s (hook %s) has no `ct state established` rule",
            chain, hook), "add `ct state established,related accept`")
        end
      end
      if body:find("%f[%w]masquerade%f[%W]") then
        add(false, "nftables chain " .. chain .. " uses masquerade: on an HA pair it picks the "
          .. "firewall's own address, which dies with it", "use `snat to VIP` with the WAN virtual IP")
      end
    end
    for hook, ok in pairs(seen) do
      if ok then add(true, "nftables " .. hook .. " chain drops unknown traffic (policy drop)") end
    end
    if not seen.input and not seen.forward and #f == 0 then
      add(false, "no nftables filter chain on the input or forward hook", "load a ruleset with policy drop")
    end
  elseif text:find("^%*") or text:find("\n%*filter") or text:find(":INPUT") then
    local filter = text:match("%*filter(.-)COMMIT") or ""
    for _, ch in ipairs { "INPUT", "FORWARD" } do
      local pol = filter:match(":" .. ch .. " (%u+)")
      if pol == "DROP" then
        add(true, "iptables " .. ch .. " policy DROP")
      else
        add(false, "iptables " .. ch .. " policy " .. tostring(pol or "missing") .. ": unknown traffic "
          .. "must be dropped", "iptables -P " .. ch .. " DROP")
      end
      for line in filter:gmatch("[^\n]+") do
        if line:match("^%-A " .. ch .. " ") and line:find("-j REJECT", 1, true) then
          add(false, "iptables rule rejects in " .. ch .. ": " .. line, "use -j DROP instead of -j REJECT")
        end
      end
    end
    if text:find("-j MASQUERADE", 1, true) then
      add(false, "iptables uses MASQUERADE: on an HA pair it picks the firewall's own address",
        "use -j SNAT --to-source VIP")
    end
  else
    add(false, "ruleset not recognized (neither nftables nor iptables-save text)",
      "pass `--ruleset FILE` with the output of `nft list ruleset` or `iptables-save`")
  end
  return f
end

local function read_ruleset(opts)
  if opts.ruleset then return readfile(opts.ruleset) end
  local netops = require "netops"
  local tmp = os.tmpname()
  for _, argv in ipairs { { "nft", "list", "ruleset" }, { "iptables-save" } } do
    local out = io.open(tmp, "w")
    local ok, p = pcall(netops.spawn, argv, { stdout = out, stderr = "null" })
    if out then out:close() end
    if ok and p then
      local r = p:wait(10)
      local text = readfile(tmp)
      if r and r.status == "exited" and r.code == 0 and text and text:find("%S") then
        os.remove(tmp); return text
      end
    end
  end
  os.remove(tmp)
  return nil, "could not read the ruleset: pass --ruleset FILE (nft list ruleset > FILE)"
end

--- The checks the seed warns about.  opts: conntrackd_config, keepalived_config,
-- socket, ruleset (file).  Returns findings { {ok=, what=, fix=} ... }, count of failures.
function M.doctor(opts)
  local findings = {}
  local function add(ok, what, fix) findings[#findings + 1] = { ok = ok, what = what, fix = fix } end
  local rs, rerr = read_ruleset(opts)
  if rs then
    for _, x in ipairs(M.check_ruleset(rs)) do findings[#findings + 1] = x end
  else
    add(false, rerr, "pass --ruleset FILE")
  end
  local ka
  if opts.keepalived_config then
    local text, err = readfile(opts.keepalived_config)
    if not text then
      add(false, "keepalived config: " .. err, "pass --keepalived-config FILE")
    else
      ka = M.parse_keepalived(text)
      if #ka.notify == 0 then
        add(false, "keepalived config has no notify lines: nothing commits conntrackd's cache on failover",
          'add notify_master "/usr/local/bin/netops-failover primary" (and backup, fault) to the sync group')
      end
      for _, n in ipairs(ka.notify) do
        if n.command:find("netops-failover", 1, true) then
          add(true, "keepalived " .. n.kind .. " calls netops-failover")
        else
          add(false, "keepalived " .. n.kind .. " does not call netops-failover: " .. n.command,
            n.kind .. [[ "/usr/local/bin/netops-failover ...": keepalived must call netops-failover]])
        end
      end
    end
  end
  local socket = opts.socket
  if opts.conntrackd_config then
    local text, err = readfile(opts.conntrackd_config)
    if not text then
      add(false, "conntrackd config: " .. err, "pass --conntrackd-config FILE")
    else
      local cd = M.parse_conntrackd(text)
      socket = socket or cd.socket
      local missing = {}
      local want = {}
      for a in pairs(M.local_addresses()) do
        if a ~= "127.0.0.1" and a ~= canon("::1") then want[a] = "local address" end
      end
      for _, v in ipairs(ka and ka.vips or {}) do want[canon(v)] = "virtual IP " end
      local keys = {}
      for a in pairs(want) do keys[#keys + 1] = a end
      table.sort(keys)
      for _, a in ipairs(keys) do
        if not cd.ignore[a] then missing[#missing + 1] = a end
      end
      if not cd.has_ignore then
        add(false, "conntrackd config has no `Address Ignore` block: the firewall's own "
          .. "sessions are synced too", "add Filter { Address Ignore { ... } } listing every local address and VIP")
      elseif #missing == 0 then
        add(true, string.format("conntrackd Address Ignore lists every local address and virtual IP (%d)", #keys))
      else
        for _, a in ipairs(missing) do
          add(false, string.format("conntrackd Address Ignore does not list %s (%s)", a, want[a]),
            (inet.family(a) == 6 and "IPv6_address " or "IPv4_address ") .. a .. " in Address Ignore")
        end
      end
    end
  end
  local ctd = require("netops.conntrackd").open { socket = socket, timeout = 3 }
  local st, err = ctd:stats("runtime")
  if st then
    add(true, "conntrackd answers on " .. ctd:path())
  else
    add(false, err, "start conntrackd (conntrackd -d -C CONFIG) and check its UNIX Path")
  end
  ctd:close()
  local bad = 0
  for _, x in ipairs(findings) do if not x.ok then bad = bad + 1 end end
  return findings, bad
end

return M
