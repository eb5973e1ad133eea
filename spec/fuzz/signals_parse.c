/* signals_parse.c - libFuzzer target: the parsers of csrc/signals.c and
 * csrc/proc.c on arbitrary bytes (names, masks, status and stat text). */
#include "proc.h"
#include "signals.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    int out[4 * SIG_MASK_MAX_DIGITS + 8];
    char name[SIG_NAME_MAX], hex[SIG_MASK_MAX_DIGITS + 2];
    struct netops_proc_status st;
    struct netops_proc_stat ps;
    size_t n, n2;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    int sig = netops_sig_number(text, size);
    if (sig) {
        if (!netops_sig_name(sig, name) || netops_sig_number(name, strlen(name)) != sig)
            abort();
    }
    int e = netops_sig_mask_decode(text, size, out, sizeof out / sizeof out[0], &n);
    if (e != 0 && e != EINVAL)
        abort();                        /* out holds 4 a digit: never ENOSPC */
    if (e == 0 && n > 0) {
        size_t d = netops_sig_mask_encode(out, n, hex, sizeof hex);
        int again[4 * SIG_MASK_MAX_DIGITS + 8];
        if (d == 0 || netops_sig_mask_decode(hex, d, again, sizeof again / sizeof again[0], &n2) != 0
            || n2 != n || memcmp(out, again, n * sizeof *out) != 0)
            abort();
        for (size_t i = 0; i < n; i++)
            if (!netops_sig_mask_has(text, size, out[i]))
                abort();
    }
    if (netops_proc_parse_status(text, size, &st) == 0) {
        const struct netops_proc_mask *m[5] = { &st.pending, &st.shared_pending, &st.blocked,
                                         &st.ignored, &st.caught };
        for (int i = 0; i < 5; i++)
            if (m[i]->hex < text || m[i]->hex + m[i]->len > text + size
                || netops_sig_mask_decode(m[i]->hex, m[i]->len, out, sizeof out / sizeof out[0], &n) != 0)
                abort();
    }
    (void)netops_proc_parse_stat(text, size, &ps);
    free(text);
    return 0;
}
