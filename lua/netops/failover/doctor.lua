--- netops.failover.doctor: `netops-failover doctor`, the checks of a
-- firewall pair's configuration.
--
--     local doctor = require "netops.failover.doctor"
--     local results, status = doctor.run { keepalived = FILE, conntrackd = FILE,
--                                          ruleset = FILE, socket = PATH }
--     io.write(doctor.render(results, { json = false }))
--     return status                    -- 1 when a check failed, else 0
--
-- Each result is { check =, status = "ok"|"FAIL"|"skipped", what =, fix =,
-- reason = }: a FAIL carries the fix, a skip the reason it was skipped (a
-- default file missing, not root, a program not installed); no check is left
-- out silently.  Skips are not failures.  The checks:
-- * ruleset: the live ruleset (`nft list ruleset`, else `iptables-save`, as
--   root) or --ruleset FILE: drop, never reject, during a failover; no
--   masquerade.
-- * keepalived.config: keepalived.conf read with its `include` files, found
--   as keepalived finds them (glob patterns with braces, a relative pattern
--   against the directory of the file that holds it).
-- * keepalived.test: `keepalived -t -f FILE`, where keepalived is installed.
-- * keepalived.notify: every notify line calls netops-failover, a program
--   that exists.
-- * keepalived.policy: each policy those lines name (or the default one)
--   exists and passes the trusted loader's rules (netops.core.load_trusted).
-- * conntrackd.config, conntrackd.ignore (Address Ignore holds every local
--   address and VIP), conntrackd.timeouts (CommitTimeout, PurgeTimeout),
--   conntrackd.interface (the Sync section's Interface exists here:
--   /sys/class/net/NAME), conntrackd.socket (conntrackd answers).
-- @module netops.failover.doctor
local inet = require "netops.inet"
local lfs = require "lfs"

local M = {}

--- Where the configurations are when the caller names none.
M.DEFAULTS = {
  keepalived = "/etc/keepalived/keepalived.conf",
  conntrackd = "/etc/conntrackd/conntrackd.conf",
}
--- Seconds each program the doctor runs may take (keepalived -t, nft).
M.TIMEOUT = 10
--- How deep keepalived includes may nest before the doctor calls it a loop.
M.INCLUDE_DEPTH = 32

local ENOENT, EACCES = 2, 13

local function readfile(path)
  local f, err, code = io.open(path, "r")
  if not f then return nil, err, code end
  local s, rerr, rcode = f:read("a")
  f:close()
  if not s then return nil, path .. ": " .. tostring(rerr), rcode end
  return s
end

--- The effective uid of this process (/proc/self/status).
local function euid()
  local s = readfile("/proc/self/status") or ""
  return tonumber(s:match("\nUid:%s+%d+%s+(%d+)"))
end

local function strip_comments(text)
  return (text:gsub("#[^\n]*", ""):gsub("!%s[^\n]*", ""))
end

--- A keepalived.conf line without its comment: `#` or `!` outside quotes.
local function decomment(line)
  local quoted = false
  for i = 1, #line do
    local c = line:byte(i)
    if c == 34 then quoted = not quoted
    elseif not quoted and (c == 35 or c == 33) then return line:sub(1, i - 1) end
  end
  return line
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

-- glob(3) as keepalived calls it (GLOB_MARK | GLOB_BRACE) -----------------

--- {a,b} alternatives, nested, each a pattern of its own (GLOB_BRACE).
local function brace_expand(p)
  local open = p:find("{", 1, true)
  if not open then return { p } end
  local depth, cuts, close = 0, {}, nil
  for i = open, #p do
    local c = p:sub(i, i)
    if c == "{" then depth = depth + 1
    elseif c == "}" then
      depth = depth - 1
      if depth == 0 then close = i; break end
    elseif c == "," and depth == 1 then cuts[#cuts + 1] = i end
  end
  if not close then return { p } end
  cuts[#cuts + 1] = close
  local out, from = {}, open
  for _, at in ipairs(cuts) do
    for _, x in ipairs(brace_expand(p:sub(1, open - 1) .. p:sub(from + 1, at - 1) .. p:sub(close + 1))) do
      out[#out + 1] = x
    end
    from = at
  end
  return out
end

--- A Lua pattern for one path component of a glob: * ? [set] [!set] \x.
local function component_pattern(comp)
  local out, i = { "^" }, 1
  while i <= #comp do
    local c = comp:sub(i, i)
    local close = c == "[" and comp:find("]", i + (comp:sub(i + 1, i + 1):match("[!^]") and 3 or 2), true)
    if c == "*" then out[#out + 1] = ".*"
    elseif c == "?" then out[#out + 1] = "."
    elseif close then
      out[#out + 1] = "[" .. comp:sub(i + 1, close - 1):gsub("^!", "^"):gsub("%%", "%%%%") .. "]"
      i = close
    else
      if c == "\\" and i < #comp then i = i + 1; c = comp:sub(i, i) end
      out[#out + 1] = c:match("%p") and ("%" .. c) or c
    end
    i = i + 1
  end
  return table.concat(out) .. "$"
end

local function has_magic(s) return s:find("[%*%?%[]") ~= nil end

--- The names in dir that comp matches, sorted; a leading dot only matches
-- a pattern that starts with one.
local function match_dir(dir, comp)
  local names, pat = {}, component_pattern(comp)
  local ok, iter, state = pcall(lfs.dir, dir)
  if not ok then return names end
  for name in iter, state do
    if name ~= "." and name ~= ".." and name:match(pat)
       and (name:sub(1, 1) ~= "." or comp:sub(1, 1) == ".") then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

--- The existing paths a pattern names, as glob(3) with GLOB_BRACE lists
-- them: each brace alternative in turn, its matches sorted.
function M.glob(pattern)
  local out = {}
  for _, p in ipairs(brace_expand(pattern)) do
    local paths = { p:sub(1, 1) == "/" and "/" or "" }
    for comp in p:gmatch("[^/]+") do
      local nextp = {}
      for _, base in ipairs(paths) do
        local prefix = (base == "" or base:sub(-1) == "/") and base or base .. "/"
        if has_magic(comp) then
          for _, n in ipairs(match_dir(base == "" and "." or base, comp)) do nextp[#nextp + 1] = prefix .. n end
        else
          nextp[#nextp + 1] = prefix .. comp
        end
      end
      paths = nextp
    end
    local found = {}
    for _, x in ipairs(paths) do
      if lfs.attributes(x, "mode") then found[#found + 1] = x end
    end
    table.sort(found)
    for _, x in ipairs(found) do out[#out + 1] = x end
  end
  return out
end

-- keepalived.conf --------------------------------------------------------

local function include_line(line)
  local kw, arg = line:match("^%s*(include[rmwba]?)%s+(.-)%s*$")
  if not kw then return nil end
  arg = arg:match('^"(.*)"$') or arg
  if arg == "" or arg:find("%s") then return nil end
  return arg
end

--- Read a keepalived.conf and every file its `include` lines name, as
-- keepalived does: the included text stands where the include line stood; a
-- relative pattern is taken from the directory of the file holding it;
-- directories are passed over; keepalived skips an executable or irregular
-- file (a problem here), and goes on without a plain path that does not
-- exist (a problem here too: a wildcard that matches nothing is not).
-- Returns { text =, files = { path ... }, problems = { {what=, fix=} ... } },
-- or nil, message, errno when the file itself cannot be read.
function M.read_keepalived(path)
  local r = { files = {}, problems = {} }
  local lines = {}
  local function problem(what, fix) r.problems[#r.problems + 1] = { what = what, fix = fix } end
  local function walk(file, depth)
    local text, err, code = readfile(file)
    if not text then return nil, err, code end
    r.files[#r.files + 1] = file
    local dir = file:match("^(.*)/[^/]*$") or "."
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      line = decomment(line)
      local arg = include_line(line)
      if not arg then
        lines[#lines + 1] = line
      elseif depth >= M.INCLUDE_DEPTH then
        problem(string.format("keepalived include %s in %s: nested %d deep (an include loop?)", arg, file,
          depth), "make the includes of " .. file .. " end")
      else
        local pat = arg:sub(1, 1) == "/" and arg or (dir .. "/" .. arg)
        local matched = M.glob(pat)
        for _, m in ipairs(matched) do
          local a = lfs.attributes(m) or {}
          if a.mode == "directory" then -- keepalived passes over directories
          elseif a.mode ~= "file" or a.permissions:find("x", 1, true) then
            problem(string.format("keepalived skips %s (included from %s): not a regular non-executable file",
              m, file), "chmod a-x " .. m)
          else
            local ok, e = walk(m, depth + 1)
            if not ok then problem(string.format("keepalived include %s (from %s): %s", m, file, e),
              "make " .. m .. " readable by root") end
          end
        end
        if #matched == 0 and not has_magic(pat) and not pat:find("{", 1, true) then
          problem(string.format("keepalived include %s (in %s): no such file; keepalived goes on without it",
            pat, file), "correct the path in " .. file .. " or remove the include")
        end
      end
    end
    return true
  end
  local ok, err, code = walk(path, 0)
  if not ok then return nil, err, code end
  r.text = table.concat(lines, "\n")
  return r
end

-- the notify kinds that run a script on a VRRP state change
local NOTIFY = { notify = true, notify_master = true, notify_backup = true, notify_fault = true,
                 notify_stop = true, notify_deleted = true }

--- Parse keepalived.conf text (its includes already in place: read_keepalived):
-- VIPs (virtual_ipaddress and _excluded) and the notify lines, each
-- { kind =, command =, argv = } (the script string split as keepalived
-- splits it into words).
function M.parse_keepalived(text)
  local plain = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do plain[#plain + 1] = decomment(line) end
  text = table.concat(plain, "\n")
  local vips, notify = {}, {}
  for block in text:gmatch("virtual_ipaddress[_%w]*%s*(%b{})") do
    for a in block:gmatch("[{%s]([%x:%.]+[%x%.:])/?%d*") do
      if inet.family(a) then vips[#vips + 1] = a end
    end
  end
  for _, line in ipairs(plain) do
    local kw, rest = line:match("^%s*(notify[_%w]*)%s+(.-)%s*$")
    if kw and NOTIFY[kw] then
      local cmd = rest:match('^"(.-)"') or rest:match("^(%S+)")
      local argv = {}
      for w in cmd:gmatch("%S+") do argv[#argv + 1] = w:match("^'(.*)'$") or w end
      notify[#notify + 1] = { kind = kw, command = cmd, argv = argv }
    end
  end
  return { vips = vips, notify = notify,
           script_security = text:find("enable_script_security", 1, true) ~= nil }
end

--- Parse a conntrackd.conf: ignored addresses, the UNIX socket path, the
-- Sync section's CommitTimeout, PurgeTimeout and sync interfaces.
function M.parse_conntrackd(text)
  text = strip_comments(text)
  local ignore = {}
  local block = text:match("Address%s+Ignore%s*(%b{})")
  if block then
    for a in block:gmatch("IPv[46]_address%s+([%x:%./]+)") do ignore[canon(a)] = a end
  end
  local unix = text:match("UNIX%s*(%b{})")
  local path = unix and unix:match("Path%s+(%S+)")
  local sync = text:match("%f[%w]Sync%s*(%b{})")
  local r = { ignore = ignore, has_ignore = block ~= nil, socket = path, sync = sync ~= nil,
              interfaces = {} }
  if sync then
    r.commit_timeout = tonumber(sync:match("%f[%w]CommitTimeout%s+(%d+)"))
    r.purge_timeout = tonumber(sync:match("%f[%w]PurgeTimeout%s+(%d+)"))
    for _, kind in ipairs { "Multicast", "UDP", "TCP" } do
      for body in sync:gmatch("%f[%w]" .. kind .. "[^{}\n]*(%b{})") do
        local name = body:match("%f[%w]Interface%s+(%S+)")
        if name then r.interfaces[#r.interfaces + 1] = { transport = kind, name = name } end
      end
    end
  end
  return r
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


-- the checks --------------------------------------------------------------

-- A results list and its adders: ok(check, what), fail(check, what, fix),
-- skip(check, what, reason).
local function collector()
  local results = {}
  local c = { results = results }
  function c.ok(check, what) results[#results + 1] = { check = check, status = "ok", what = what } end
  function c.fail(check, what, fix)
    results[#results + 1] = { check = check, status = "FAIL", what = what, fix = fix }
  end
  function c.skip(check, what, reason)
    results[#results + 1] = { check = check, status = "skipped", what = what, reason = reason }
  end
  return c
end

--- Run argv (never a shell) with stdout into a temp file and stderr kept,
-- bounded by M.TIMEOUT.  Returns the result table of wait, stdout text; or
-- nil, message, errno when it could not start (errno 2: not installed).
local function run(argv)
  local netops = require "netops"
  local tmp = os.tmpname()
  local out = io.open(tmp, "w")
  local p, err, code = netops.spawn(argv, { stdin = "null", stdout = out or "null", stderr = "capture",
                                            timeout = M.TIMEOUT })
  if out then out:close() end
  if not p then os.remove(tmp); return nil, err, code end
  local r = p:wait()
  p:close()
  local text = readfile(tmp) or ""
  os.remove(tmp)
  return r, text
end

local function how_it_ended(argv, r)
  local tail = (r.stderr_tail or ""):gsub("%s+$", "")
  local lines = {}
  for l in tail:gmatch("[^\n]+") do lines[#lines + 1] = l end
  tail = table.concat(lines, "; ", math.max(1, #lines - 4))
  local how = r.status == "exited" and ("exit " .. tostring(r.code))
    or r.status == "timeout" and ("not done within " .. M.TIMEOUT .. " s, stopped")
    or ("killed by " .. tostring(r.signal_name or r.signal))
  return table.concat(argv, " ") .. ": " .. how .. (tail ~= "" and (": " .. tail) or "")
end

local function check_ruleset_text(c, text)
  for _, x in ipairs(M.check_ruleset(text)) do
    if x.ok then c.ok("ruleset", x.what) else c.fail("ruleset", x.what, x.fix) end
  end
end

local function ruleset_checks(c, opts, root)
  if opts.ruleset then
    local text, err = readfile(opts.ruleset)
    if text then return check_ruleset_text(c, text) end
    return c.fail("ruleset", "ruleset: " .. err, "pass --ruleset FILE with the output of `nft list ruleset`")
  end
  if not root then
    return c.skip("ruleset", "the live ruleset", "not root: `nft list ruleset` needs CAP_NET_ADMIN "
      .. "(run as root, or pass --ruleset FILE)")
  end
  local missing, empty = 0, {}
  for _, argv in ipairs { { "nft", "list", "ruleset" }, { "iptables-save" } } do
    local r, text, code = run(argv)
    if not r and code == ENOENT then
      missing = missing + 1
    elseif not r then
      return c.fail("ruleset", "the live ruleset: " .. text, "pass --ruleset FILE")
    elseif r.status ~= "exited" or r.code ~= 0 then
      return c.fail("ruleset", "the live ruleset: " .. how_it_ended(argv, r), "pass --ruleset FILE")
    elseif text:find("%S") then
      return check_ruleset_text(c, text)
    else
      empty[#empty + 1] = table.concat(argv, " ")
    end
  end
  if missing == 2 then
    return c.skip("ruleset", "the live ruleset", "neither nft nor iptables-save is installed (PATH)")
  end
  c.fail("ruleset", "no ruleset is loaded (" .. table.concat(empty, " and ") .. " printed nothing): "
    .. "unknown traffic is accepted and reset during a failover",
    "load a ruleset whose input and forward chains have policy drop and accept `ct state established,related`")
end

--- Why a configuration could not be read: a default file missing, or not
-- root, is a skip (reason), anything else a failure (nil, message).
local KEEPALIVED_CHECKS = {
  { "keepalived.test", "keepalived's own config test (keepalived -t)" },
  { "keepalived.notify", "keepalived notify lines call netops-failover" },
  { "keepalived.policy", "the policies of the notify lines pass the ownership rules" },
}
local CONNTRACKD_CHECKS = {
  { "conntrackd.ignore", "conntrackd Address Ignore lists every local address and virtual IP" },
  { "conntrackd.timeouts", "conntrackd CommitTimeout and PurgeTimeout are set" },
  { "conntrackd.interface", "conntrackd's sync interface exists" },
}

local function skip_all(c, list, reason)
  for _, x in ipairs(list) do c.skip(x[1], x[2], reason) end
end

-- A config file that could not be read: a skip (the default file missing,
-- or not root) or a FAIL; either way the checks that need it are skipped.
local function unreadable(c, what, checks, path, given, err, code, root)
  local key, flag = what .. ".config", "--" .. what
  local reason
  if code == ENOENT and not given then
    reason = path .. ": no such file (the default; name another with " .. flag .. " FILE)"
  elseif code == EACCES and not root then
    reason = "not root: " .. err
  end
  if reason then
    c.skip(key, what .. " config", reason)
  else
    c.fail(key, what .. " config: " .. err, "pass " .. flag .. " FILE")
    reason = what .. " config not read"
  end
  skip_all(c, checks, reason)
end

local function keepalived_test(c, path)
  local argv = { "keepalived", "-t", "-f", path }
  local r, err, code = run(argv)
  if not r and code == ENOENT then
    return c.skip("keepalived.test", "keepalived's own config test (keepalived -t)",
      "keepalived is not installed (not in PATH)")
  end
  if not r then return c.fail("keepalived.test", "keepalived -t: " .. err, "check the keepalived binary") end
  if r.status == "exited" and r.code == 0 then
    return c.ok("keepalived.test", "keepalived -t -f " .. path .. " accepts the configuration")
  end
  c.fail("keepalived.test", how_it_ended(argv, r), (r.status == "timeout" and "find why it hangs: run "
    or "correct what keepalived reports, then run ") .. "keepalived -t -f " .. path .. " by hand")
end

local function executable(prog)
  if not prog:find("/", 1, true) then
    for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
      if executable(dir .. "/" .. prog) then return true end
    end
    return false
  end
  local a = lfs.attributes(prog)
  return a ~= nil and a.mode == "file" and a.permissions:find("x", 1, true) ~= nil
end

local function failover_index(argv)
  for i, a in ipairs(argv) do
    local base = a:match("([^/]*)$")
    if base == "netops-failover" or base == "netops-failover.lua" then return i end
  end
end

local function notify_checks(c, ka)
  if #ka.notify == 0 then
    return c.fail("keepalived.notify", "keepalived config has no notify lines: nothing commits conntrackd's "
      .. "cache on failover", 'add notify_master "/usr/local/bin/netops-failover primary" (and backup, fault) '
      .. "to the sync group")
  end
  for _, n in ipairs(ka.notify) do
    local i = failover_index(n.argv)
    if not i then
      c.fail("keepalived.notify", "keepalived " .. n.kind .. " does not call netops-failover: " .. n.command,
        n.kind .. [[ "/usr/local/bin/netops-failover ...": keepalived must call netops-failover]])
    elseif not executable(n.argv[1]) then
      c.fail("keepalived.notify", "keepalived " .. n.kind .. " runs " .. n.argv[1] .. ", which is not an "
        .. "executable file", "install netops there or correct the path in the " .. n.kind .. " line")
    elseif i > 1 and not lfs.attributes(n.argv[i], "mode") then
      c.fail("keepalived.notify", "keepalived " .. n.kind .. " names " .. n.argv[i] .. ", which does not exist",
        "install netops there or correct the path in the " .. n.kind .. " line")
    else
      c.ok("keepalived.notify", "keepalived " .. n.kind .. " calls netops-failover")
    end
  end
end

--- The policy a notify argv gives netops-failover: the --policy value
-- (false when the option has none), or nil when there is no --policy.
local function policy_arg(argv, i)
  for j = i + 1, #argv do
    if argv[j] == "--policy" then return argv[j + 1] or false end
    local v = argv[j]:match("^%-%-policy=(.*)$")
    if v then return v end
  end
end

--- The file netops-failover loads when no --policy is given: the
-- operator's /etc/netops one, else the shipped default beside the launcher
-- (a checkout's examples/) or in its installed tree; nil when not found.
local function default_policy(prog)
  local DEFAULT = require("netops.failover").DEFAULT_POLICY
  if lfs.attributes(DEFAULT, "mode") then return DEFAULT end
  local dir, leaf = prog:match("^(.-)/?([^/]*)/[^/]*$")
  local shipped = leaf == "examples" and (dir .. "/examples/primary-backup.lua")
    or (leaf == "bin" and (dir .. "/share/lua/5.4/netops/policies/primary_backup.lua"))
  if shipped and lfs.attributes(shipped, "mode") then return shipped end
end

local function policy_check(c, path, root)
  local core = require "netops.core"
  if path:sub(1, 1) ~= "/" then
    return c.fail("keepalived.policy", "policy " .. path .. " is a relative path: keepalived runs "
      .. "notify scripts from /", "give --policy an absolute path")
  end
  if not lfs.attributes(path, "mode") then
    return c.fail("keepalived.policy", "policy " .. path .. " does not exist: netops-failover exits 2 "
      .. "and commits nothing", "create it (cp examples/primary-backup.lua " .. path .. ") or correct --policy")
  end
  if not root then
    return c.skip("keepalived.policy", "policy " .. path .. " passes the ownership rules",
      "not root: keepalived runs netops-failover as root, whose rules are stricter")
  end
  local chunk, err, class = core.load_trusted(path)
  if chunk then
    return c.ok("keepalived.policy", "policy " .. path .. " passes the ownership rules and compiles")
  end
  if class == "insecure" then
    local what, fix = err:match("^(.-); fix: (.*)$")
    return c.fail("keepalived.policy", "policy " .. (what or err),
      fix or "make the file and every directory above it root's and not writable by group or others")
  end
  c.fail("keepalived.policy", "policy " .. tostring(err), class == "syntax" and "correct the Lua error"
    or "make the policy a readable regular file")
end

local function policy_checks(c, ka, root)
  local seen, any = {}, false
  for _, n in ipairs(ka.notify) do
    local i = failover_index(n.argv)
    if i then
      any = true
      local path = policy_arg(n.argv, i)
      if path == false then
        c.fail("keepalived.policy", "keepalived " .. n.kind .. ": --policy has no value",
          "give --policy FILE in the " .. n.kind .. " line")
      elseif path == nil then
        path = default_policy(n.argv[i])
        if not path and not seen[""] then
          seen[""] = true
          c.skip("keepalived.policy", "the default policy of netops-failover (no --policy in " .. n.kind .. ")",
            "/etc/netops/failover-policy.lua does not exist and the shipped policy was not found beside "
            .. n.argv[i])
        end
      end
      if path and not seen[path] then
        seen[path] = true
        policy_check(c, path, root)
      end
    end
  end
  if not any then
    c.skip("keepalived.policy", "the policies of the notify lines pass the ownership rules",
      "no notify line calls netops-failover")
  end
end

local function keepalived_checks(c, opts, root)
  local path = opts.keepalived or opts.keepalived_config
  local given = path ~= nil
  path = path or M.DEFAULTS.keepalived
  local r, err, code = M.read_keepalived(path)
  if not r then
    unreadable(c, "keepalived", KEEPALIVED_CHECKS, path, given, err, code, root)
    return nil
  end
  c.ok("keepalived.config", string.format("keepalived config %s read%s", path,
    #r.files > 1 and string.format(" with %d included file(s)", #r.files - 1) or ""))
  for _, p in ipairs(r.problems) do c.fail("keepalived.config", p.what, p.fix) end
  keepalived_test(c, path)
  local ka = M.parse_keepalived(r.text)
  notify_checks(c, ka)
  policy_checks(c, ka, root)
  return ka
end

local function ignore_check(c, cd, ka)
  local want, keys, missing = {}, {}, {}
  for a in pairs(M.local_addresses()) do
    if a ~= "127.0.0.1" and a ~= canon("::1") then want[a] = "local address" end
  end
  for _, v in ipairs(ka and ka.vips or {}) do want[canon(v)] = "virtual IP" end
  for a in pairs(want) do keys[#keys + 1] = a end
  table.sort(keys)
  for _, a in ipairs(keys) do
    if not cd.ignore[a] then missing[#missing + 1] = a end
  end
  if not ka then
    c.skip("conntrackd.ignore", "conntrackd Address Ignore lists the virtual IPs",
      "the keepalived config was not read")
  end
  if not cd.has_ignore then
    c.fail("conntrackd.ignore", "conntrackd config has no `Address Ignore` block: the firewall's own "
      .. "sessions are synced too", "add Filter { Address Ignore { ... } } listing every local address and VIP")
  elseif #missing == 0 then
    c.ok("conntrackd.ignore", string.format("conntrackd Address Ignore lists every local address and "
      .. "virtual IP (%d)", #keys))
  else
    for _, a in ipairs(missing) do
      c.fail("conntrackd.ignore", string.format("conntrackd Address Ignore does not list %s (%s)", a, want[a]),
        (inet.family(a) == 6 and "IPv6_address " or "IPv4_address ") .. a .. " in Address Ignore")
    end
  end
end

local TIMEOUT_WHY = {
  CommitTimeout = { "commit_timeout", "committed entries get guessed timeouts, and sessions not recovered "
    .. "after a failover linger", "CommitTimeout 1800" },
  PurgeTimeout = { "purge_timeout", "after `conntrackd -t` on the new backup, stale entries stay for the "
    .. "default 60 s", "PurgeTimeout 5" },
}

local function timeout_checks(c, cd)
  if not cd.sync then
    return c.fail("conntrackd.timeouts", "conntrackd config has no Sync section: no session reaches the peer",
      "add Sync { Mode FTFW { CommitTimeout 1800 PurgeTimeout 5 } UDP { ... } } (examples/conntrackd.conf)")
  end
  for _, name in ipairs { "CommitTimeout", "PurgeTimeout" } do
    local w = TIMEOUT_WHY[name]
    if cd[w[1]] then
      c.ok("conntrackd.timeouts", string.format("conntrackd %s is %d s", name, cd[w[1]]))
    else
      c.fail("conntrackd.timeouts", "conntrackd " .. name .. " is not set: " .. w[2],
        "set `" .. w[3] .. "` in the Sync section's Mode block")
    end
  end
end

local function interface_checks(c, cd)
  if not cd.sync then
    return c.skip("conntrackd.interface", "conntrackd's sync interface exists", "no Sync section")
  end
  if #cd.interfaces == 0 then
    return c.skip("conntrackd.interface", "conntrackd's sync interface exists",
      "the Sync section names no Interface (Multicast/UDP/TCP)")
  end
  for _, x in ipairs(cd.interfaces) do
    local ok = x.name:match("^[%w_.:@-]+$") and x.name ~= "." and x.name ~= ".."
      and lfs.attributes("/sys/class/net/" .. x.name, "mode")
    if ok then
      c.ok("conntrackd.interface", "conntrackd sync interface " .. x.name .. " (" .. x.transport .. ") exists")
    else
      c.fail("conntrackd.interface", "conntrackd sync interface " .. x.name .. " (" .. x.transport .. ") does "
        .. "not exist here (no /sys/class/net/" .. x.name .. "): conntrackd cannot sync",
        "name the dedicated sync link in " .. x.transport .. " { Interface ... } (ip link shows them)")
    end
  end
end

local function socket_check(c, socket, root)
  local ctd = require("netops.conntrackd").open { socket = socket, timeout = 3 }
  local st, err, class = ctd:stats("runtime")
  if st then
    c.ok("conntrackd.socket", "conntrackd answers on " .. ctd:path())
  elseif class == "denied" and not root then
    c.skip("conntrackd.socket", "conntrackd answers on " .. ctd:path(), "not root: " .. err)
  else
    c.fail("conntrackd.socket", err, "start conntrackd (conntrackd -d -C CONFIG) and check its UNIX Path")
  end
  ctd:close()
end

local function conntrackd_checks(c, opts, root, ka)
  local path = opts.conntrackd or opts.conntrackd_config
  local given = path ~= nil
  path = path or M.DEFAULTS.conntrackd
  local text, err, code = readfile(path)
  local cd
  if text then
    c.ok("conntrackd.config", "conntrackd config " .. path .. " read")
    cd = M.parse_conntrackd(text)
    ignore_check(c, cd, ka)
    timeout_checks(c, cd)
    interface_checks(c, cd)
  else
    unreadable(c, "conntrackd", CONNTRACKD_CHECKS, path, given, err, code, root)
  end
  socket_check(c, opts.socket or (cd and cd.socket), root)
end

--- Run every check.  opts: keepalived (keepalived.conf, default
-- M.DEFAULTS.keepalived), conntrackd (conntrackd.conf, default
-- M.DEFAULTS.conntrackd), ruleset (a file with `nft list ruleset` or
-- `iptables-save` text; default: the live ruleset), socket (conntrackd's
-- control socket; default: conntrackd.conf's UNIX Path, else conntrackd's
-- default).  keepalived_config and conntrackd_config are taken for
-- keepalived and conntrackd.  A default file that is missing is a skip; a
-- file the caller named that cannot be read is a failure.
-- Returns the results (in order) and the exit status: 1 when a check
-- failed, else 0.
function M.run(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #1 to 'run' (table expected)", 2) end
  local c = collector()
  local root = euid() == 0
  ruleset_checks(c, opts, root)
  local ka = keepalived_checks(c, opts, root)
  conntrackd_checks(c, opts, root, ka)
  for _, r in ipairs(c.results) do
    if r.status == "FAIL" then return c.results, 1 end
  end
  return c.results, 0
end

--- Counts of the results: ok, failed, skipped.
function M.counts(results)
  local n = { ok = 0, FAIL = 0, skipped = 0 }
  for _, r in ipairs(results) do n[r.status] = n[r.status] + 1 end
  return n.ok, n.FAIL, n.skipped
end

local KEYORDER = { "checks", "ok", "failed", "skipped", "exit_status", "check", "status", "what", "fix",
                   "reason" }

--- The results as text for people (`ok`/`FAIL`/`skipped` lines, a `fix:`
-- under each failure, a summary line) or, with ropts.json, one JSON object
-- { checks = [ {check, status, what, fix?, reason?} ], ok, failed, skipped,
-- exit_status } and a newline.
function M.render(results, ropts)
  local ok, bad, skipped = M.counts(results)
  if ropts and ropts.json then
    local json = require "dkjson"
    local checks = {}
    for i, r in ipairs(results) do
      checks[i] = { check = r.check, status = r.status, what = r.what, fix = r.fix, reason = r.reason }
    end
    setmetatable(checks, { __jsontype = "array" })
    return json.encode({ checks = checks, ok = ok, failed = bad, skipped = skipped,
                         exit_status = bad > 0 and 1 or 0 }, { keyorder = KEYORDER }) .. "\n"
  end
  local out = {}
  for _, r in ipairs(results) do
    if r.status == "skipped" then
      out[#out + 1] = "skipped " .. r.what .. ": " .. r.reason
    else
      out[#out + 1] = string.format("%-4s %s", r.status, r.what)
      if r.fix then out[#out + 1] = "     fix: " .. r.fix end
    end
  end
  local tail = skipped > 0 and string.format(", %d skipped", skipped) or ""
  out[#out + 1] = bad == 0 and ("doctor: all checks passed" .. tail)
    or string.format("doctor: %d problem(s)%s", bad, tail)
  return table.concat(out, "\n") .. "\n"
end

--- The older form: findings { {ok=, what=, fix=} ... } and the number of
-- failures; a skip is `ok` with its what prefixed "skipped: " and its
-- reason appended.
function M.doctor(opts)
  local results = M.run(opts)
  local findings, bad = {}, 0
  for i, r in ipairs(results) do
    if r.status == "FAIL" then bad = bad + 1 end
    findings[i] = { ok = r.status ~= "FAIL", fix = r.fix, status = r.status,
                    what = r.status == "skipped" and ("skipped: " .. r.what .. ": " .. r.reason) or r.what }
  end
  return findings, bad
end

return M
