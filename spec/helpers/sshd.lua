--- A real OpenSSH sshd for tests: 127.0.0.1 and ::1 on a free high port,
-- generated host and user keys, its own config, pid file and log, and a
-- client ssh_config plus known_hosts, all in one temp directory.  Stopped by
-- pid, never by name.
local sh = require "helpers.sh"
local core = require "netops.core"

local M = {}
M.__index = M

local SSHD = "/usr/sbin/sshd"

local function keygen(path)
  local out, code = sh.run({ "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "netops-test",
                             "-f", path }, { stderr = true })
  assert(code == 0, "ssh-keygen failed: " .. out)
end

local function free_port()
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  for _ = 1, 200 do
    local p = math.random(20000, 59999)
    local ok4, _, c4 = core.probe("127.0.0.1", p, { timeout = 1, interruptible = false })
    local ok6, _, c6 = core.probe("::1", p, { timeout = 1, interruptible = false })
    if not ok4 and c4 == "refused" and not ok6 and (c6 == "refused" or c6 == "unreachable") then
      return p
    end
  end
  error("no free port found")
end

--- Is sshd's port accepting on 127.0.0.1?
function M:accepting()
  return core.probe("127.0.0.1", self.port, { timeout = 1, interruptible = false }) == true
end

local function write_config(self)
  sh.write(self.dir .. "/sshd_config", table.concat({
    "Port " .. self.port,
    "ListenAddress 127.0.0.1",
    "ListenAddress ::1",
    "HostKey " .. self.host_key,
    "PidFile " .. self.dir .. "/sshd.pid",
    "AuthorizedKeysFile " .. self.dir .. "/authorized_keys",
    "StrictModes no",
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    "PermitRootLogin prohibit-password",
    "MaxStartups 200",
    "MaxSessions 50",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "LogLevel INFO",
    "",
  }, "\n"))
end

--- A client config for this server; opts.key overrides the identity.
function M:client_config(opts)
  opts = opts or {}
  local path = self.dir .. "/" .. (opts.name or "ssh_config")
  sh.write(path, table.concat({
    "Host *",
    "  Port " .. self.port,
    "  User " .. self.user,
    "  IdentityFile " .. (opts.key or self.user_key),
    "  IdentitiesOnly yes",
    "  IdentityAgent none",
    "  UserKnownHostsFile " .. self.dir .. "/known_hosts",
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking yes",
    "  CheckHostIP no",
    "  UpdateHostKeys no",
    "  BatchMode yes",
    "  ControlMaster no",
    opts.connect_timeout ~= false and ("  ConnectTimeout " .. (opts.connect_timeout or 5)) or "",
    "",
  }, "\n"))
  return path
end

--- Make a server (not started).  Needs /usr/sbin/sshd.
function M.new()
  local self = setmetatable({}, M)
  self.dir = sh.tmpdir()
  self.user = (sh.run("id -un"):gsub("%s+$", ""))
  self.host_key = self.dir .. "/host_key"
  self.user_key = self.dir .. "/user_key"
  self.wrong_key = self.dir .. "/wrong_key"
  keygen(self.host_key)
  keygen(self.user_key)
  keygen(self.wrong_key)
  sh.run({ "cp", self.user_key .. ".pub", self.dir .. "/authorized_keys" })
  self.port = free_port()
  self:trust_host_key()
  write_config(self)
  self.ssh_config = self:client_config()
  -- privilege separation needs its empty directory
  if sh.is_root() then sh.run({ "mkdir", "-p", "-m", "0755", "/run/sshd" }) end
  return self
end

--- Write known_hosts for the current host key (both addresses).
function M:trust_host_key()
  local pub = sh.read(self.host_key .. ".pub"):match("^(%S+ %S+)")
  sh.write(self.dir .. "/known_hosts",
    ("[127.0.0.1]:%d %s\n[::1]:%d %s\n"):format(self.port, pub, self.port, pub))
end

--- Replace the host key (known_hosts keeps the old one): a changed host.
function M:change_host_key()
  os.remove(self.host_key)
  os.remove(self.host_key .. ".pub")
  keygen(self.host_key)
end

--- Launch sshd in the foreground (-D) as our child, so its pid is known at
-- once and it is always stopped and reaped; it listens once its pid file
-- exists (sshd writes it after binding).  See M:ready.
function M:launch()
  os.remove(self.dir .. "/sshd.pid")
  local proc, err = core.spawn({ SSHD, "-D", "-f", self.dir .. "/sshd_config", "-E", self.dir .. "/sshd.log" },
                               { stdin = "null", stdout = "null", stderr = "null" })
  assert(proc, err)
  self.proc = proc
  self.pid = proc.pid
  return self
end

--- Is the launched sshd listening?  Raises if it died.
function M:ready()
  if sh.read(self.dir .. "/sshd.pid") then return true end
  local r = self.proc:wait(0)
  if not r.running then
    error("sshd exited (" .. tostring(r.code or r.signal_name) .. "): " .. self:log())
  end
  return false
end

--- Start sshd; returns once it listens.
function M:start()
  self:launch()
  local t = core.monotime() + 20
  while not self:ready() do
    if core.monotime() > t then error("sshd did not start listening: " .. self:log()) end
    core.sleep(0.01)
  end
  return self
end

--- Every descendant pid of pid (sshd's session processes).
local function descendants(pid)
  local parent = {}
  for p in sh.run("ls /proc"):gmatch("%d+") do
    local stat = sh.read("/proc/" .. p .. "/stat")
    local pp = stat and stat:match("^%d+ %b() %S+ (%d+)")
    if pp then parent[tonumber(p)] = tonumber(pp) end
  end
  local out, want = {}, { [pid] = true }
  local changed = true
  while changed do
    changed = false
    for p, pp in pairs(parent) do
      if want[pp] and not want[p] then
        want[p] = true
        out[#out + 1] = p
        changed = true
      end
    end
  end
  return out
end
M.descendants = descendants

--- Kill sshd and every session process with SIGKILL (the reboot), by pid.
function M:kill_all()
  if not self.pid then return end
  local pids = descendants(self.pid)
  self.proc:kill("KILL")
  for _, p in ipairs(pids) do sh.run({ "kill", "-9", tostring(p) }, { stderr = true }) end
  self.proc:wait()
  self.proc:close()
  self.proc, self.pid = nil, nil
  -- wait until the port refuses
  for _ = 1, 100 do
    if not self:accepting() then return end
    core.sleep(0.02)
  end
end

--- Stop sshd (SIGTERM to the listener, then its sessions) and clean up.
function M:stop()
  if self.pid then self:kill_all() end
end

function M:cleanup()
  self:stop()
  if self.dir then sh.rmtree(self.dir) end
  self.dir = nil
end

--- sshd's log so far.
function M:log()
  return sh.read(self.dir .. "/sshd.log") or ""
end

return M
