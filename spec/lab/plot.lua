--- The HA lab's picture: each stream's throughput over time, a mark at each
-- failover with its stall beside it, as one self-contained SVG document
-- (plain Lua, no plotting library).  Input: a scenario report (rep.streams[i]
-- .arrivals = { {t, bytes}, ... } in seconds since the lab started,
-- rep.moves[k].t, .stall_ms, .takeover_ms, .from, .to).
local M = {}

local W, H = 960, 440
local L, R, T, B = 70, 170, 50, 50          -- margins: plot area inside
local COLORS = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf" }

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- KiB/s of one stream in bins of `bin` seconds over [0, tmax].
local function throughput(arrivals, bin, tmax)
  local n = math.max(1, math.ceil(tmax / bin))
  local bytes = {}
  for i = 1, n do bytes[i] = 0 end
  for _, a in ipairs(arrivals) do
    local i = math.floor(a[1] / bin) + 1
    if i >= 1 and i <= n then bytes[i] = bytes[i] + a[2] end
  end
  for i = 1, n do bytes[i] = bytes[i] / bin / 1024 end
  return bytes
end

-- A round step for `max` split in about `n` ticks.
local function step(max, n)
  local raw = max / n
  local p = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs { 1, 2, 5, 10 } do
    if m * p >= raw then return m * p end
  end
  return 10 * p
end

--- The SVG text for report `rep`.  opts.bin: seconds per throughput point
-- (default 0.25); opts.title.
function M.svg(rep, opts)
  opts = opts or {}
  local bin = opts.bin or 0.25
  local tmax = 1
  for _, s in ipairs(rep.streams) do
    for _, a in ipairs(s.arrivals or {}) do tmax = math.max(tmax, a[1]) end
  end
  for _, m in ipairs(rep.moves) do tmax = math.max(tmax, m.t + 1) end
  local series, ymax = {}, 1
  for i, s in ipairs(rep.streams) do
    series[i] = throughput(s.arrivals or {}, bin, tmax)
    for _, v in ipairs(series[i]) do ymax = math.max(ymax, v) end
  end
  local ystep = step(ymax * 1.1, 5)
  ymax = math.ceil(ymax * 1.1 / ystep) * ystep
  local xstep = step(tmax, 10)
  local pw, ph = W - L - R, H - T - B
  local function X(t) return L + t / tmax * pw end
  local function Y(v) return T + ph - v / ymax * ph end
  local o = {}
  local function put(fmt, ...) o[#o + 1] = string.format(fmt, ...) end
  put('<?xml version="1.0" encoding="UTF-8"?>\n')
  put('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
      .. 'font-family="sans-serif" font-size="12">\n', W, H, W, H)
  put('<rect x="0" y="0" width="%d" height="%d" fill="white"/>\n', W, H)
  put('<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>\n', L,
      esc(opts.title or "HA lab: throughput of each TCP stream through the firewall pair"))
  -- axes, grid, ticks
  put('<g class="axes" stroke="#999" stroke-width="1">\n')
  put('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>\n', L, T + ph, L + pw, T + ph)
  put('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>\n', L, T, L, T + ph)
  put('</g>\n<g class="ticks" fill="#333">\n')
  for v = 0, ymax + 1e-9, ystep do
    put('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>\n', L, Y(v), L + pw, Y(v))
    put('<text x="%.1f" y="%.1f" text-anchor="end">%g</text>\n', L - 6, Y(v) + 4, v)
  end
  for t = 0, tmax + 1e-9, xstep do
    put('<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>\n', X(t), T + ph + 16, t)
  end
  put('<text x="%.1f" y="%.1f" text-anchor="middle">seconds since the lab started</text>\n', L + pw / 2, H - 10)
  put('<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">KiB/s (%g s bins)</text>\n',
      T + ph / 2, bin)
  put('</g>\n')
  -- failover marks, each with its stall
  for _, m in ipairs(rep.moves) do
    local x = X(m.t)
    put('<g class="failover">\n<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444" '
        .. 'stroke-dasharray="4 3"/>\n', x, T, x, T + ph)
    put('<text x="%.1f" y="%.1f" font-size="11">%s</text>\n', x + 3, T + 12, esc(m.from .. " \u{2192} " .. m.to))
    put('<text class="stall" x="%.1f" y="%.1f" font-size="11">stall %s</text>\n', x + 3, T + 26,
        m.stall_ms and string.format("%.0f ms", m.stall_ms) or "?")
    if m.takeover_ms then
      put('<text x="%.1f" y="%.1f" font-size="11" fill="#666">vrrp %.0f ms</text>\n', x + 3, T + 40, m.takeover_ms)
    end
    put('</g>\n')
  end
  -- one path per stream, and the legend
  for i, s in ipairs(rep.streams) do
    local c, d = COLORS[(i - 1) % #COLORS + 1], {}
    for k, v in ipairs(series[i]) do
      d[#d + 1] = string.format("%s%.1f %.1f", k == 1 and "M" or "L", X((k - 0.5) * bin), Y(v))
    end
    put('<path class="stream" d="%s" fill="none" stroke="%s" stroke-width="1.5"/>\n', table.concat(d, " "), c)
    local ly = T + 10 + (i - 1) * 18
    put('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>\n', W - R + 15, ly, W - R + 35, ly, c)
    put('<text x="%d" y="%d">stream %d (%s)</text>\n', W - R + 40, ly + 4, s.id or i, esc(s.family or ""))
  end
  put('</svg>\n')
  return table.concat(o)
end

--- Writes the SVG of `rep` to path; true, or nil and a message.
function M.write(path, rep, opts)
  local f, err = io.open(path, "w")
  if not f then return nil, err end
  local ok, werr = f:write(M.svg(rep, opts))
  f:close()
  if not ok then return nil, werr end
  return true
end

return M
