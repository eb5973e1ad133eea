--- netops.inet: one canonical text for every IPv4 and IPv6 address.
-- IPv6 text is RFC 5952 (lowercase, no leading zeros, the longest run of two
-- or more zero groups as "::", leftmost on a tie, IPv4-mapped addresses as
-- ::ffff:a.b.c.d, every other address in hex); IPv4 is four strict decimal
-- octets.  The work is done in C (csrc/inet.c).
--
-- Invalid text is not an error: the functions that take text return
-- `nil, message`, the message naming the input and the reason, e.g.
-- `invalid IPv6 address '1::2::3': more than one '::'`.  The whole Lua
-- string is the text: one with an embedded NUL byte ("192.0.2.1\0x") is
-- invalid, never read as the part before the NUL.  A non-string argument is
-- misuse and raises.
-- @module netops.inet
local core = require "netops.core"
local c = core.inet

local inet = {}

--- Canonical text of `address[%zone][/prefix]`, or nil, message.
-- @function normalize
inet.normalize = c.normalize

--- The 4- or 16-byte binary form of a bare address (no zone, no prefix),
-- or nil, message.
-- @function pton
inet.pton = c.pton

--- Canonical text of a 4- or 16-byte binary address; raises on any other length.
-- @function ntop
inet.ntop = c.ntop

--- True when both texts are valid and denote the same address (and the same
-- prefix and zone, when given); false otherwise.
-- @function equal
inet.equal = c.equal

--- 4 or 6 for a valid text (zone and prefix allowed), or nil, message.
-- @function family
inet.family = c.family

--- The canonical network of `address/prefix` (host bits cleared):
-- `2001:db8::1/32` gives `2001:db8::/32`.  nil, message when invalid or
-- when there is no prefix.
-- @function network
inet.network = c.network

--- Whether `network` (address/prefix; without a prefix, a single address)
-- contains `address` (which may carry a prefix: a subnet must be at least as
-- long).  Different families: false.  nil, message when either is invalid.
-- @function contains
inet.contains = c.contains

--- `text` with every valid IPv6 address (with its zone and /prefix) in
-- canonical form and every other byte untouched; valid IPv4 text is
-- canonical already.  MAC addresses, times, version strings, words such as
-- `std::map`, and eight two-digit groups (WWNs) stay as they are.
-- @function rewrite
inet.rewrite = c.rewrite

--- For streams: rewrite the complete lines of `text` (all of it when
-- `final`); returns output, bytes consumed.  Keep `text:sub(consumed + 1)`
-- for the next call.
-- @function rewrite_lines
inet.rewrite_lines = c.rewrite_lines

--- For streams: one output line per complete input line of `text` (all of
-- it when `final`): the canonical text, or `Invalid address <line>`; a
-- blank line, or one whose first non-blank byte is `#`, as it is; a line
-- ending in CRLF keeps its CRLF.  Returns output, bytes consumed, number of invalid lines.
-- @function normalize_lines
inet.normalize_lines = c.normalize_lines

--- Bytes that any canonical address text fits in, NUL included.
inet.ADDR_MAX = c.ADDR_MAX

return inet
