/* fuzz_rfc3339.c - RFC 3339 date-times as a CA writes them (ARI windows): parsing never reads past
 * the string, and an accepted time formats and parses back to itself. The first eight bytes, as
 * any time_t at all (a lineage record's), must format as a time that parses. */
#include "fuzz.h"

#include "rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size), buf[64];
    time_t t, back;

    if (s == NULL)
        return 0;
    if (size >= sizeof(int64_t)) {
        int64_t any;
        memcpy(&any, data, sizeof(any));
        rfc3339_format((time_t)any, buf, sizeof(buf));
        if (strlen(buf) != 20 || !rfc3339_parse(buf, &back))
            abort();
    }
    if (rfc3339_parse(s, &t)) {
        rfc3339_format(t, buf, sizeof(buf));
        if (!rfc3339_parse(buf, &back) || back != t)
            abort(); /* what nacme writes it must read back unchanged */
    }
    free(s);
    return 0;
}
