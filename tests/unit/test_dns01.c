/* test_dns01.c - the TXT record's name and value (RFC 8555 §8.4), resolver addresses, and TXT
 * lookups through libresolv against a small DNS responder on loopback (IPv4 and IPv6). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns01.h"

static void test_record_name(void **state)
{
    static const struct {
        const char *identifier, *record;
    } cases[] = {
        {"example.com", "_acme-challenge.example.com"},
        /* a wildcard and its base name share one record (RFC 8555 §8.4) */
        {"*.example.com", "_acme-challenge.example.com"},
        {"www.sub.example.org", "_acme-challenge.www.sub.example.org"},
        {"*.sub.example.org", "_acme-challenge.sub.example.org"},
    };
    size_t i;
    char *r;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_non_null(r = dns01_record_name_new(cases[i].identifier));
        if (strcmp(r, cases[i].record) != 0)
            fail_msg("%s: got %s, want %s", cases[i].identifier, r, cases[i].record);
        free(r);
    }
}

static void test_txt_value(void **state)
{
    /* base64url (no padding) of SHA-256: the FIPS 180-2 vectors for "abc" and "", and a key
     * authorization computed with Python's hashlib and base64 */
    static const struct {
        const char *keyauth, *value;
    } cases[] = {
        {"abc", "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"},
        {"", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"},
        {"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
         "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"},
    };
    struct nacme_ctx ctx;
    size_t i;
    char *v;

    (void)state;
    nacme_ctx_init(&ctx);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dns01_txt_value_new(&ctx, cases[i].keyauth, &v), NACME_OK);
        if (strcmp(v, cases[i].value) != 0)
            fail_msg("\"%s\": got %s, want %s", cases[i].keyauth, v, cases[i].value);
        assert_int_equal(strlen(v), 43);
        free(v);
    }
}

static void test_resolver_parse(void **state)
{
    static const struct {
        const char *in;
        int family; /* 0: refused */
        const char *text;
    } cases[] = {
        {"127.0.0.1", AF_INET, "127.0.0.1:53"},
        {"192.0.2.53:5353", AF_INET, "192.0.2.53:5353"},
        {"10.0.0.1:65535", AF_INET, "10.0.0.1:65535"},
        {"[::1]:8053", AF_INET6, "[::1]:8053"},
        {"[2001:DB8::0053]", AF_INET6, "[2001:db8::53]:53"},
        {"2001:db8::1", AF_INET6, "[2001:db8::1]:53"},
        {"::1", AF_INET6, "[::1]:53"},
        {"", 0, NULL},
        {"localhost", 0, NULL},
        {"ns.example.com:53", 0, NULL},
        {"127.0.0.1:", 0, NULL},
        {"127.0.0.1:0", 0, NULL},
        {"127.0.0.1:65536", 0, NULL},
        {"127.0.0.1:+53", 0, NULL},
        {"127.0.0.1:53x", 0, NULL},
        {"127.0.0.1:000053", 0, NULL},
        {"1.2.3", 0, NULL},
        {"256.1.1.1", 0, NULL},
        {"[127.0.0.1]:53", 0, NULL},
        {"[::1", 0, NULL},
        {"[::1]53", 0, NULL},
        {"[::1]:", 0, NULL},
        {"::1:53x", 0, NULL},
        {"[fe80::1%eth0]:53", 0, NULL},
    };
    struct dns01_resolver res;
    size_t i;
    int rc;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = dns01_resolver_parse(cases[i].in, &res);
        if (cases[i].family == 0) {
            if (rc == 0)
                fail_msg("\"%s\" should be refused, got %s", cases[i].in, res.text);
            continue;
        }
        if (rc != 0)
            fail_msg("\"%s\" should be accepted", cases[i].in);
        assert_int_equal(res.family, cases[i].family);
        if (strcmp(res.text, cases[i].text) != 0)
            fail_msg("\"%s\": got %s, want %s", cases[i].in, res.text, cases[i].text);
    }
    assert_int_equal(dns01_resolver_parse("192.0.2.1:5353", &res), 0);
    assert_int_equal(ntohs(res.sin.sin_port), 5353);
    assert_int_equal(dns01_resolver_parse("[::1]:8053", &res), 0);
    assert_int_equal(ntohs(res.sin6.sin6_port), 8053);
}

/* ---- a DNS responder on loopback -------------------------------------------------------- */

enum answer_kind { ANSWER_TXT, ANSWER_NXDOMAIN };

struct responder {
    int fd;
    int family;
    int port;
    enum answer_kind kind;
    const char *const *strings; /* the TXT record's character-strings */
    size_t nstrings;
    int queries; /* answered */
    char qname[256]; /* the name asked for, dotted */
};

/* Answer queries until none comes for 3 s: the question echoed, then one TXT record. */
static void *responder_main(void *arg)
{
    struct responder *rs = arg;
    struct pollfd pfd = {.fd = rs->fd, .events = POLLIN};
    struct sockaddr_storage peer;
    unsigned char q[512], a[1024];
    socklen_t plen;
    ssize_t n;
    size_t i, o, qend, rdstart, k;

    while (poll(&pfd, 1, 3000) == 1) {
        plen = sizeof(peer);
        if ((n = recvfrom(rs->fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen)) <= 0)
            break; /* shut down */
        if (n < 12)
            continue;
        /* the question: labels, then type and class */
        for (i = 12, o = 0; i < (size_t)n && q[i] != 0; i += q[i] + 1) {
            memcpy(rs->qname + o, q + i + 1, q[i]);
            o += q[i];
            rs->qname[o++] = '.';
        }
        rs->qname[o ? o - 1 : 0] = '\0';
        qend = i + 5;
        memcpy(a, q, qend);
        a[2] = 0x81; /* QR, RD */
        a[3] = rs->kind == ANSWER_NXDOMAIN ? 0x83 : 0x80; /* RA, rcode */
        a[4] = 0, a[5] = 1;                                 /* one question */
        a[6] = 0, a[7] = rs->kind == ANSWER_TXT ? 1 : 0;    /* answers */
        memset(a + 8, 0, 4);
        o = qend;
        if (rs->kind == ANSWER_TXT) {
            static const unsigned char head[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0};
            memcpy(a + o, head, sizeof(head));
            o += sizeof(head);
            rdstart = o + 2;
            o = rdstart;
            for (k = 0; k < rs->nstrings; k++) {
                a[o++] = (unsigned char)strlen(rs->strings[k]);
                memcpy(a + o, rs->strings[k], strlen(rs->strings[k]));
                o += strlen(rs->strings[k]);
            }
            a[rdstart - 2] = (unsigned char)((o - rdstart) >> 8);
            a[rdstart - 1] = (unsigned char)(o - rdstart);
        }
        sendto(rs->fd, a, o, 0, (struct sockaddr *)&peer, plen);
        rs->queries++;
    }
    return NULL;
}

/* Bind a UDP socket on loopback of family; -1 when that family has no loopback here. */
static int responder_open(struct responder *rs, int family)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;

    rs->family = family;
    if ((rs->fd = socket(family, SOCK_DGRAM, 0)) < 0)
        return -1;
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_loopback;
        len = sizeof(*s6);
    }
    if (bind(rs->fd, (struct sockaddr *)&ss, len) != 0 ||
        getsockname(rs->fd, (struct sockaddr *)&ss, &len) != 0) {
        close(rs->fd);
        return -1;
    }
    rs->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                       : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* One lookup of name through dns01_txt_lookup against a responder answering as rs says. */
static void lookup(struct responder *rs, const char *name, char ***values, char *seen,
                   size_t seensz)
{
    struct nacme_ctx ctx;
    struct dns01_resolver res;
    pthread_t t;
    char addr[80];

    nacme_ctx_init(&ctx);
    snprintf(addr, sizeof(addr), rs->family == AF_INET ? "127.0.0.1:%d" : "[::1]:%d", rs->port);
    assert_int_equal(dns01_resolver_parse(addr, &res), 0);
    assert_int_equal(pthread_create(&t, NULL, responder_main, rs), 0);
    assert_int_equal(dns01_txt_lookup(&ctx, &res, name, values, seen, seensz), NACME_OK);
    shutdown(rs->fd, SHUT_RDWR); /* ends the responder's poll */
    pthread_join(t, NULL);
    close(rs->fd);
}

static void lookup_family(int family)
{
    static const char *const one[] = {"abc", "def"};
    struct responder rs = {.kind = ANSWER_TXT, .strings = one, .nstrings = 2};
    char **values = NULL, seen[200];

    if (responder_open(&rs, family) != 0) {
        print_message("no %s loopback here; skipped\n", family == AF_INET ? "IPv4" : "IPv6");
        return;
    }
    lookup(&rs, "_acme-challenge.example.com", &values, seen, sizeof(seen));
    assert_int_equal(rs.queries, 1);
    assert_string_equal(rs.qname, "_acme-challenge.example.com");
    assert_non_null(values);
    /* one record's character-strings are one value (RFC 1035 §3.3.14) */
    assert_string_equal(values[0], "abcdef");
    assert_null(values[1]);
    dns01_values_free(values);
}

static void test_lookup_ipv4(void **state)
{
    (void)state;
    lookup_family(AF_INET);
}

static void test_lookup_ipv6(void **state)
{
    (void)state;
    lookup_family(AF_INET6);
}

static void test_lookup_nxdomain(void **state)
{
    struct responder rs = {.kind = ANSWER_NXDOMAIN};
    char **values = NULL, seen[200];

    (void)state;
    assert_int_equal(responder_open(&rs, AF_INET), 0);
    lookup(&rs, "_acme-challenge.missing.example", &values, seen, sizeof(seen));
    assert_null(values);
    assert_string_equal(seen, "NXDOMAIN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_name),
        cmocka_unit_test(test_txt_value),
        cmocka_unit_test(test_resolver_parse),
        cmocka_unit_test(test_lookup_ipv4),
        cmocka_unit_test(test_lookup_ipv6),
        cmocka_unit_test(test_lookup_nxdomain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
