-- netops.inet and the normalize command: one canonical text per address.
local sh = require "helpers.sh"
local inet = require("netops").inet

-- What the seed's Perl normalizer (glibc's inet_pton/inet_ntop through Perl's
-- Socket) printed for seed_input() below, recorded in spec/data so the
-- comparison runs on any checkout.  Where the rival script itself is at hand
-- (../shared/rivals), the test also checks the recording against it.
local SEED_PL_OUT = "spec/data/normalize-seed-pl.out"
local SEED_PL = "../shared/rivals/normalize.pl"

local function seed_input()
  local input = {}
  math.randomseed(5952)
  local alphabet = "0123456789abcdefABCDEF::::...g "
  for i = 1, 4000 do
    local w = {}
    for k = 1, 8 do w[k] = math.random(0, 2) == 0 and "0" or ("%x"):format(math.random(0, 65535)) end
    local l = table.concat(w, ":")
    if i % 4 == 0 then l = l:gsub("^0:0:0:0:0:0:", "::", 1):gsub(":0:0:", "::", 1) end
    if i % 5 == 0 then
      local at = math.random(1, #l)
      local c = math.random(1, #alphabet)
      l = l:sub(1, at - 1) .. alphabet:sub(c, c) .. l:sub(at)
    end
    if i % 50 == 0 then l = ("::%d.%d.%d.%d"):format(i % 256, 2, 3, 4) end
    if i % 51 == 0 then l = ("::FFFF:%d.0.2.1"):format(i % 256) end
    input[#input + 1] = l
  end
  return input
end

-- An RFC 5952 formatter for eight 16-bit groups, written here so that no
-- expectation comes from netops itself.  Callers keep one of the first five
-- groups non-zero, so the IPv4-mapped and IPv4-compatible forms never arise.
local function rfc5952(g)
  local best, blen, i = nil, 1, 1
  while i <= 8 do
    local j = i
    while g[j] == 0 and j <= 8 do j = j + 1 end
    if j - i > blen then best, blen = i, j - i end
    i = math.max(j, i + 1)
  end
  local function hex(a, b)
    local t = {}
    for k = a, b do t[#t + 1] = ("%x"):format(g[k]) end
    return table.concat(t, ":")
  end
  if not best then return hex(1, 8) end
  return hex(1, best - 1) .. "::" .. hex(best + blen, 8)
end

local function lines_of(s)
  local t = {}
  for l in s:gmatch("([^\n]*)\n") do t[#t + 1] = l end
  return t
end

describe("netops.inet.normalize", function()
  it("gives the seed's addresses the form ip6tables-save prints", function()
    assert.equal("2001:db8::cafe:1111", inet.normalize("2001:db8:0:0:0:0:cafe:1111"))
    assert.equal("2001:db8:0:a:1:2:3:4", inet.normalize("2001:db8::a:1:2:3:4"))
    assert.equal("2001:db8:aaaa::c", inet.normalize("2001:0DB8:AAAA:0000:0000:0000:0000:000C"))
    assert.equal("2001:db8:0:1::4", inet.normalize("2001:db8::1:0:0:0:4"))
  end)

  it("follows each RFC 5952 rule and example", function()
    -- 4.1 leading zeros suppressed
    assert.equal("2001:db8::1", inet.normalize("2001:0db8::0001"))
    assert.equal("2001:db8::1", inet.normalize("2001:db8:0000:0000:0000:0000:0000:0001"))
    -- 4.2.1 "::" as long as possible
    assert.equal("2001:db8::2:1", inet.normalize("2001:db8:0:0:0:0:2:1"))
    assert.equal("2001:db8::2:1", inet.normalize("2001:db8::0:2:1"))
    -- 4.2.2 a single zero group is never "::"
    assert.equal("2001:db8:0:1:1:1:1:1", inet.normalize("2001:db8:0:1:1:1:1:1"))
    assert.equal("2001:db8:0:1:1:1:1:1", inet.normalize("2001:db8::1:1:1:1:1"))
    -- 4.2.3 the longest run, the leftmost on a tie
    assert.equal("2001:0:0:1::1", inet.normalize("2001:0:0:1:0:0:0:1"))
    assert.equal("2001:db8::1:0:0:1", inet.normalize("2001:db8:0:0:1:0:0:1"))
    -- 4.3 lowercase
    assert.equal("2001:db8::abcd", inet.normalize("2001:DB8::ABCD"))
    assert.equal("2001:db8::abcd", inet.normalize("2001:Db8::aBcD"))
    -- the edges
    assert.equal("::", inet.normalize("0:0:0:0:0:0:0:0"))
    assert.equal("::1", inet.normalize("0:0:0:0:0:0:0:1"))
    assert.equal("1::", inet.normalize("1:0:0:0:0:0:0:0"))
    assert.equal("1:2:3:4:5:6:7:0", inet.normalize("1:2:3:4:5:6:7::"))
    assert.equal("0:2:3:4:5:6:7:8", inet.normalize("::2:3:4:5:6:7:8"))
  end)

  it("prints IPv4-mapped addresses dotted and every other ::/96 address in hex", function()
    assert.equal("::ffff:192.0.2.1", inet.normalize("::ffff:192.0.2.1"))
    assert.equal("::ffff:192.0.2.1", inet.normalize("0:0:0:0:0:FFFF:C000:0201"))
    assert.equal("::ffff:0.0.0.0", inet.normalize("::ffff:0:0"))
    -- ::1.2.3.4 is IPv4-compatible, not mapped: hex (glibc prints it dotted)
    assert.equal("::102:304", inet.normalize("::1.2.3.4"))
    assert.equal("::c000:201", inet.normalize("::192.0.2.1"))
    assert.equal("1:2:3:4:5:6:c000:201", inet.normalize("1:2:3:4:5:6:192.0.2.1"))
    -- near misses of the mapped prefix stay hex
    assert.equal("::fffe:c000:201", inet.normalize("::fffe:192.0.2.1"))
    assert.equal("::1:ffff:c000:201", inet.normalize("::1:ffff:192.0.2.1"))
  end)

  it("keeps zones verbatim and prefixes, IPv6 zones only", function()
    assert.equal("fe80::1%eth0", inet.normalize("FE80:0:0:0:0:0:0:0001%eth0"))
    assert.equal("fe80::1%Eth0.100", inet.normalize("fe80::1%Eth0.100"))
    assert.equal("fe80::1%3", inet.normalize("fe80::0001%3"))
    assert.equal("fe80::1%eth0/64", inet.normalize("fe80::1%eth0/64"))
    assert.equal("2001:db8::/32", inet.normalize("2001:0DB8::/32"))
    assert.equal("2001:db8::1/128", inet.normalize("2001:db8::1/128"))
    assert.equal("::/0", inet.normalize("::/0"))
    assert.equal("192.0.2.0/24", inet.normalize("192.0.2.0/24"))
    assert.equal("198.51.100.7/32", inet.normalize("198.51.100.7/32"))
    assert.equal("0.0.0.0/0", inet.normalize("0.0.0.0/0"))
    assert.equal("203.0.113.255", inet.normalize("203.0.113.255"))
  end)

  -- each form the contract rejects, with the reason the message must give
  local rejected = {
    { " 2001:db8::1", "IPv6", "surrounding white space" },
    { "2001:db8::1 ", "IPv6", "surrounding white space" },
    { " 192.0.2.1", "IPv4", "surrounding white space" },
    { "[2001:db8::1]", "IPv6", "brackets" },
    { "[2001:db8::1]:443", "IPv6", "brackets" },
    { "192.0.2.1:80", "IPv4", "port" },
    { "01.2.3.4", "IPv4", "leading zero in an octet" },
    { "192.0.2.01", "IPv4", "leading zero in an octet" },
    { "127.1", "IPv4", "fewer than four octets" },
    { "0x7f.0.0.1", "IPv4", "not a decimal number" },
    { "1.2.3.4.5", "IPv4", "more than four octets" },
    { "256.0.0.1", "IPv4", "octet above 255" },
    { "2001:db8::12345", "IPv6", "more than four hex digits" },
    { "12345::", "IPv6", "more than four hex digits" },
    { ":::", "IPv6", "':::'" },
    { "1:::2", "IPv6", "':::'" },
    { "1::2::3", "IPv6", "more than one '::'" },
    { "1:2:3:4:5:6:7:8:9", "IPv6", "more than eight groups" },
    { "1:2:3:4:5:6:7", "IPv6", "fewer than eight groups" },
    { "1:2:3:4:5:6:7:8::", "IPv6", "at least one zero group" },
    { ":1:2:3:4:5:6:7", "IPv6", "leading single ':'" },
    { "1:2:3:4:5:6:7:", "IPv6", "trailing single ':'" },
    { "::1.2.3.4:5", "IPv6", "last 32 bits" },
    { "::1.2.3.04", "IPv6", "leading zero in an octet" },
    { "1.2.3.4%eth0", "IPv4", "zone is only allowed on IPv6" },
    { "fe80::1%", "IPv6", "empty zone" },
    { "fe80::1%/64", "IPv6", "empty zone" },
    { "fe80::1%eth 0", "IPv6", "zone may hold only" },
    { "2001:db8::/129", "IPv6", "prefix length above 128" },
    { "192.0.2.0/33", "IPv4", "prefix length above 32" },
    { "2001:db8::/032", "IPv6", "leading zero in the prefix length" },
    { "2001:db8::/", "IPv6", "empty prefix length" },
    { "2001:db8::/x", "IPv6", "prefix length is not a decimal number" },
    { "2001:db8::g", "IPv6", "unexpected character" },
    { "", nil, "empty string" },
    { "localhost", nil, "not an IPv4 or IPv6 address" },
  }
  for _, case in ipairs(rejected) do
    local text, fam, reason = case[1], case[2], case[3]
    it("rejects '" .. text .. "' naming the input and the reason (" .. reason .. ")", function()
      local v, msg = inet.normalize(text)
      assert.is_nil(v)
      local prefix = "invalid " .. (fam and fam .. " address" or "address") .. " '" .. text .. "': "
      assert.equal(prefix, msg:sub(1, #prefix))
      assert.truthy(msg:find(reason, #prefix, true), msg)
    end)
  end

  it("gives the issue's example message exactly", function()
    assert.same({ nil, "invalid IPv6 address '1::2::3': more than one '::'" },
      { inet.normalize("1::2::3") })
  end)

  it("shows control bytes of a bad input escaped and cuts long inputs", function()
    local _, msg = inet.normalize("::1\0\n")
    assert.equal("invalid IPv6 address '::1\\x00\\x0a': surrounding white space", msg)
    local _, long = inet.normalize(string.rep("1", 5000))
    assert.truthy(#long < 200, long)
    assert.matches("%.%.%.'", long)
  end)

  it("takes a text with an embedded NUL as invalid, not as the text before it", function()
    -- C must see the whole Lua string: "192.0.2.1\0x" is not 192.0.2.1.
    local cases = { "192.0.2.1\0x", "192.0.2.1\0", "2001:db8::1\0", "2001:db8::1\0/64",
                    "fe80::1%eth0\0x", "192.0.2.0/24\0", "\0" .. "::1", "::ffff:192.0.2.1\0" }
    for _, text in ipairs(cases) do
      local bare = text:match("^[^%z]*")
      local what = ("%q"):format(text)
      for _, f in ipairs { "normalize", "family", "network", "pton" } do
        local v, msg = inet[f](text)
        assert.is_nil(v, f .. " " .. what)
        assert.truthy(msg:find("\\x00", 1, true), f .. " " .. what .. ": " .. tostring(msg))
      end
      local v, msg = inet.contains("::/0", text)
      assert.is_nil(v, "contains " .. what)
      assert.truthy(msg:find("\\x00", 1, true), msg)
      v, msg = inet.contains(text, bare)
      assert.is_nil(v, "contains " .. what)
      assert.truthy(msg:find("\\x00", 1, true), msg)
      assert.is_false(inet.equal(text, bare), "equal " .. what)
      assert.is_false(inet.equal(bare, text), "equal " .. what)
      local out, used, bad = inet.normalize_lines(text .. "\n")
      assert.same({ "Invalid address " .. text .. "\n", #text + 1, 1 }, { out, used, bad }, what)
    end
    -- rewrite copies text: the NUL ends the address and stays where it was
    assert.equal("a 2001:db8::1\0x b", inet.rewrite("a 2001:DB8::1\0x b"))
  end)

  it("raises on misuse: a non-string argument", function()
    assert.has_error(function() inet.normalize() end)
    assert.has_error(function() inet.normalize({}) end)
    assert.has_error(function() inet.equal("::1") end)
  end)

  it("is idempotent: canonical text normalizes to itself", function()
    for _, t in ipairs { "2001:DB8::1", "::FFFF:1.2.3.4", "::1.2.3.4", "fe80::01%eth0/64", "10.0.0.1/8" } do
      local c = inet.normalize(t)
      assert.equal(c, inet.normalize(c))
    end
  end)
end)

describe("netops.inet.pton and ntop", function()
  it("convert between text and 4 or 16 network-order bytes", function()
    assert.equal("\192\0\2\1", inet.pton("192.0.2.1"))
    local b = inet.pton("2001:DB8::1")
    assert.equal(16, #b)
    assert.equal("\32\1\13\184" .. ("\0"):rep(11) .. "\1", b)
    assert.equal("2001:db8::1", inet.ntop(b))
    assert.equal("192.0.2.1", inet.ntop("\192\0\2\1"))
    assert.equal("::ffff:192.0.2.1", inet.ntop(("\0"):rep(10) .. "\255\255\192\0\2\1"))
    assert.equal("::102:304", inet.ntop(("\0"):rep(12) .. "\1\2\3\4"))
  end)

  it("pton takes a bare address only, with a message otherwise", function()
    local v, msg = inet.pton("fe80::1%eth0")
    assert.is_nil(v)
    assert.matches("^invalid IPv6 address 'fe80::1%%eth0': zone not allowed here", msg)
    v, msg = inet.pton("2001:db8::/32")
    assert.is_nil(v)
    assert.matches("prefix not allowed here", msg)
    v, msg = inet.pton("01.2.3.4")
    assert.is_nil(v)
    assert.matches("leading zero", msg)
  end)

  it("ntop raises on a length other than 4 or 16", function()
    assert.has_error(function() inet.ntop("") end)
    assert.has_error(function() inet.ntop("\1\2\3") end)
    assert.has_error(function() inet.ntop(("\0"):rep(15)) end)
    assert.has_error(function() inet.ntop(("\0"):rep(17)) end)
    assert.has_error(function() inet.ntop(nil) end)
  end)

  it("round-trips every 16-byte pattern of a sample", function()
    math.randomseed(7)
    for _ = 1, 2000 do
      local t = {}
      for i = 1, 16 do t[i] = math.random(0, 3) == 0 and 0 or math.random(0, 255) end
      local b = string.char(table.unpack(t))
      assert.equal(b, inet.pton(inet.ntop(b)))
    end
  end)
end)

describe("netops.inet.equal and family", function()
  it("equal: different spellings of one address", function()
    assert.is_true(inet.equal("2001:0DB8:AAAA:0000:0000:0000:0000:000C", "2001:db8:aaaa::c"))
    assert.is_true(inet.equal("::ffff:192.0.2.1", "::FFFF:C000:201"))
    assert.is_true(inet.equal("fe80::1%eth0/64", "FE80:0::0001%eth0/64"))
    assert.is_true(inet.equal("192.0.2.1", "192.0.2.1"))
  end)

  it("equal: false for other addresses, prefixes, zones, families or invalid text", function()
    assert.is_false(inet.equal("2001:db8::1", "2001:db8::2"))
    assert.is_false(inet.equal("2001:db8::/32", "2001:db8::/33"))
    assert.is_false(inet.equal("2001:db8::/32", "2001:db8::"))
    assert.is_false(inet.equal("fe80::1%eth0", "fe80::1%eth1"))
    assert.is_false(inet.equal("fe80::1%eth0", "fe80::1"))
    assert.is_false(inet.equal("192.0.2.1", "::ffff:192.0.2.1"))
    assert.is_false(inet.equal("1::2::3", "1::2::3"))
    assert.is_false(inet.equal("", ""))
  end)

  it("family: 4, 6, or nil and a message", function()
    assert.equal(4, inet.family("192.0.2.1"))
    assert.equal(4, inet.family("192.0.2.0/24"))
    assert.equal(6, inet.family("::1"))
    assert.equal(6, inet.family("::ffff:192.0.2.1"))
    assert.equal(6, inet.family("fe80::1%eth0/64"))
    local v, msg = inet.family("127.1")
    assert.is_nil(v)
    assert.matches("^invalid IPv4 address '127.1'", msg)
  end)
end)

describe("netops.inet.network and contains", function()
  it("network clears the host bits and keeps the prefix", function()
    assert.equal("2001:db8::/32", inet.network("2001:db8::1/32"))
    assert.equal("2001:db8:e000::/35", inet.network("2001:DB8:FFFF:FFFF::1/35"))
    assert.equal("192.0.2.0/24", inet.network("192.0.2.77/24"))
    assert.equal("0.0.0.0/0", inet.network("203.0.113.9/0"))
    assert.equal("203.0.113.9/32", inet.network("203.0.113.9/32"))
    assert.equal("::/0", inet.network("2001:db8::1/0"))
    assert.equal("fe80::%eth0/64", inet.network("fe80::1%eth0/64"))
  end)

  it("network needs a prefix and valid text", function()
    local v, msg = inet.network("2001:db8::1")
    assert.is_nil(v)
    assert.matches("no prefix length", msg)
    v, msg = inet.network("2001:db8::1/200")
    assert.is_nil(v)
    assert.matches("above 128", msg)
  end)

  it("contains addresses and longer subnets of the same family", function()
    assert.is_true(inet.contains("2001:db8::/32", "2001:DB8:1::5"))
    assert.is_true(inet.contains("2001:db8::/32", "2001:db8:ffff::/48"))
    assert.is_true(inet.contains("2001:db8::1/32", "2001:db8::2"))
    assert.is_true(inet.contains("192.0.2.0/24", "192.0.2.255"))
    assert.is_true(inet.contains("0.0.0.0/0", "203.0.113.1"))
    assert.is_true(inet.contains("192.0.2.1", "192.0.2.1"))
    assert.is_false(inet.contains("2001:db8::/32", "2001:db9::1"))
    assert.is_false(inet.contains("2001:db8::/32", "2001::/16"))
    assert.is_false(inet.contains("192.0.2.0/24", "198.51.100.1"))
    assert.is_false(inet.contains("192.0.2.1", "192.0.2.2"))
    assert.is_false(inet.contains("::/0", "192.0.2.1"))
    assert.is_false(inet.contains("::ffff:0:0/96", "192.0.2.1"))
    assert.is_false(inet.contains("fe80::%eth0/64", "fe80::1%eth1"))
    assert.is_true(inet.contains("fe80::%eth0/64", "fe80::1%eth0"))
  end)

  it("contains returns nil and a message for invalid text", function()
    local v, msg = inet.contains("2001:db8::/32", "2001:db8::zz")
    assert.is_nil(v)
    assert.matches("'2001:db8::zz'", msg)
    v, msg = inet.contains("10.0.0.0/08", "10.0.0.1")
    assert.is_nil(v)
    assert.matches("'10.0.0.0/08'", msg)
  end)
end)

describe("netops.inet.rewrite", function()
  it("canonicalizes the addresses of an ip6tables-save text, every other byte untouched", function()
    local input = table.concat({
      "# Generated by ip6tables-save v1.8.9 (nf_tables) on Wed Nov 25 08:00:00 2026",
      "*filter",
      ":INPUT DROP [0:0]",
      ":FORWARD DROP [12:3456]",
      "-A INPUT -s 2001:0DB8:AAAA:0000:0000:0000:0000:000C/128 -j ACCEPT",
      "-A INPUT -s 2001:db8:0:0:0:0:cafe:1111/128 -p tcp -m tcp --dport 22 -j ACCEPT",
      "-A INPUT -d FE80::0001/64 -i eth0 -j ACCEPT",
      "-A FORWARD -s 2001:db8::/32 -m mac --mac-source 00:1A:2B:3C:4D:5E -j ACCEPT",
      "-A FORWARD -m time --timestart 08:30:00 --timestop 17:45:00 -j ACCEPT",
      "-A FORWARD -s ::FFFF:C000:0201 -m comment --comment \"old host 2001:DB8::1:0:0:0:4\" -j DROP",
      "COMMIT",
      "# Completed on Wed Nov 25 08:00:00 2026",
      "",
    }, "\n")
    local want = table.concat({
      "# Generated by ip6tables-save v1.8.9 (nf_tables) on Wed Nov 25 08:00:00 2026",
      "*filter",
      ":INPUT DROP [0:0]",
      ":FORWARD DROP [12:3456]",
      "-A INPUT -s 2001:db8:aaaa::c/128 -j ACCEPT",
      "-A INPUT -s 2001:db8::cafe:1111/128 -p tcp -m tcp --dport 22 -j ACCEPT",
      "-A INPUT -d fe80::1/64 -i eth0 -j ACCEPT",
      "-A FORWARD -s 2001:db8::/32 -m mac --mac-source 00:1A:2B:3C:4D:5E -j ACCEPT",
      "-A FORWARD -m time --timestart 08:30:00 --timestop 17:45:00 -j ACCEPT",
      "-A FORWARD -s ::ffff:192.0.2.1 -m comment --comment \"old host 2001:db8:0:1::4\" -j DROP",
      "COMMIT",
      "# Completed on Wed Nov 25 08:00:00 2026",
      "",
    }, "\n")
    assert.equal(want, inet.rewrite(input))
  end)

  it("canonicalizes an nft ruleset, leaving MACs, versions and names alone", function()
    local input = [[
table inet filter { # handle 1
	set allowed6 {
		type ipv6_addr
		flags interval
		elements = { 2001:DB8:0:0::/64, 2001:db8:1::0/48,
			     2001:0db8:0002:0000:0000:0000:0000:0001 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ip6 saddr @allowed6 accept
		ip6 daddr fe80::0:1%eth0 accept
		ip saddr { 192.0.2.1, 198.51.100.0/24 } accept
		ether saddr 00:11:22:33:44:55 drop
		meta time "2026-11-25 12:34:56" drop comment "nftables v1.0.6 on 10.0.0.1"
		ip6 saddr [2001:DB8::5]:8080 drop
	}
}
]]
    local want = [[
table inet filter { # handle 1
	set allowed6 {
		type ipv6_addr
		flags interval
		elements = { 2001:db8::/64, 2001:db8:1::/48,
			     2001:db8:2::1 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ip6 saddr @allowed6 accept
		ip6 daddr fe80::1%eth0 accept
		ip saddr { 192.0.2.1, 198.51.100.0/24 } accept
		ether saddr 00:11:22:33:44:55 drop
		meta time "2026-11-25 12:34:56" drop comment "nftables v1.0.6 on 10.0.0.1"
		ip6 saddr [2001:db8::5]:8080 drop
	}
}
]]
    assert.equal(want, inet.rewrite(input))
  end)

  it("leaves tokens that are not a whole valid address as they are", function()
    for _, t in ipairs {
      "00:1a:2b:3c:4d:5e", "12:34:56", "12:34:56.789", "v1.2.3", "1.2.3.4.5", "std::map",
      "Foo::Bar::baz", "1::2::3", "2001:DB8::/129", "2001:DB8::1x", "x2001:DB8::1",
      "20:00:00:25:b5:00:00:0f", "10:00 - 12:00", "a:b", "::::",
    } do
      assert.equal(t, inet.rewrite(t))
      assert.equal("<" .. t .. ">", inet.rewrite("<" .. t .. ">"))
    end
  end)

  it("finds addresses next to punctuation", function()
    assert.equal("from 2001:db8::1: refused", inet.rewrite("from 2001:DB8::1: refused"))
    assert.equal("see 2001:db8::2.", inet.rewrite("see 2001:DB8::2."))
    assert.equal("(2001:db8::3),'2001:db8::4'", inet.rewrite("(2001:DB8::3),'2001:0db8::4'"))
    assert.equal("src=2001:db8::5 dst=::1", inet.rewrite("src=2001:DB8::5 dst=0::1"))
    assert.equal("2001:db8::1-2001:db8::9", inet.rewrite("2001:db8::0001-2001:DB8::9"))
  end)

  it("agrees with normalize on a text that is one IPv6 address", function()
    math.randomseed(4291)
    for _ = 1, 3000 do
      local w = {}
      for k = 1, 8 do
        local v = math.random(0, 2) == 0 and 0 or math.random(0, 65535)
        w[k] = (math.random(0, 1) == 0 and "%X" or "%04x"):format(v)
      end
      local t = table.concat(w, ":")
      if math.random(0, 1) == 0 then t = t:gsub(":0+:0+:", "::", 1) end
      local n = assert(inet.normalize(t))
      assert.equal(n, inet.rewrite(t))
      assert.equal("addr " .. n .. ", ok", inet.rewrite("addr " .. t .. ", ok"))
    end
  end)

  it("rewrite_lines consumes complete lines only, all when final", function()
    local out, used = inet.rewrite_lines("2001:DB8::1\n2001:DB8::2\n2001:DB")
    assert.equal("2001:db8::1\n2001:db8::2\n", out)
    assert.equal(24, used)
    out, used = inet.rewrite_lines("2001:DB8::3", true)
    assert.equal("2001:db8::3", out)
    assert.equal(11, used)
    out, used = inet.rewrite_lines("no newline")
    assert.equal("", out)
    assert.equal(0, used)
  end)
end)

describe("netops.inet.normalize_lines", function()
  it("answers each complete line, counts the invalid ones, keeps the rest", function()
    local out, used, bad = inet.normalize_lines("2001:DB8::1\nnope\n\n::1.2.3.4\n2001:D")
    assert.equal("2001:db8::1\nInvalid address nope\n\n::102:304\n", out)
    assert.equal(#"2001:DB8::1\nnope\n\n::1.2.3.4\n", used)
    assert.equal(1, bad)
    out, used, bad = inet.normalize_lines("2001:DB8::2", true)
    assert.same({ "2001:db8::2\n", 11, 0 }, { out, used, bad })
  end)

  it("answers every line as an independent RFC 5952 formatter does", function()
    local input, want = {}, {}
    math.randomseed(11)
    local broken = {   -- each turns a valid text into an invalid one
      function(t) return t .. (":1"):rep(8) end,         -- nine groups or more
      function(t)                                         -- a group of five digits
        return (t:gsub("^%x+", function(x) return ("1%04x"):format(tonumber(x, 16)) end, 1))
      end,
      function(t) return t:gsub(":", ":::", 1) end,
      function(t) return t:gsub(":", "::", 1):gsub("(.*):", "%1::", 1) end,  -- two "::"
      function(t) return t:gsub("%x$", "g") end,
    }
    for i = 1, 3000 do
      local g = {}
      for k = 1, 8 do g[k] = math.random(0, 2) == 0 and math.random(0, 65535) or 0 end
      if g[1] | g[2] | g[3] | g[4] | g[5] == 0 then g[3] = i end
      local t = {}
      for k = 1, 8 do t[k] = (math.random(0, 1) == 0 and "%04X" or "%x"):format(g[k]) end
      local l = table.concat(t, ":")
      local z = i % 2 == 0 and l:find(":0+:")          -- some inputs compress one zero run
      if z then l = l:gsub(":0+:", "::", 1) end
      if i % 3 == 0 then
        l = broken[i // 3 % #broken + 1](l)
        want[i] = "Invalid address " .. l
      else
        want[i] = rfc5952(g)
      end
      input[i] = l
    end
    local out, used, bad = inet.normalize_lines(table.concat(input, "\n") .. "\n")
    local got = lines_of(out)
    for i = 1, #want do
      if got[i] ~= want[i] then assert.equal(want[i], got[i], "line " .. i .. ": " .. input[i]) end
    end
    assert.equal(#want, #got)
    assert.equal(1000, bad)
    assert.equal(#table.concat(input, "\n") + 1, used)
    for i = 1, 30 do   -- and normalize() agrees, one address at a time
      assert.equal(not want[i]:match("^Invalid") and want[i] or nil, (inet.normalize(input[i])))
    end
  end)
end)

describe("the normalize command", function()
  local dir
  before_each(function() dir = sh.tmpdir() end)
  after_each(function() sh.rmtree(dir) end)

  it("prints the seed's addresses canonical, one line each, exit 0", function()
    local out, code = sh.run(sh.cmd("normalize"), { stdin =
      "2001:db8:0:0:0:0:cafe:1111\n2001:db8::a:1:2:3:4\n2001:0DB8:AAAA:0000:0000:0000:0000:000C\n2001:db8::1:0:0:0:4\n" })
    assert.equal(0, code)
    assert.equal("2001:db8::cafe:1111\n2001:db8:0:a:1:2:3:4\n2001:db8:aaaa::c\n2001:db8:0:1::4\n", out)
  end)

  it("answers line N with line N, says Invalid address <input>, exits 1", function()
    local out, code = sh.run(sh.cmd("normalize"), { stdin =
      "::1\n1::2::3\n\n 192.0.2.1\n192.0.2.1\nfe80::1%eth0/64\n2001:DB8::1" })
    assert.equal(1, code)
    assert.same({ "::1", "Invalid address 1::2::3", "",
      "Invalid address  192.0.2.1", "192.0.2.1", "fe80::1%eth0/64", "2001:db8::1" }, lines_of(out))
  end)

  it("copies blank and # comment lines as they are and keeps CRLF line ends", function()
    local input = "# routers\r\n2001:0DB8::0001\r\n\r\n\n  \t\n  # spare\n192.0.2.1\r\n::0:2"
    local out, code = sh.run(sh.cmd("normalize"), { stdin = input })
    assert.equal(0, code, out)
    assert.equal("# routers\r\n2001:db8::1\r\n\r\n\n  \t\n  # spare\n192.0.2.1\r\n::2\n", out)
    -- an invalid CRLF line: named without its CR, the CRLF kept
    out, code = sh.run(sh.cmd("normalize"), { stdin = "1::2::3\r\n" })
    assert.equal(1, code)
    assert.equal("Invalid address 1::2::3\r\n", out)
    -- --rewrite copies everything but the addresses anyway
    out, code = sh.run(sh.cmd("normalize", "--rewrite"), { stdin = input })
    assert.equal(0, code)
    assert.equal(input:gsub("2001:0DB8::0001", "2001:db8::1"):gsub("::0:2$", "::2"), out)
  end)

  it("names an address given where a file was expected and says how to normalize it", function()
    local out, code = sh.run(sh.cmd("normalize", "2001:DB8::1"), { stderr = true })
    assert.equal(2, code)
    assert.equal("normalize: 2001:DB8::1: No such file or directory (to normalize an address, "
      .. "give it on standard input: echo 2001:DB8::1 | normalize)\n", out)
    -- a missing file that is no address: the plain message
    out, code = sh.run(sh.cmd("normalize", dir .. "/hosts"), { stderr = true })
    assert.equal(2, code)
    assert.equal("normalize: " .. dir .. "/hosts: No such file or directory\n", out)
  end)

  it("prints nothing and exits 0 on empty input", function()
    local out, code = sh.run(sh.cmd("normalize"), { stdin = "" })
    assert.equal(0, code)
    assert.equal("", out)
  end)

  it("reads the named files in order, '-' for standard input", function()
    sh.write(dir .. "/a", "2001:DB8::A\n")
    sh.write(dir .. "/b", "2001:DB8::B\n2001:DB8::C")
    local out, code = sh.run(sh.cmd("normalize", dir .. "/a", "-", dir .. "/b"), { stdin = "::0:1\n" })
    assert.equal(0, code)
    assert.equal("2001:db8::a\n::1\n2001:db8::b\n2001:db8::c\n", out)
  end)

  it("names a file it cannot read and exits 2", function()
    local out, code = sh.run(sh.cmd("normalize", dir .. "/missing"), { stderr = true })
    assert.equal(2, code)
    assert.matches("normalize: .*/missing: No such file or directory", out)
    out, code = sh.run(sh.cmd("normalize", dir), { stderr = true })
    assert.equal(2, code)
    assert.matches("Is a directory", out)
  end)

  it("still reads the other files when one cannot be read, and exits 2", function()
    sh.write(dir .. "/a", "2001:DB8::A\n")
    sh.write(dir .. "/c", "2001:DB8::C\n")
    local out, code = sh.run(sh.cmd("normalize", dir .. "/a", dir .. "/missing", dir .. "/c"))
    assert.equal(2, code)
    assert.equal("2001:db8::a\n2001:db8::c\n", out)
    local err = sh.run(sh.join(sh.cmd("normalize", dir .. "/a", dir .. "/missing", dir .. "/c"))
      .. " 2>&1 >/dev/null")
    assert.equal("normalize: " .. dir .. "/missing: No such file or directory\n", err)
  end)

  it("refuses an unknown option in one line with a suggestion and the usage, exit 2", function()
    local out, code = sh.run(sh.join(sh.cmd("normalize", "--rewrit")) .. " 2>&1 >/dev/null")
    assert.equal(2, code)
    local first, rest = out:match("^([^\n]*)\n(.*)$")
    assert.equal("normalize: unknown option '--rewrit'; did you mean '--rewrite'?", first)
    assert.matches("^Usage: normalize ", rest)
    out, code = sh.run(sh.cmd("normalize", "--bogus", dir .. "/never-read"), { stderr = true })
    assert.equal(2, code)
    assert.matches("^normalize: unknown option '%-%-bogus'\nUsage: normalize ", out)
    out, code = sh.run(sh.cmd("normalize", "--rewrite=yes"), { stderr = true })
    assert.equal(2, code)
    assert.matches("^normalize: option '%-%-rewrite' does not take arguments\n", out)
  end)

  it("--help prints the usage and options on stdout, exit 0; --version the netops version", function()
    local out, code = sh.run(sh.cmd("normalize", "--help"))
    assert.equal(0, code)
    assert.matches("^Usage: normalize ", out)
    assert.truthy(out:find("--rewrite", 1, true))
    assert.truthy(out:find("Exit status", 1, true))
    assert.equal(0, select(2, sh.run(sh.cmd("normalize", "-h"))))
    out, code = sh.run(sh.cmd("normalize", "--version"), { stderr = true })
    assert.equal(0, code)
    assert.equal(require("netops")._VERSION .. "\n", out)
    assert.matches("^netops %d+%.%d+%.%d+\n$", out)
  end)

  it("runs in-process: main(args) returns the exit status and never exits", function()
    local main = require("netops.cli.normalize").main
    local saved = { stdin = io.stdin, stdout = io.stdout, stderr = io.stderr }
    sh.write(dir .. "/in", "# list\n2001:0DB8::0001\nnope\n")
    local status = {}
    local ok, err = pcall(function()
      io.stdout, io.stderr = assert(io.open(dir .. "/out", "w")), assert(io.open(dir .. "/err", "w"))
      io.stdin = assert(io.open(dir .. "/in", "rb"))
      status[1] = main {}                                 -- standard input
      status[2] = main { dir .. "/in", "--rewrite" }
      status[3] = main { "--version" }
      status[4] = main { "--no-such-option" }
    end)
    for k, f in pairs(saved) do if io[k] ~= f then io[k]:close() end io[k] = f end
    assert(ok, err)
    assert.same({ 1, 0, 0, 2 }, status)
    assert.equal("# list\n2001:db8::1\nInvalid address nope\n# list\n2001:db8::1\nnope\n"
      .. require("netops")._VERSION .. "\n", sh.read(dir .. "/out"))
    assert.matches("^normalize: unknown option '%-%-no%-such%-option'\nUsage: normalize", sh.read(dir .. "/err"))
  end)

  it("keeps line N answering line N across 64 KiB blocks and very long lines", function()
    local input, want = {}, {}
    for i = 1, 20000 do
      if i == 7777 then
        input[i] = ("x"):rep(200000)                 -- longer than several blocks
      elseif i % 97 == 0 then
        input[i] = ("2001:db8::%x::1"):format(i)     -- invalid
      else
        input[i] = ("2001:0DB8:0000:0000:%04X::%x"):format(i, i)
        want[i] = rfc5952 { 0x2001, 0xdb8, 0, 0, i, 0, 0, i }
      end
      want[i] = want[i] or ("Invalid address " .. input[i])
    end
    sh.write(dir .. "/in", table.concat(input, "\n") .. "\n")
    local out, code = sh.run(sh.cmd("normalize", dir .. "/in"))
    assert.equal(1, code)
    local got = lines_of(out)
    assert.equal(#want, #got)
    for i = 1, #want do
      if got[i] ~= want[i] then
        assert.equal(want[i], got[i], "line " .. i)
      end
    end
  end)

  -- Runs examples/normalize.lua in a Lua that counts the bytes its streaming
  -- works on: every byte handed to normalize_lines/rewrite_lines (each scans
  -- all it gets) plus what the C line reader reports it searched and copied.
  local DRIVER = [[
    local script = "examples/normalize.lua"
    package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
    package.cpath = (os.getenv("NETOPS_BUILD") or "build") .. "/?.so;" .. package.cpath
    local inet, core = require "netops.inet", require "netops.core"
    local scanned, copied, readers = 0, 0, {}
    for _, k in ipairs { "normalize_lines", "rewrite_lines" } do
      local f = inet[k]
      inet[k] = function(s, ...) scanned = scanned + #s; return f(s, ...) end
    end
    local make = core.inet._linereader
    if make then
      core.inet._linereader = function(...)
        local r = make(...)
        readers[#readers + 1] = r
        return r
      end
    end
    local exit = os.exit
    os.exit = function(code)
      for _, r in ipairs(readers) do
        local st = r:stats()
        scanned, copied = scanned + st.scanned, copied + st.copied
      end
      io.stderr:write(("scanned %d copied %d\n"):format(scanned, copied))
      exit(code)
    end
    arg = { [0] = script, ... }
    dofile(script)
  ]]

  it("does linear work on a huge line, from a pipe in small pieces as from a file", function()
    -- A 4 MB line between two short ones; a pipe hands it over at most
    -- 64 KiB (here 4 KiB, dd bs=4096) a read.  Work that re-reads the
    -- pending part of the line on every read grows with the square of it.
    local piece = "x 2001:0DB8:0:0::1 "
    local lines = { "2001:0DB8::0001", piece:rep(4 * 1024 * 1024 // #piece), "2001:DB8::2" }
    local input = table.concat(lines, "\n")     -- no newline at the end
    sh.write(dir .. "/in", input)
    sh.write(dir .. "/driver.lua", DRIVER)
    for _, mode in ipairs { "", "--rewrite" } do
      local want
      if mode == "" then
        local w = {}
        for i, l in ipairs(lines) do w[i] = (inet.normalize(l) or "Invalid address " .. l) .. "\n" end
        want = table.concat(w)
      else
        want = inet.rewrite(input)
      end
      local outs = {}
      for _, how in ipairs { "file", "pipe" } do
        local cmd = how == "file" and ("lua5.4 %s/driver.lua %s %s/in"):format(dir, mode, dir)
                    or ("dd if=%s/in bs=4096 status=none | lua5.4 %s/driver.lua %s"):format(dir, dir, mode)
        local _, code = sh.run(cmd .. (" > %s/out 2> %s/err"):format(dir, dir))
        assert.equal(mode == "" and 1 or 0, code, how .. " " .. mode)
        outs[how] = sh.read(dir .. "/out")
        local err = sh.read(dir .. "/err")
        local scanned, copied = err:match("scanned (%d+) copied (%d+)")
        assert.truthy(scanned, err)
        scanned, copied = tonumber(scanned), tonumber(copied)
        local what = ("%s %s: %d bytes in, %d scanned, %d copied"):format(how, mode, #input, scanned, copied)
        assert.is_true(scanned <= 2 * #input + 65536, what)
        assert.is_true(copied <= 4 * #input, what)
      end
      assert.is_true(outs.file == want, "file output differs from the expected text " .. mode)
      assert.is_true(outs.pipe == outs.file, "pipe and file output differ " .. mode)
    end
  end)

  it("answers a line from a pipe before the pipe is closed (tail -f | normalize)", function()
    -- The writer keeps the pipe open until the answer to its first line
    -- came back (or 20 s passed); block-buffered input or output would
    -- leave `got` empty.
    local script = [[
      set -u
      d=$1; cd "$2"
      mkfifo "$d/in$$" "$d/out$$"
      lua5.4 examples/normalize.lua $3 < "$d/in$$" > "$d/out$$" & pid=$!
      exec 3> "$d/in$$" 4< "$d/out$$"
      echo 'from 2001:0DB8::0001' >&3
      got=; read -r -t 20 got <&4
      exec 3>&-
      wait $pid
      echo "got: $got"
    ]]
    local cwd = sh.run("pwd"):gsub("%s+$", "")
    local out = sh.run({ "bash", "-c", script, "bash", dir, cwd, "--rewrite" })
    assert.equal("got: from 2001:db8::1\n", out)
    out = sh.run({ "bash", "-c", script:gsub("from ", ""), "bash", dir, cwd, "" })
    assert.equal("got: 2001:db8::1\n", out)
  end)

  it("--rewrite streams text through rewrite, byte for byte elsewhere", function()
    local text, want = {}, {}
    local rule = "rule %d: -s %s/128 -m mac --mac-source 00:11:22:33:44:%02x at 12:%02d:00"
    for i = 1, 5000 do
      text[i] = rule:format(i, ("2001:0DB8::%X"):format(i), i % 256, i % 60)
      want[i] = rule:format(i, ("2001:db8::%x"):format(i), i % 256, i % 60)
    end
    local input = table.concat(text, "\n") .. "\nno newline at end 2001:DB8::FFFF"
    sh.write(dir .. "/rules", input)
    local out, code = sh.run(sh.cmd("normalize", "--rewrite", dir .. "/rules"))
    assert.equal(0, code)
    assert.equal(table.concat(want, "\n") .. "\nno newline at end 2001:db8::ffff", out)
    assert.truthy(out:find("rule 4095: -s 2001:db8::fff/128 -m mac --mac-source 00:11:22:33:44:ff at 12:15:00", 1, true))
    assert.truthy(out:find("no newline at end 2001:db8::ffff$"))
  end)

  it("prints what the seed's Perl normalizer prints, except ::/96 where glibc is wrong", function()
    local input = seed_input()
    local text = table.concat(input, "\n") .. "\n"
    local ours = lines_of((sh.run(sh.cmd("normalize"), { stdin = text })))
    local perl = lines_of(assert(sh.read(SEED_PL_OUT)))
    if sh.read(SEED_PL) then
      assert.same(perl, lines_of((sh.run({ "perl", SEED_PL }, { stdin = text }))))
    end
    assert.equal(#input, #ours)
    assert.equal(#input, #perl)
    local compat = 0
    for i = 1, #input do
      if ours[i] ~= perl[i] then
        -- glibc prints IPv4-compatible ::/96 dotted; RFC 5952 wants hex
        assert.matches("^::%d+%.%d+%.%d+%.%d+$", perl[i], "line " .. i .. ": " .. input[i])
        assert.equal(inet.normalize(perl[i]), ours[i])
        assert.matches("^::[%x:]+$", ours[i])
        compat = compat + 1
      end
    end
    assert.truthy(compat > 0 and compat < #input / 10, compat)
  end)
end)
