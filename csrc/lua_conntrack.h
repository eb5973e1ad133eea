/*
 * lua_conntrack.h - what the two halves of the netops.ctnetlink binding
 * share: lua_conntrack.c (the handle, entries and filters as tables) and
 * lua_ct_text.c (snapshot lines: parse, format, load, ct:restore, ct:save).
 * Binding code only: everything here takes a lua_State.
 */
#ifndef NETOPS_LUA_CONNTRACK_H
#define NETOPS_LUA_CONNTRACK_H

#include "luax.h"
#include "conntrack.h"
#include "inet.h"

#define NETOPS_CTL_TYPE "netops.Conntrack"

/*
 * Formatted addresses, cached per dump or file: a table holds few distinct
 * addresses (its hosts) across many entries, so most are formatted once.
 */
#define ADDR_CACHE 256
struct addr_slot {
    unsigned char a[16];
    uint8_t family, len;
    char s[NETOPS_ADDR_MAX];
};
typedef struct addr_slot AddrCache[ADDR_CACHE];

/* Push the entry table for e (cache may be NULL; else zeroed before first use). */
void netops_ctl_push_entry(lua_State *L, const struct netops_ct_entry *e, AddrCache *cache);
/* The entry table at idx into *e: NULL, or err holding what is wrong.
 * A string with a NUL byte raises.  The stack is left as it was. */
const char *netops_ctl_to_entry(lua_State *L, int idx, struct netops_ct_entry *e, char *err,
                                size_t errsize);
/* The filter table at arg (nil: NULL).  Misuse raises. */
const struct netops_ct_filter *netops_ctl_to_filter(lua_State *L, int arg,
                                                    struct netops_ct_filter *f);
/* The open handle at arg 1 (raises when closed); *netns its namespace ("" none). */
struct netops_ct *netops_ctl_check(lua_State *L, const char **netns);
/* Push nil, "conntrack[ in netns N]: what: why", err; returns 3. */
int netops_ctl_fail(lua_State *L, const char *netns, const char *what, int err);

/* lua_ct_text.c: adds parse, format, load to the module table at the top
 * and restore, save to the handle's methods. */
void netops_ctl_open_text(lua_State *L);

#endif
