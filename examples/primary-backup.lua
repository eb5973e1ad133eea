-- The default failover policy for netops-failover: conntrack-tools'
-- primary-backup.sh sequence, with every step checked, timed and logged.
-- Copy it, edit it, point `netops-failover --policy FILE` at your copy
-- (root-owned, not writable by group or others).
--
-- ctx: ctx.conntrackd (netops.conntrackd client), ctx.kernel() and ctx.count()
-- (this namespace's kernel table), ctx.step(name, fn, ...), ctx.skip(name, why),
-- ctx.log(level, fmt, ...), ctx.run(argv), ctx.clock(), ctx.conntrackd_pids()
-- (live conntrackd processes started with ctx.conntrackd_config), ctx.state,
-- ctx.name, ctx.priority, ctx.conntrackd_config; ctx.committed = N (the entries
-- the commit put in the kernel, for status and the metrics), ctx.metric(name,
-- value, labels, help, type) (a series of the policy's own).

local function cache_sizes(ctx)
  local st = ctx.conntrackd:stats()
  local int = st and st.cache_internal
  local ext = st and st.cache_external
  return int and int.current_active_connections, ext and ext.current_active_connections
end

return {
  -- Becoming the active firewall: take over the peer's sessions.
  master = function(ctx)
    local before = ctx.count()           -- kernel table (netops.conntrack), if built
    local _, synced = cache_sizes(ctx)   -- sessions learned from the peer
    local ok, secs = ctx.step("commit", ctx.conntrackd.commit, ctx.conntrackd)
    local after = ctx.count()
    if ok then
      -- what the commit put in the kernel: the metrics' committed_entries
      ctx.committed = synced or (before and after and math.max(0, after - before)) or nil
      ctx.log("notice", "commit took %.1f ms for %s entries from the external cache%s",
              secs * 1000, synced and tostring(synced) or "?",
              before and after and string.format(" (kernel table %d -> %d)", before, after) or "")
      ctx.step("flush", ctx.conntrackd.flush, ctx.conntrackd)
    else
      -- keep the external cache: a later commit (or an operator) can retry
      ctx.skip("flush", "the commit failed; the external cache is kept")
    end
    if ctx.step("resync", ctx.conntrackd.resync, ctx.conntrackd) and ok and synced then
      -- after the resync the internal cache mirrors the kernel table: every
      -- committed session must be there (a few may have ended meanwhile)
      local now = cache_sizes(ctx)
      if now then
        ctx.log(now >= synced and "info" or "warning",
                "kernel table holds %d sessions after the commit (%d were synced from the peer)", now, synced)
      end
    end
    ctx.step("bulk_send", ctx.conntrackd.bulk_send, ctx.conntrackd)
  end,

  -- Becoming the standby: make sure conntrackd runs, age out what we held,
  -- ask the new master for its sessions.
  backup = function(ctx)
    local t0 = ctx.clock()
    local alive, err, class = ctx.conntrackd:stats("runtime")
    local dt = ctx.clock() - t0
    local running = ctx.conntrackd_config and ctx.conntrackd_pids() or {}
    if alive then
      ctx.log("info", "conntrackd is alive")
    elseif (class == "nosocket" or class == "refused") and ctx.conntrackd_config and #running == 0 then
      -- like primary-backup.sh: nothing listens and no conntrackd runs with
      -- this config, so a lock file left by the dead daemon would stop the
      -- new one from starting
      local f = io.open(ctx.conntrackd_config)
      local lock = f and f:read("a"):match("\n%s*LockFile%s+(%S+)")
      if f then f:close() end
      if lock and os.remove(lock) then
        ctx.log("notice", "removed stale lock file %s", lock)
      end
      ctx.step("start_conntrackd", ctx.run, { os.getenv("CONNTRACKD_BIN") or "/usr/sbin/conntrackd",
                                              "-d", "-C", ctx.conntrackd_config })
    else
      -- a timeout (a busy or stopped daemon), a conntrackd still running
      -- with this config, or no config to start one from: a failure of this
      -- step, and never a second daemon beside the first
      if #running > 0 then
        err = string.format("%s (conntrackd pid %s runs with %s: not starting another)", err,
                            table.concat(running, ", "), ctx.conntrackd_config)
      end
      ctx.step("conntrackd_alive", function() return nil, string.format("%s (after %.1f ms)", err, dt * 1000) end)
    end
    ctx.step("reset_timers", ctx.conntrackd.reset_timers, ctx.conntrackd)
    ctx.step("request_resync", ctx.conntrackd.request_resync, ctx.conntrackd)
  end,

  fault = function(ctx)
    ctx.step("reset_timers", ctx.conntrackd.reset_timers, ctx.conntrackd)
  end,
}
