/* dns01.c - dns-01 TXT records through the administrator's hook, and waiting for a resolver to
 * answer them (glibc's libresolv with a private resolver state). */
#include "dns01.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <resolv.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <openssl/evp.h>

#include "b64url.h"
#include "run.h"

#define DNS01_PREFIX "_acme-challenge."
#define DNS01_POLL_MS 1000
#define DNS01_SHOWN_MAX 300 /* bytes of a hook's output or of the TXT values seen, in a message */

char *dns01_record_name_new(const char *identifier)
{
    if (strncmp(identifier, "*.", 2) == 0)
        identifier += 2;
    return nacme_printf_new(DNS01_PREFIX "%s", identifier);
}

enum nacme_err dns01_txt_value_new(struct nacme_ctx *ctx, const char *keyauth, char **out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    *out = NULL;
    if (EVP_Digest(keyauth, strlen(keyauth), md, &mdlen, EVP_sha256(), NULL) != 1)
        return nacme_fail_ssl(ctx, NACME_E_CRYPTO, "SHA-256 of the key authorization");
    if ((*out = b64url_encode_new(md, mdlen)) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

/* ---- resolver addresses --------------------------------------------------------------------- */

/* "1".."65535", digits only. */
static int port_parse(const char *s, unsigned *port)
{
    unsigned v = 0;
    size_t i;

    if (s[0] == '\0' || strlen(s) > 5)
        return -1;
    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

int dns01_resolver_parse(const char *s, struct dns01_resolver *out)
{
    char host[INET6_ADDRSTRLEN + 1], shown[INET6_ADDRSTRLEN];
    const char *colon, *close, *port_s = NULL;
    unsigned port = 53;
    size_t len;

    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        /* [IPv6] or [IPv6]:PORT */
        if ((close = strchr(s, ']')) == NULL || (len = (size_t)(close - s - 1)) >= sizeof(host))
            return -1;
        memcpy(host, s + 1, len);
        host[len] = '\0';
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1] != '\0')
            return -1;
        out->family = AF_INET6;
    } else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
        /* IPv4:PORT (one colon; an IPv6 address has at least two) */
        if ((len = (size_t)(colon - s)) >= sizeof(host))
            return -1;
        memcpy(host, s, len);
        host[len] = '\0';
        port_s = colon + 1;
        out->family = AF_INET;
    } else {
        if (strlen(s) >= sizeof(host))
            return -1;
        memcpy(host, s, strlen(s) + 1);
        out->family = colon != NULL ? AF_INET6 : AF_INET;
    }
    if (port_s != NULL && port_parse(port_s, &port) != 0)
        return -1;
    if (out->family == AF_INET) {
        out->sin.sin_family = AF_INET;
        out->sin.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &out->sin.sin_addr) != 1)
            return -1;
        inet_ntop(AF_INET, &out->sin.sin_addr, shown, sizeof(shown));
        snprintf(out->text, sizeof(out->text), "%s:%u", shown, port);
    } else {
        out->sin6.sin6_family = AF_INET6;
        out->sin6.sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &out->sin6.sin6_addr) != 1)
            return -1;
        inet_ntop(AF_INET6, &out->sin6.sin6_addr, shown, sizeof(shown));
        snprintf(out->text, sizeof(out->text), "[%s]:%u", shown, port);
    }
    return 0;
}

/* ---- TXT lookups -------------------------------------------------------------------------- */

void dns01_values_free(char **values)
{
    size_t i;

    for (i = 0; values != NULL && values[i] != NULL; i++)
        free(values[i]);
    free(values);
}

/* A private resolver state asking only res, once, for at most a second per query: the wait
 * loop does the retrying, and nothing of /etc/resolv.conf's servers or search list is used. */
static enum nacme_err resolver_init(struct nacme_ctx *ctx, struct __res_state *rs,
                                    const struct dns01_resolver *res)
{
    struct sockaddr_in6 *six;
    int i;

    memset(rs, 0, sizeof(*rs));
    if (res_ninit(rs) != 0) {
        res_nclose(rs);
        return nacme_fail(ctx, NACME_E_NET, "cannot set up a DNS resolver to ask %s", res->text);
    }
    rs->retrans = 1;
    rs->retry = 1;
    rs->options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    rs->nscount = 1;
    if (res->family == AF_INET) {
        rs->nsaddr_list[0] = res->sin;
        return NACME_OK;
    }
    /* glibc keeps an IPv6 server in the extension area, marked by an empty nsaddr_list entry;
     * res_nclose frees what is there. */
    if ((six = malloc(sizeof(*six))) == NULL) {
        res_nclose(rs);
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    *six = res->sin6;
    for (i = 0; i < MAXNS; i++) {
        free(rs->_u._ext.nsaddrs[i]);
        rs->_u._ext.nsaddrs[i] = NULL;
    }
    memset(&rs->nsaddr_list[0], 0, sizeof(rs->nsaddr_list[0]));
    rs->_u._ext.nsaddrs[0] = six;
    return NACME_OK;
}

/* The character-strings of one TXT record joined (RFC 1035 §3.3.14), or NULL on OOM or when
 * rdata is malformed. */
static char *txt_join_new(const unsigned char *rdata, size_t rdlen)
{
    struct nacme_buf b = {0};
    size_t i = 0, n;

    while (i < rdlen) {
        n = rdata[i++];
        if (n > rdlen - i || nacme_buf_append(&b, rdata + i, n) != 0) {
            nacme_buf_clear(&b);
            return NULL;
        }
        i += n;
    }
    if (b.data == NULL && nacme_buf_append(&b, "", 0) != 0)
        return NULL;
    return b.data;
}

static const char *no_answer(int h_err)
{
    switch (h_err) {
    case HOST_NOT_FOUND: return "NXDOMAIN";
    case NO_DATA: return "no TXT record";
    /* glibc also counts an empty answer that is neither authoritative nor recursive here */
    case TRY_AGAIN: return "no usable answer (a timeout, SERVFAIL or REFUSED, or an empty "
                           "answer that is not authoritative)";
    default: return "no usable answer";
    }
}

enum nacme_err dns01_txt_lookup(struct nacme_ctx *ctx, const struct dns01_resolver *res,
                                const char *name, char ***values, char *seen, size_t seensz)
{
    struct __res_state rs;
    unsigned char ans[8192]; /* TXT answers are small; glibc retries a truncated one over TCP */
    char **vals = NULL;
    ns_msg msg;
    ns_rr rr;
    int len, count, i;
    size_t n = 0;
    enum nacme_err r;

    *values = NULL;
    seen[0] = '\0';
    if ((r = resolver_init(ctx, &rs, res)) != NACME_OK)
        return r;
    len = res_nquery(&rs, name, ns_c_in, ns_t_txt, ans, sizeof(ans));
    if (len < 0) {
        snprintf(seen, seensz, "%s", no_answer(rs.res_h_errno));
        goto out;
    }
    if (ns_initparse(ans, len, &msg) != 0) {
        snprintf(seen, seensz, "an answer that does not parse");
        goto out;
    }
    count = ns_msg_count(msg, ns_s_an);
    if ((vals = calloc((size_t)count + 1, sizeof(*vals))) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0 || ns_rr_type(rr) != ns_t_txt)
            continue; /* a CNAME on the way, or a record we cannot read */
        if ((vals[n] = txt_join_new(ns_rr_rdata(rr), ns_rr_rdlen(rr))) == NULL)
            continue;
        n++;
    }
    if (n == 0) {
        snprintf(seen, seensz, "no TXT record");
        goto out;
    }
    *values = vals;
    vals = NULL;
out:
    dns01_values_free(vals);
    res_nclose(&rs);
    return r;
}

/* ---- the hook ----------------------------------------------------------------------------- */

struct dns01_record {
    char *domain; /* as ordered */
    char *record;
    char *value;
    bool ran;     /* the add hook was started: it may have added the record */
};

struct dns01_hook {
    char *cmd;
    int timeout_s;
    struct dns01_record *recs;
    size_t n;
};

enum nacme_err dns01_hook_new(struct nacme_ctx *ctx, const char *cmd, int timeout_s,
                              struct dns01_hook **out)
{
    struct dns01_hook *h;

    *out = NULL;
    if ((h = calloc(1, sizeof(*h))) == NULL || (h->cmd = nacme_strdup_new(cmd)) == NULL) {
        free(h);
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    h->timeout_s = timeout_s;
    *out = h;
    return NACME_OK;
}

/* How a finished hook ended, for a message: "exited with status 3", "was killed by signal 9
 * (Killed)". */
static void ended(int ws, char *buf, size_t size)
{
    if (WIFEXITED(ws))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(ws));
    else if (WIFSIGNALED(ws))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
    else
        snprintf(buf, size, "ended with wait status %d", ws);
}

/* Run `cmd ACTION RECORD VALUE` for rec; NACME_OK only when it exited with status 0. *ran says
 * whether it was started at all. */
static enum nacme_err hook_call(struct nacme_ctx *ctx, const struct dns01_hook *h,
                                const char *action, const struct dns01_record *rec, bool *ran)
{
    const char *args[] = {action, rec->record, rec->value, NULL};
    struct nacme_ctx hctx;
    char *var = NULL, **env = NULL, *output = NULL;
    char shown[DNS01_SHOWN_MAX + 1], how[96];
    size_t len;
    int ws = -1;
    enum nacme_err r;

    *ran = false;
    nacme_ctx_init(&hctx);
    if ((var = nacme_printf_new("NACME_DOMAIN=%s", rec->domain)) == NULL ||
        (env = run_env_new(&var, 1)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    nacme_verbose(ctx, "%s: dns_hook %s %s %s", rec->domain, action, rec->record, rec->value);
    r = run_command_argv_new(&hctx, h->cmd, args, env, h->timeout_s, &output, &ws);
    *ran = r == NACME_OK || r == NACME_E_TIMEOUT;
    if (r == NACME_E_TIMEOUT) {
        r = nacme_fail(ctx, NACME_E_INVALID,
                       "%s: dns_hook \"%s\" %s %s did not finish within %d s (dns_hook_timeout); "
                       "killed",
                       rec->domain, h->cmd, action, rec->record, h->timeout_s);
        goto out;
    }
    if (r != NACME_OK) {
        r = nacme_fail(ctx, r == NACME_E_NOMEM ? r : NACME_E_INVALID, "%s: dns_hook: %s",
                       rec->domain, hctx.errmsg);
        goto out;
    }
    nacme_sanitize(shown, sizeof(shown), output, DNS01_SHOWN_MAX);
    for (len = strlen(shown); len > 0 && shown[len - 1] == ' '; len--)
        shown[len - 1] = '\0'; /* the final newline */
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        ended(ws, how, sizeof(how));
        r = nacme_fail(ctx, NACME_E_INVALID, "%s: dns_hook \"%s\" %s %s %s%s%s", rec->domain,
                       h->cmd, action, rec->record, how, shown[0] ? ": " : "", shown);
        goto out;
    }
    if (shown[0] != '\0')
        nacme_verbose(ctx, "%s: dns_hook %s said: %s", rec->domain, action, shown);
out:
    free(output);
    free(env);
    free(var);
    return r;
}

enum nacme_err dns01_hook_add(struct nacme_ctx *ctx, struct dns01_hook *h, const char *domain,
                              const char *record, const char *value)
{
    struct dns01_record *grown, *rec;

    if ((grown = realloc(h->recs, (h->n + 1) * sizeof(*grown))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    h->recs = grown;
    rec = &h->recs[h->n];
    *rec = (struct dns01_record){0};
    if ((rec->domain = nacme_strdup_new(domain)) == NULL ||
        (rec->record = nacme_strdup_new(record)) == NULL ||
        (rec->value = nacme_strdup_new(value)) == NULL) {
        free(rec->domain);
        free(rec->record);
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    }
    /* remembered before the hook runs: one that fails half way may have added it anyway */
    h->n++;
    return hook_call(ctx, h, "add", rec, &rec->ran);
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
           (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* What the resolver answered instead of the value, for the timeout's message. */
static void describe_seen(char **values, const char *seen, char *buf, size_t size)
{
    size_t i, off;

    if (values == NULL) {
        snprintf(buf, size, "%s", seen[0] ? seen : "nothing");
        return;
    }
    off = (size_t)snprintf(buf, size, "TXT");
    for (i = 0; values[i] != NULL && off < size; i++) {
        char one[80];
        nacme_sanitize(one, sizeof(one), values[i], 60);
        off += (size_t)snprintf(buf + off, size - off, "%s \"%s\"", i ? "," : "", one);
    }
}

/* Whether the resolver answers record with value now; *last says what it answered. */
static enum nacme_err record_visible(struct nacme_ctx *ctx, const struct dns01_resolver *res,
                                     const struct dns01_record *rec, bool *visible, char *last,
                                     size_t lastsz)
{
    char **values = NULL, seen[128];
    size_t i;
    enum nacme_err r;

    *visible = false;
    if ((r = dns01_txt_lookup(ctx, res, rec->record, &values, seen, sizeof(seen))) != NACME_OK)
        return r;
    for (i = 0; values != NULL && values[i] != NULL && !*visible; i++)
        *visible = strcmp(values[i], rec->value) == 0;
    describe_seen(values, seen, last, lastsz);
    dns01_values_free(values);
    return NACME_OK;
}

enum nacme_err dns01_hook_wait(struct nacme_ctx *ctx, const struct dns01_hook *h,
                               const struct dns01_resolver *res, int timeout_s)
{
    struct timespec deadline;
    char last[DNS01_SHOWN_MAX + 1] = "";
    bool visible;
    size_t i = 0;
    long left;
    int sig;
    enum nacme_err r;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    /* one record after the other: the time for all of them is the same wait */
    while (i < h->n) {
        const struct dns01_record *rec = &h->recs[i];
        if ((r = record_visible(ctx, res, rec, &visible, last, sizeof(last))) != NACME_OK)
            return r;
        if (visible) {
            nacme_verbose(ctx, "%s: %s answers TXT %s with the value", rec->domain, res->text,
                          rec->record);
            i++;
            continue;
        }
        if ((left = ms_left(&deadline)) <= 0)
            return nacme_fail(ctx, NACME_E_TIMEOUT,
                              "%s: TXT %s with value \"%s\" not visible at %s after %d s "
                              "(dns_wait_timeout); it answered: %s",
                              rec->domain, rec->record, rec->value, res->text, timeout_s, last);
        if ((sig = nacme_sleep_ms(left < DNS01_POLL_MS ? left : DNS01_POLL_MS)) != 0)
            return nacme_fail(ctx, NACME_E_INTERRUPTED,
                              "%s: interrupted by %s waiting for TXT %s at %s", rec->domain,
                              strsignal(sig), rec->record, res->text);
    }
    return NACME_OK;
}

void dns01_hook_free(struct nacme_ctx *ctx, struct dns01_hook *h)
{
    struct nacme_ctx rctx;
    size_t i;
    bool ran;

    if (h == NULL)
        return;
    for (i = h->n; i-- > 0;) {
        nacme_ctx_init(&rctx);
        rctx.loglevel = ctx->loglevel;
        rctx.logf = ctx->logf;
        /* the failure is said, not returned: the order's own outcome stands; a hook that could
         * not even be started added nothing */
        if (h->recs[i].ran && hook_call(&rctx, h, "remove", &h->recs[i], &ran) != NACME_OK)
            nacme_log(ctx, NACME_LOG_ERROR, "warning: %s", rctx.errmsg);
        free(h->recs[i].domain);
        free(h->recs[i].record);
        free(h->recs[i].value);
    }
    free(h->recs);
    free(h->cmd);
    free(h);
}
