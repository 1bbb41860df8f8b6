/*
 * nginx_sites.h - the sites of an nginx configuration: every `server` block under `http`, with
 * the host names nacme can certify over http-01 and the names it cannot (with the reason).
 * Server blocks that share a name are one site (typically the port 80 and the port 443 block).
 */
#ifndef NACME_NGINX_SITES_H
#define NACME_NGINX_SITES_H

#include <stddef.h>

#include "nacme.h"
#include "nginx_conf.h"

struct nginx_site {
    char **names;  /* lower case, valid DNS names and IP addresses (canonical, IPv6 without
                      brackets: RFC 8738 identifiers); names[0] is the first name of the first
                      block that is no IPv6 address (it names the lineage), the others sorted */
    size_t nnames;
    char **files;  /* "path:line" of each of its server blocks, in configuration order */
    const struct nginx_dir **blocks; /* those blocks themselves (nfiles of them): two blocks can
                                        share a line */
    size_t nfiles;
    char **listen; /* each listen directive's arguments joined by spaces, without repeats;
                      "*:80" for a block without listen (nginx's default) */
    size_t nlisten;
};

struct nginx_skipped {
    char *name;         /* as written (a ".example.com" shows as "*.example.com") */
    const char *reason; /* static text */
    char *file;         /* "path:line" of its server_name (of the server block when it has none) */
};

struct nginx_sites {
    struct nginx_site *sites;
    size_t nsites;
    struct nginx_skipped *skipped;
    size_t nskipped;
};

/* The sites of conf. Only out of memory fails. */
enum nacme_err nginx_sites_new(struct nacme_ctx *ctx, const struct nginx_conf *conf,
                               struct nginx_sites **out);
void nginx_sites_free(struct nginx_sites *s);
/* The site that holds name (lower case), or NULL. */
const struct nginx_site *nginx_sites_find(const struct nginx_sites *s, const char *name);

/* Why nacme cannot certify this server_name value over http-01, or NULL when it can (then the
 * lower-cased name, an IPv6 address without its brackets, is what a certificate would hold): a
 * DNS name, an IPv4 dotted quad, or an IPv6 address in brackets as RFC 5952 writes it (the CA
 * sends it so as Host, and nginx compares server_name as text). Exposed for tests. */
const char *nginx_name_skip_reason(const char *lowered);

#endif
