/* fuzz_retry_after.c - the Retry-After header (delta-seconds or an HTTP-date), as http.c reads it
 * from a CA's answer: never a crash, never a negative wait other than -1 for "none". */
#include "fuzz.h"

#include "http.h"

#define NOW ((time_t)1795000000) /* a fixed moment in 2026, so that a run can be repeated */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    long secs;

    if (s == NULL)
        return 0;
    secs = http_retry_after_parse(s, NOW);
    if (secs < -1)
        abort();
    free(s);
    return 0;
}
