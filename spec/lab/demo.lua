-- make demo: the HA lab with a readable timeline (needs root).
package.path = "spec/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
local scenario = require "lab.scenario"
local transitions = tonumber(os.getenv("DEMO_TRANSITIONS") or "") or 4
print("== netops HA lab: client -> fw1/fw2 (keepalived + conntrackd FTFW + nftables, SNAT) -> server")
print("   policy: " .. (os.getenv("DEMO_POLICY") or "examples/primary-backup.lua") .. " via examples/netops-failover.lua")
local rep = scenario.run { transitions = transitions, say = function(m) print(m); io.stdout:flush() end,
                           policy = os.getenv("DEMO_POLICY") }
print("== summary")
for _, l in ipairs(scenario.summary(rep)) do print("   " .. l) end
local ms = {}
for _, m in ipairs(rep.moves) do if m.commit_ms then ms[#ms + 1] = string.format("%.1f", m.commit_ms) end end
if #ms > 0 then print("   commit durations (ms): " .. table.concat(ms, ", ")) end
print(rep.passed and "== PASS: every session survived every failover" or "== FAIL")
os.exit(rep.passed and 0 or 1)
