/* spec/fuzz/conntrack_parse.c - libFuzzer target: netops_ct_parse on any
 * bytes (the ctnetlink records a dump or an event delivers). */
#include "conntrack.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static _Alignas(8) unsigned char buf[65536];
    struct netops_ct_entry e;
    if (size > sizeof buf)
        size = sizeof buf;
    memcpy(buf, data, size);
    (void)netops_ct_parse(buf, size, &e);
    return 0;
}
