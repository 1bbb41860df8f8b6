/* test_preflight.c - the body rule (RFC 8555 §8.3), the redirect rule, and preflight_check against
 * a tiny HTTP server on loopback that answers each connection with a canned response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "preflight.h"

#define TOKEN "AbC_dEf-0123456789abcdefghijklmnopqrstuvwxy"
#define KEYAUTH TOKEN ".tHuMbPrInT_0123456789-abcdefghijklmnopqrstu"

static void test_body_matches(void **state)
{
    static const struct {
        const char *body;
        size_t len; /* 0: strlen(body) */
        bool ok;
    } cases[] = {
        {KEYAUTH, 0, true},
        {KEYAUTH "\n", 0, true},
        {KEYAUTH "\r\n", 0, true},
        {KEYAUTH " \t\r\n\n", 0, true},
        {KEYAUTH " ", 0, true}, /* SP is whitespace too (Boulder trims it; Pebble does not) */
        {" " KEYAUTH, 0, false},
        {"\n" KEYAUTH, 0, false},
        {KEYAUTH "x", 0, false},
        {KEYAUTH "\v", 0, false},
        {KEYAUTH "\n.", 0, false},
        {TOKEN, 0, false},
        {TOKEN ".", 0, false},
        {"", 0, false},
        {"\n", 0, false},
        {KEYAUTH "\0", sizeof(KEYAUTH), false},  /* a NUL is not whitespace */
        {KEYAUTH, sizeof(KEYAUTH) - 2, false},    /* one byte short */
        {"abc_def-0123456789abcdefghijklmnopqrstuvwxy.thumbprint_0123456789-abcdefghijklmnopqrstu",
         0, false}, /* case matters */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].body);
        if (preflight_body_matches(cases[i].body, len, KEYAUTH) != cases[i].ok)
            fail_msg("case %zu: preflight_body_matches(\"%s\", %zu) should be %d", i,
                     cases[i].body, len, cases[i].ok);
    }
}

static void test_redirect_rule(void **state)
{
    static const struct {
        const char *location;
        bool ok;
        bool https;
    } cases[] = {
        {"https://a.example/.well-known/acme-challenge/T", true, true},
        {"http://a.example/other/path?q=1", true, false},
        {"https://A.Example/x", true, true},
        {"https://a.example:443/x", true, true},
        {"http://a.example:80/x", true, false},
        {"https://a.example:8443/x", false, false},
        {"http://a.example:443/x", false, false},
        {"https://a.example:80/x", false, false},
        {"https://b.example/x", false, false},
        {"https://a.example.evil.example/x", false, false},
        {"https://www.a.example/x", false, false},
        {"https://127.0.0.1/x", false, false},
        {"ftp://a.example/x", false, false},
        {"https://user@a.example/x", false, false},
        {"https://user:pw@a.example/x", false, false},
        {"/relative/path", false, false}, /* libcurl hands over absolute URLs only */
        {"", false, false},
    };
    size_t i;
    bool https;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = preflight_redirect_followable("a.example", cases[i].location, &https);
        if (ok != cases[i].ok || (ok && https != cases[i].https))
            fail_msg("\"%s\": followable %d https %d, want %d %d", cases[i].location, ok, https,
                     cases[i].ok, cases[i].https);
    }
}

/* ---- a canned HTTP server ------------------------------------------------------------------ */

#define MAX_CONNS 8

struct server {
    int fd;
    int port;
    pthread_t thread;
    const char *answers[MAX_CONNS]; /* one per connection; NULL: hold it 1 s without answering */
    int nanswers;
    char requests[MAX_CONNS][2048];
    int served;
};

static void *server_main(void *arg)
{
    struct server *s = arg;
    int i;

    for (i = 0; i < s->nanswers; i++) {
        int c = accept(s->fd, NULL, NULL);
        size_t got = 0;
        ssize_t n;

        if (c < 0)
            break;
        while (got + 1 < sizeof(s->requests[i]) &&
               (n = recv(c, s->requests[i] + got, sizeof(s->requests[i]) - 1 - got, 0)) > 0) {
            got += (size_t)n;
            s->requests[i][got] = '\0';
            if (strstr(s->requests[i], "\r\n\r\n") != NULL)
                break;
        }
        if (s->answers[i] == NULL)
            sleep(1);
        else
            (void)send(c, s->answers[i], strlen(s->answers[i]), MSG_NOSIGNAL);
        close(c);
        s->served++;
    }
    return NULL;
}

static void server_start(struct server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, MAX_CONNS), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->fd, SHUT_RDWR); /* wakes an accept() that will never get its connection */
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static char *answer_new(int status, const char *extra_header, const char *body)
{
    char *s = NULL;

    assert_true(asprintf(&s,
                         "HTTP/1.1 %d X\r\nConnection: close\r\n%s%sContent-Length: %zu\r\n"
                         "\r\n%s",
                         status, extra_header ? extra_header : "", extra_header ? "\r\n" : "",
                         strlen(body), body) > 0);
    return s;
}

/* Run preflight_check for a.example against answers; check the result and the message. */
struct check_case {
    const char *what;
    int nanswers;
    char *answers[MAX_CONNS];
    enum nacme_err want;
    const char *want_msg;  /* a substring of the message, or NULL */
    const char *want_path; /* the path of the last request, or NULL */
    long timeout_ms;
};

static void run_case(struct check_case *c)
{
    struct server s = {0};
    struct nacme_ctx ctx;
    struct preflight_opts o = {.host = "127.0.0.1", .timeout_ms = c->timeout_ms};
    enum nacme_err r;
    int i;

    nacme_ctx_init(&ctx);
    ctx.loglevel = NACME_LOG_ERROR;
    s.nanswers = c->nanswers;
    for (i = 0; i < c->nanswers; i++)
        s.answers[i] = c->answers[i];
    server_start(&s);
    o.http_port = o.https_port = s.port;
    r = preflight_check(&ctx, &o, "a.example", TOKEN, KEYAUTH);
    server_stop(&s);
    if (r != c->want)
        fail_msg("%s: got %s (%s), want %s", c->what, nacme_strerror(r), ctx.errmsg,
                 nacme_strerror(c->want));
    if (c->want_msg != NULL && strstr(ctx.errmsg, c->want_msg) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", c->what, ctx.errmsg, c->want_msg);
    if (r != NACME_OK &&
        (strncmp(ctx.errmsg, "a.example: preflight: http://a.example/", 39) != 0 ||
         strchr(ctx.errmsg, '\n') != NULL))
        fail_msg("%s: message \"%s\" is not one line naming the domain and URL", c->what,
                 ctx.errmsg);
    for (i = 0; ctx.errmsg[i] != '\0'; i++)
        if ((unsigned char)ctx.errmsg[i] < 0x20 || (unsigned char)ctx.errmsg[i] > 0x7e)
            fail_msg("%s: byte 0x%02x at %d of the message: not sanitised", c->what,
                     (unsigned char)ctx.errmsg[i], i);
    if (s.served < 1)
        fail_msg("%s: the server got no request", c->what);
    /* every request is the CA's: GET of the path, Host: the name, HTTP/1.1 */
    for (i = 0; i < s.served; i++)
        if (strstr(s.requests[i], "\r\nHost: a.example\r\n") == NULL ||
            strncmp(s.requests[i], "GET /", 5) != 0)
            fail_msg("%s: request %d is not GET with Host: a.example:\n%s", c->what, i,
                     s.requests[i]);
    if (c->want_path != NULL && strncmp(s.requests[s.served - 1] + 4, c->want_path,
                                        strlen(c->want_path)) != 0)
        fail_msg("%s: last request %.80s, want path %s", c->what, s.requests[s.served - 1],
                 c->want_path);
    for (i = 0; i < c->nanswers; i++)
        free(c->answers[i]);
}

static void test_check_against_server(void **state)
{
    char big[PREFLIGHT_MAX_BODY + 2];
    struct check_case cases[] = {
        {"the key authorization", 1, {answer_new(200, NULL, KEYAUTH)}, NACME_OK, NULL,
         "/.well-known/acme-challenge/" TOKEN " HTTP/1.1", 0},
        {"with a trailing newline", 1, {answer_new(200, NULL, KEYAUTH "\r\n")}, NACME_OK, NULL,
         NULL, 0},
        {"404", 1, {answer_new(404, NULL, "not found")}, NACME_E_INVALID,
         "HTTP 404, not the key authorization", NULL, 0},
        {"500 with the right body", 1, {answer_new(500, NULL, KEYAUTH)}, NACME_E_INVALID,
         "HTTP 500", NULL, 0},
        {"a wrong body", 1, {answer_new(200, NULL, "hello\n<b>")}, NACME_E_INVALID,
         "HTTP 200 with \"hello <b>\" (9 bytes), not the key authorization", NULL, 0},
        {"a body over the cap", 1, {NULL}, NACME_E_INVALID, "a body over 4096 bytes", NULL, 0},
        {"a redirect to another name", 1,
         {answer_new(302, "Location: http://b.example/.well-known/acme-challenge/" TOKEN, "")},
         NACME_E_INVALID, "HTTP 302 redirects to http://b.example/", NULL, 0},
        {"a relative redirect on the same name", 2,
         {answer_new(301, "Location: /elsewhere/x", ""), answer_new(200, NULL, KEYAUTH)},
         NACME_OK, NULL, "/elsewhere/x HTTP/1.1", 0},
        {"a redirect to the same name, then 404", 2,
         {answer_new(307, "Location: http://A.EXAMPLE/next", ""),
          answer_new(404, NULL, "")},
         NACME_E_INVALID, "a.example: preflight: http://a.example/next (redirected from "
         "http://a.example/.well-known/acme-challenge/" TOKEN ") through nginx", "/next", 0},
        {"a redirect loop", 4,
         {answer_new(301, "Location: http://a.example/loop", ""),
          answer_new(301, "Location: http://a.example/loop", ""),
          answer_new(301, "Location: http://a.example/loop", ""),
          answer_new(301, "Location: http://a.example/loop", "")},
         NACME_E_INVALID, "more than 3 redirects, the last to http://a.example/loop", NULL, 0},
        {"no answer", 1, {NULL}, NACME_E_TIMEOUT, "no answer within 300 ms", NULL, 300},
        {"a body with control and 8-bit bytes", 1,
         {answer_new(200, NULL, "\x1b[31mred\xc3\xa9\r")}, NACME_E_INVALID,
         "HTTP 200 with \"?[31mred???\" (11 bytes)", NULL, 0},
        {"a redirect with a control byte: not a URL to follow", 1,
         {answer_new(302, "Location: /x\xc3\xa9\x1b", "")}, NACME_E_INVALID,
         "HTTP 302 redirects to /x???, which is not a.example", NULL, 0},
        {"a redirect with 8-bit bytes, then 404", 2,
         {answer_new(302, "Location: /x\xc3\xa9", ""), answer_new(404, NULL, "")},
         NACME_E_INVALID, "HTTP 404, not the key authorization", NULL, 0},
    };
    size_t i;

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cases[5].answers[0] = answer_new(200, NULL, big);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
}

static void test_nothing_listening(void **state)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    struct preflight_opts o = {.host = "127.0.0.1"};
    struct nacme_ctx ctx;
    char want[128];
    int fd;

    (void)state;
    nacme_ctx_init(&ctx);
    ctx.loglevel = NACME_LOG_ERROR;
    /* a port that was free a moment ago: bound, never listened on */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    o.http_port = o.https_port = ntohs(a.sin_port);
    assert_int_equal(preflight_check(&ctx, &o, "a.example", TOKEN, KEYAUTH), NACME_E_NET);
    close(fd);
    snprintf(want, sizeof(want),
             "through nginx at 127.0.0.1:%d: cannot connect: Connection refused", o.http_port);
    if (strstr(ctx.errmsg, want) == NULL || strstr(ctx.errmsg, "--no-preflight") == NULL)
        fail_msg("message \"%s\" lacks \"%s\" or the way to turn it off", ctx.errmsg, want);
}

static void test_refuses_bad_input(void **state)
{
    struct preflight_opts o = {.host = "127.0.0.1", .http_port = 1, .https_port = 1};
    static const struct {
        const char *domain, *token;
    } cases[] = {
        {"a.example", "../etc/passwd"}, {"a.example", ""},     {"a.example", "a b"},
        {"a.example:81", TOKEN},        {"a.example/x", TOKEN}, {"a.example\r\nX: y", TOKEN},
        {"", TOKEN},                    {"user@a.example", TOKEN},
    };
    struct nacme_ctx ctx;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nacme_ctx_init(&ctx);
        ctx.loglevel = NACME_LOG_ERROR;
        if (preflight_check(&ctx, &o, cases[i].domain, cases[i].token, KEYAUTH) !=
            NACME_E_INVALID)
            fail_msg("case %zu: not refused: %s", i, ctx.errmsg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_matches),
        cmocka_unit_test(test_redirect_rule),
        cmocka_unit_test(test_check_against_server),
        cmocka_unit_test(test_nothing_listening),
        cmocka_unit_test(test_refuses_bad_input),
    };
    int r;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
