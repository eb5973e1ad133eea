/*
 * ct_text fuzz target: any bytes as a snapshot line.  A line that parses
 * formats, and the formatted line parses back to the same entry; a refused
 * line has a reason.  The splitter takes the same bytes in two blocks.
 */
#include "ct_text.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lines(const uint8_t *data, size_t size)
{
    static struct netops_ct_text_lines r;
    netops_ct_text_lines_init(&r);
    size_t fed = 0, half = size / 2;
    for (;;) {
        const char *line;
        size_t n;
        unsigned long no;
        int k = netops_ct_text_lines_next(&r, &line, &n, &no);
        if (k == NETOPS_CT_TEXT_END)
            break;
        if (k != NETOPS_CT_TEXT_MORE)
            continue;
        char *p;
        size_t room = netops_ct_text_lines_space(&r, &p);
        size_t take = fed < half ? half - fed : size - fed;
        take = take < room ? take : room;
        memcpy(p, data + fed, take);
        fed += take;
        netops_ct_text_lines_added(&r, take);
    }
    if (fed != size)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netops_ct_entry e, again;
    char why[NETOPS_CT_TEXT_WHY], out[NETOPS_CT_TEXT_MAX];
    size_t len;
    int r = netops_ct_text_parse((const char *)data, size, &e, why, sizeof why);
    if (r == EINVAL && why[0] == '\0')
        abort();                            /* a refusal always says why */
    if (r == 0) {
        if (netops_ct_text_format(&e, out, sizeof out, &len) != 0 || len != strlen(out))
            abort();                        /* every entry read can be written */
        if (netops_ct_text_parse(out, len, &again, why, sizeof why) != 0)
            abort();
        if (memcmp(&e, &again, sizeof e) != 0)
            abort();                        /* and reads back the same */
    }
    check_lines(data, size);
    return 0;
}
