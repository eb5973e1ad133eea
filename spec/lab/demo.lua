-- make demo: the HA lab with a readable timeline (needs root).
package.path = "spec/?.lua;lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("NETOPS_BUILD") or "build") .. "/?.so;" .. package.cpath
local scenario = require "lab.scenario"
local plot = require "lab.plot"
local transitions = tonumber(os.getenv("DEMO_TRANSITIONS") or "") or 4
local svg = os.getenv("DEMO_SVG") or "demo-failover.svg"
print("== netops HA lab: client -> fw1/fw2 (keepalived + conntrackd FTFW + nftables, SNAT) -> server")
print("   policy: " .. (os.getenv("DEMO_POLICY") or "examples/primary-backup.lua") .. " via examples/netops-failover.lua")
local rep = scenario.run { transitions = transitions, say = function(m) print(m); io.stdout:flush() end,
                           policy = os.getenv("DEMO_POLICY") }
print("== summary")
for _, l in ipairs(scenario.summary(rep)) do print("   " .. l) end
if #rep.moves > 0 then
  local ok, err = plot.write(svg, rep)
  if ok then
    local abs = svg:sub(1, 1) == "/" and svg or ((os.getenv("PWD") or ".") .. "/" .. svg)
    print("   picture: " .. abs .. " (throughput of each stream, a mark and the stall at each failover)")
  else
    print("   picture not written: " .. tostring(err))
  end
end
print(rep.passed and "== PASS: every session survived every failover" or "== FAIL")
os.exit(rep.passed and 0 or 1)
