--- The HA lab scenario: long streams through the active firewall, forced
-- failovers and fail-backs (stop keepalived on the active firewall, start it
-- again later), then every stream checked byte for byte.
-- Used by spec/60-failover_spec.lua and by `make demo` (spec/lab/demo.lua).
local labmod = require "lab.lab"

local M = {}

local function count(text, pat)
  local n = 0
  for _ in text:gmatch(pat) do n = n + 1 end
  return n
end

--- opts: policy (path; default examples/primary-backup.lua), transitions
-- (default 6), streams (per family, default 2), say (timeline function),
-- stall (seconds without data that fails a stream, default 12), tag.
-- Returns a report table; never raises for a lab failure it can describe.
function M.run(opts)
  local say = opts.say or function() end
  local transitions = opts.transitions or 6
  local per = opts.streams or 2
  local settle = opts.settle or 3
  local lab = labmod.new { policy = opts.policy, tag = opts.tag or "ha", root = opts.root }
  local function T() return string.format("T+%5.1fs", lab:elapsed()) end
  lab.say = function(m) say(T() .. "  " .. m) end
  local rep = { moves = {}, streams = {}, dir = lab.dir }
  local ok, err = pcall(function()
    lab:setup()
    local h = lab:holder()
    if not h then error("lab: no firewall holds all VIPs after setup") end
    lab.say(h .. " is active (holds 192.0.2.1, 2001:db8:1::1, 198.51.100.1, 2001:db8:2::1)")
    local seconds = 6 + transitions * (settle * 2 + 5)
    local total = math.floor(seconds * 24 * 1024)     -- ~24 KiB/s per stream
    lab:start_streams(per, total, seconds, opts.stall or 12)
    lab.say(string.format("%d TCP streams started (%d IPv4, %d IPv6), client -> server through %s, "
      .. "SNAT to the WAN VIPs, %d bytes each over %ds", per * 2, per, per, h, total, seconds))
    labmod.sleep(settle)
    for k = 1, transitions do
      local active = lab:holder() or h
      local other = active == "fw1" and "fw2" or "fw1"
      local before = lab:failover_log(other)
      lab.say(string.format("%s #%d: stopping keepalived on %s", k % 2 == 1 and "failover" or "fail back",
                            k, active))
      local t0 = labmod.now()
      lab:stop_keepalived(active)
      local moved = lab:wait_vip(other, 20)
      local mv = { k = k, from = active, to = other, moved = moved, after = labmod.now() - t0, t = t0 - lab.t0 }
      rep.moves[#rep.moves + 1] = mv
      local added = moved and lab:vip_added(other, t0)
      mv.takeover_ms = added and (added - t0) * 1000
      lab.say(string.format("VIPs %s %s%s", moved and "moved to" or "DID NOT move to", other,
                            mv.takeover_ms and string.format(": VRRP takeover %.0f ms (keepalived stopped on %s "
                              .. "-> all four VIPs added on %s)", mv.takeover_ms, active, other)
                            or string.format(" (after %.1f s)", mv.after)))
      -- wait (bounded) for the new master's notify call to finish
      local tw = labmod.now() + 10
      local log
      repeat
        log = lab:failover_log(other):sub(#before + 1)
        if log:find("MASTER: done", 1, true) or log:find("MASTER: FAIL", 1, true) then break end
        labmod.sleep(0.2)
      until labmod.now() > tw
      mv.committed = log:find("step commit ok", 1, true) ~= nil
      -- the commit time as netops-failover's step log measured it
      local ms = log:match("step commit ok in ([%d.]+) ms")
      local n = log:match("commit took [%d.]+ ms for (%S+) entries")
      mv.commit_ms, mv.entries = tonumber(ms), tonumber(n)
      if mv.committed then
        local held = log:match("kernel table holds (%d+) sessions")
        lab.say(string.format("%s: netops-failover commit took %s ms for %s entries%s", other,
                              ms or "?", n or "?", held and ("; kernel table now holds " .. held) or ""))
      else
        lab.say(other .. ": no commit logged by netops-failover")
      end
      local b0 = lab:stream_bytes()
      labmod.sleep(settle)
      local b1 = lab:stream_bytes()
      local alive = 0
      for i = 1, #b1 do if b1[i] > b0[i] then alive = alive + 1 end end
      mv.alive = alive
      lab.say(string.format("sessions alive: %d of %d streams moved data since the failover", alive, #b1))
      -- each stream's longest silence around the VIP move
      mv.stalls = {}
      local t1, txt = labmod.now(), {}
      for i = 1, #b1 do
        local g = labmod.longest_gap(lab:arrivals(i), t0, t1)
        mv.stalls[i] = g and g * 1000 or false
        txt[i] = g and string.format("%.0f", g * 1000) or "none"
        if g then mv.stall_ms = math.max(mv.stall_ms or 0, g * 1000) end
      end
      lab.say(string.format("stall: longest gap %s ms (streams %s ms)",
                            mv.stall_ms and string.format("%.0f", mv.stall_ms) or "unknown", table.concat(txt, ", ")))
      lab:start_keepalived(active)
      lab.say("keepalived started again on " .. active .. " (it comes up as backup)")
      labmod.sleep(settle + 2)
    end
    lab.say("waiting for the streams to finish")
    rep.streams = lab:wait_streams(opts.seconds_max or 120)
    for i, st in ipairs(rep.streams) do
      st.arrivals = lab:arrivals(i)
      for _, a in ipairs(st.arrivals) do a[1] = a[1] - lab.t0 end   -- seconds since the lab started
    end
    rep.logs = { fw1 = lab:failover_log("fw1"), fw2 = lab:failover_log("fw2") }
    rep.commits = count(rep.logs.fw1 .. rep.logs.fw2, "step commit ok")
  end)
  if not ok then rep.error = tostring(err) end
  rep.keep = opts.keep
  lab:teardown(opts.keep)
  local intact = 0
  for _, s in ipairs(rep.streams) do
    if s.ok and s.sha == s.expect and s.bytes == s.total then intact = intact + 1 end
  end
  rep.intact = intact
  local moved = 0
  for _, m in ipairs(rep.moves) do if m.moved then moved = moved + 1 end end
  rep.moved = moved
  rep.passed = not rep.error and #rep.streams > 0 and intact == #rep.streams
    and moved == transitions and (rep.commits or 0) >= transitions
  return rep
end

--- Human summary lines for a report.
function M.summary(rep)
  local out = {}
  if rep.error then out[#out + 1] = "lab error: " .. rep.error end
  for _, s in ipairs(rep.streams) do
    out[#out + 1] = string.format("stream %d (%s): %s%s", s.id, s.family, s.result,
      s.ok and (s.sha == s.expect and ", checksum equal" or ", CHECKSUM DIFFERS") or "")
  end
  for _, m in ipairs(rep.moves) do
    local function ms(v) return v and string.format("%.0f ms", v) or "?" end
    out[#out + 1] = string.format("%s #%d %s -> %s at T+%.1fs: stall %s, VRRP takeover %s, commit %s",
      m.k % 2 == 1 and "failover" or "fail back", m.k, m.from, m.to, m.t, ms(m.stall_ms), ms(m.takeover_ms),
      m.commit_ms and string.format("%.1f ms", m.commit_ms) or "?")
  end
  out[#out + 1] = string.format("%d of %d streams intact; VIPs moved %d of %d times; %d commits logged",
    rep.intact, #rep.streams, rep.moved, #rep.moves, rep.commits or 0)
  return out
end

return M
