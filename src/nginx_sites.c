/* nginx_sites.c - the server blocks of an nginx configuration, grouped into sites by name. */
#include "nginx_sites.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* One server block while sites are being built. */
struct block {
    const struct nginx_dir *d;
    char **names; /* eligible, lower case, in server_name order, without repeats */
    size_t nnames;
    char **listen;
    size_t nlisten;
    size_t root; /* union-find parent */
};

struct builder {
    struct nacme_ctx *ctx;
    const struct nginx_conf *conf;
    struct block *blocks;
    size_t nblocks, capblocks;
    struct nginx_sites *out;
    size_t capskipped;
};

/* An address in server_name is an RFC 8738 "ip" identifier: the CA connects to it on port 80 and
 * sends it as Host (IPv6 in brackets), which nginx compares with server_name as text. So IPv4 must
 * be written as a dotted quad and IPv6 in brackets in RFC 5952 form, as the CA will send it. */
static const char *ip_skip_reason(const char *n, size_t len)
{
    char canon[64], v6[64];
    enum ip_parse k;

    if (len > 2 && n[0] == '[' && n[len - 1] == ']' && len - 2 < sizeof(v6)) {
        memcpy(v6, n + 1, len - 2);
        v6[len - 2] = '\0';
        k = ip_addr_canonical(v6, canon, sizeof(canon));
        if (k == IP_MAPPED)
            return "IPv4-mapped IPv6 address (write the IPv4 address)";
        if (k == IP_V6 && strcmp(canon, v6) != 0)
            return "IPv6 address not in RFC 5952 form (the CA's Host header would not match)";
        return k == IP_V6 ? NULL : "not a valid host name";
    }
    k = ip_addr_canonical(n, canon, sizeof(canon));
    if (k == IP_MAPPED || k == IP_V6)
        return "IPv6 address without brackets (no Host header matches it)";
    if (k == IP_V4 && strcmp(canon, n) != 0)
        return "IPv4 address not written as a plain dotted quad";
    return k == IP_V4 ? NULL : "not a valid host name";
}

const char *nginx_name_skip_reason(const char *n)
{
    size_t len = strlen(n);

    if (len == 0)
        return "empty name";
    if (n[0] == '~')
        return "regular expression";
    if (strchr(n, '$') != NULL)
        return "contains a variable";
    if (strchr(n, '*') != NULL)
        return "wildcard (needs a dns-01 challenge)";
    if (strcmp(n, "_") == 0)
        return "catch-all placeholder, not a host name";
    if (strcmp(n, "localhost") == 0 ||
        (len > 10 && strcmp(n + len - 10, ".localhost") == 0))
        return "localhost";
    if (dns_name_valid(n))
        return NULL;
    return ip_skip_reason(n, len);
}

static char *where_new(const struct nginx_conf *conf, const struct nginx_dir *d)
{
    return nacme_printf_new("%s:%u", nginx_conf_file_path(conf, d->file), d->line);
}

static enum nacme_err push_str(struct builder *b, char ***v, size_t *n, char *s)
{
    char **t;

    if (s == NULL || (t = realloc(*v, (*n + 1) * sizeof(*t))) == NULL) {
        free(s);
        return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
    }
    t[(*n)++] = s;
    *v = t;
    return NACME_OK;
}

static bool has_str(char *const *v, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static enum nacme_err skip(struct builder *b, const char *name, size_t len, const char *reason,
                           const struct nginx_dir *at)
{
    struct nginx_sites *o = b->out;
    struct nginx_skipped *s;

    if (o->nskipped == b->capskipped) {
        size_t cap = b->capskipped ? b->capskipped * 2 : 16;
        if ((s = realloc(o->skipped, cap * sizeof(*s))) == NULL)
            return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
        o->skipped = s;
        b->capskipped = cap;
    }
    s = &o->skipped[o->nskipped];
    s->reason = reason;
    s->name = nacme_strndup_new(name, len);
    s->file = where_new(b->conf, at);
    if (s->name == NULL || s->file == NULL) {
        free(s->name);
        free(s->file);
        return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
    }
    o->nskipped++;
    return NACME_OK;
}

/* One server_name value: eligible (added to the block) or skipped with its reason. nginx lower-
 * cases every name but a regular expression; ".example.com" is example.com plus *.example.com. */
static enum nacme_err add_name(struct builder *b, struct block *blk, const char *value,
                               const struct nginx_dir *at)
{
    const char *reason;
    enum nacme_err r = NACME_OK;
    char *low, *p, *name;

    if ((low = nacme_strdup_new(value)) == NULL)
        return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
    if (low[0] != '~')
        for (p = low; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    name = low;
    if (low[0] == '.') {
        char *wild = nacme_printf_new("*%s", low);
        if (wild == NULL) {
            r = nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
            goto out;
        }
        r = skip(b, wild, strlen(wild), nginx_name_skip_reason(wild), at);
        free(wild);
        if (r != NACME_OK)
            goto out;
        name = low + 1;
    }
    if ((reason = nginx_name_skip_reason(name)) != NULL) {
        r = skip(b, name, strlen(name), reason, at);
        goto out;
    }
    if (name[0] == '[') { /* "[::1]": the identifier is the address */
        name++;
        name[strlen(name) - 1] = '\0';
    }
    if (!has_str(blk->names, blk->nnames, name))
        r = push_str(b, &blk->names, &blk->nnames, nacme_strdup_new(name));
out:
    free(low);
    return r;
}

static char *join_args_new(const struct nginx_dir *d)
{
    struct nacme_buf buf = {0};
    uint32_t i;

    for (i = 1; i < d->nargs; i++)
        if ((i > 1 && nacme_buf_append(&buf, " ", 1) != 0) ||
            nacme_buf_append(&buf, d->args[i], strlen(d->args[i])) != 0) {
            nacme_buf_clear(&buf);
            return NULL;
        }
    return buf.data ? buf.data : nacme_strdup_new("");
}

static enum nacme_err add_block(struct builder *b, const struct nginx_dir *server)
{
    const struct nginx_dir *d;
    struct block *blk;
    bool named = false;
    enum nacme_err r;
    uint32_t i;

    if (b->nblocks == b->capblocks) {
        size_t cap = b->capblocks ? b->capblocks * 2 : 64;
        if ((blk = realloc(b->blocks, cap * sizeof(*blk))) == NULL)
            return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
        b->blocks = blk;
        b->capblocks = cap;
    }
    blk = &b->blocks[b->nblocks];
    *blk = (struct block){.d = server, .root = b->nblocks};
    b->nblocks++;
    for (d = nginx_dir_first(server); d != NULL; d = nginx_dir_next(d)) {
        if (d->kind != NGINX_DIR_SIMPLE)
            continue;
        if (strcmp(d->args[0], "listen") == 0) {
            char *l = join_args_new(d);
            if (l != NULL && has_str(blk->listen, blk->nlisten, l))
                free(l);
            else if ((r = push_str(b, &blk->listen, &blk->nlisten, l)) != NACME_OK)
                return r;
        } else if (strcmp(d->args[0], "server_name") == 0) {
            named = true;
            for (i = 1; i < d->nargs; i++)
                if ((r = add_name(b, blk, d->args[i], d)) != NACME_OK)
                    return r;
        }
    }
    if (!named && (r = skip(b, "", 0, "no server_name: nginx's default, the empty name",
                            server)) != NACME_OK)
        return r;
    if (blk->nlisten == 0 &&
        (r = push_str(b, &blk->listen, &blk->nlisten, nacme_strdup_new("*:80"))) != NACME_OK)
        return r;
    return NACME_OK;
}

/* ---- grouping: union-find over blocks, joined by a hash of names ------------------------- */

static size_t find_root(struct block *blocks, size_t i)
{
    while (blocks[i].root != i) {
        blocks[i].root = blocks[blocks[i].root].root;
        i = blocks[i].root;
    }
    return i;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

struct name_slot {
    const char *name;
    size_t block;
};

static enum nacme_err group_blocks(struct builder *b)
{
    struct name_slot *tab = NULL;
    size_t total = 0, cap = 16, i, j, mask, h;

    for (i = 0; i < b->nblocks; i++)
        total += b->blocks[i].nnames;
    while (cap < total * 2)
        cap *= 2;
    if ((tab = calloc(cap, sizeof(*tab))) == NULL)
        return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
    mask = cap - 1;
    for (i = 0; i < b->nblocks; i++)
        for (j = 0; j < b->blocks[i].nnames; j++) {
            const char *n = b->blocks[i].names[j];
            for (h = hash_name(n) & mask; tab[h].name != NULL; h = (h + 1) & mask)
                if (strcmp(tab[h].name, n) == 0)
                    break;
            if (tab[h].name == NULL) {
                tab[h] = (struct name_slot){n, i};
            } else {
                /* the earlier block stays the root, so a site keeps its first block's order */
                size_t a = find_root(b->blocks, tab[h].block), c = find_root(b->blocks, i);
                if (a != c)
                    b->blocks[a > c ? a : c].root = a < c ? a : c;
            }
        }
    free(tab);
    return NACME_OK;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Move block i's names, listens and place into site s. */
static enum nacme_err merge_into(struct builder *b, struct nginx_site *s, struct block *blk)
{
    enum nacme_err r;
    const struct nginx_dir **blocks;
    size_t i;

    for (i = 0; i < blk->nnames; i++) {
        if (has_str(s->names, s->nnames, blk->names[i])) {
            free(blk->names[i]);
        } else if ((r = push_str(b, &s->names, &s->nnames, blk->names[i])) != NACME_OK) {
            blk->names[i] = NULL;
            return r;
        }
        blk->names[i] = NULL;
    }
    for (i = 0; i < blk->nlisten; i++) {
        if (has_str(s->listen, s->nlisten, blk->listen[i])) {
            free(blk->listen[i]);
        } else if ((r = push_str(b, &s->listen, &s->nlisten, blk->listen[i])) != NACME_OK) {
            blk->listen[i] = NULL;
            return r;
        }
        blk->listen[i] = NULL;
    }
    /* blocks grows first: push_str counts nfiles for both */
    if ((blocks = realloc(s->blocks, (s->nfiles + 1) * sizeof(*blocks))) == NULL)
        return nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
    s->blocks = blocks;
    s->blocks[s->nfiles] = blk->d;
    return push_str(b, &s->files, &s->nfiles, where_new(b->conf, blk->d));
}

static void strv_free(char **v, size_t n);

/* A site is named after names[0] (its lineage, live/NAME): an IPv6 address is no file name, so a
 * site whose first name is one is named after its first other name instead; a site with nothing
 * but IPv6 addresses has no name of its own and is skipped, its addresses with it (nacme issue
 * -d ADDR --cert-name NAME certifies them). root_of[i] is site i's first block. */
static enum nacme_err name_sites(struct builder *b, const size_t *root_of)
{
    struct nginx_sites *o = b->out;
    size_t i, k, kept = 0;
    enum nacme_err r;
    char *t;

    for (i = 0; i < o->nsites; i++) {
        struct nginx_site *site = &o->sites[i];
        for (k = 0; k < site->nnames && strchr(site->names[k], ':') != NULL; k++)
            ;
        if (k < site->nnames) {
            t = site->names[0];
            site->names[0] = site->names[k];
            site->names[k] = t;
            o->sites[kept++] = *site;
            continue;
        }
        for (k = 0; k < site->nnames; k++) {
            char *shown = nacme_printf_new("[%s]", site->names[k]);
            r = shown ? skip(b, shown, strlen(shown),
                             "IPv6 addresses only: no name for the certificate (nacme issue -d "
                             "ADDR --cert-name NAME)",
                             b->blocks[root_of[i]].d)
                      : nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
            free(shown);
            if (r != NACME_OK) { /* keep every site not freed yet, once */
                while (i < o->nsites)
                    o->sites[kept++] = o->sites[i++];
                o->nsites = kept;
                return r;
            }
        }
        strv_free(site->names, site->nnames);
        strv_free(site->files, site->nfiles);
        free(site->blocks);
        strv_free(site->listen, site->nlisten);
    }
    o->nsites = kept;
    return NACME_OK;
}

static enum nacme_err build_sites(struct builder *b)
{
    struct nginx_sites *o = b->out;
    size_t *site_of = NULL, *root_of = NULL, i, root;
    enum nacme_err r = NACME_OK;

    if (b->nblocks == 0)
        return NACME_OK;
    if ((site_of = malloc(b->nblocks * sizeof(*site_of))) == NULL ||
        (root_of = malloc(b->nblocks * sizeof(*root_of))) == NULL ||
        (o->sites = calloc(b->nblocks, sizeof(*o->sites))) == NULL) {
        r = nacme_fail(b->ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < b->nblocks; i++) {
        struct block *blk = &b->blocks[i];
        if (blk->nnames == 0)
            continue; /* nothing to certify: its names are all in the skipped list */
        root = find_root(b->blocks, i);
        if (root == i)
            site_of[i] = o->nsites++;
        if ((r = merge_into(b, &o->sites[site_of[root]], blk)) != NACME_OK)
            goto out;
    }
    for (i = 0; i < b->nblocks; i++)
        if (b->blocks[i].nnames > 0 && find_root(b->blocks, i) == i)
            root_of[site_of[i]] = i;
    if ((r = name_sites(b, root_of)) != NACME_OK)
        goto out;
    for (i = 0; i < o->nsites; i++)
        if (o->sites[i].nnames > 2)
            qsort(o->sites[i].names + 1, o->sites[i].nnames - 1, sizeof(char *), str_cmp);
out:
    free(site_of);
    free(root_of);
    return r;
}

/* ---- entry ------------------------------------------------------------------------------- */

static void blocks_free(struct builder *b)
{
    size_t i, j;

    for (i = 0; i < b->nblocks; i++) {
        for (j = 0; j < b->blocks[i].nnames; j++)
            free(b->blocks[i].names[j]);
        for (j = 0; j < b->blocks[i].nlisten; j++)
            free(b->blocks[i].listen[j]);
        free(b->blocks[i].names);
        free(b->blocks[i].listen);
    }
    free(b->blocks);
}

enum nacme_err nginx_sites_new(struct nacme_ctx *ctx, const struct nginx_conf *conf,
                               struct nginx_sites **out)
{
    struct builder b = {.ctx = ctx, .conf = conf};
    const struct nginx_dir *top, *d;
    enum nacme_err r = NACME_OK;

    *out = NULL;
    if ((b.out = calloc(1, sizeof(*b.out))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    for (top = nginx_dir_first(nginx_conf_root(conf)); top != NULL; top = nginx_dir_next(top)) {
        if (top->kind != NGINX_DIR_BLOCK || strcmp(top->args[0], "http") != 0)
            continue;
        for (d = nginx_dir_first(top); d != NULL; d = nginx_dir_next(d))
            if (d->kind == NGINX_DIR_BLOCK && strcmp(d->args[0], "server") == 0 &&
                (r = add_block(&b, d)) != NACME_OK)
                goto out;
    }
    if ((r = group_blocks(&b)) != NACME_OK || (r = build_sites(&b)) != NACME_OK)
        goto out;
    *out = b.out;
    b.out = NULL;
out:
    blocks_free(&b);
    nginx_sites_free(b.out);
    return r;
}

static void strv_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void nginx_sites_free(struct nginx_sites *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nsites; i++) {
        strv_free(s->sites[i].names, s->sites[i].nnames);
        strv_free(s->sites[i].files, s->sites[i].nfiles);
        free(s->sites[i].blocks);
        strv_free(s->sites[i].listen, s->sites[i].nlisten);
    }
    free(s->sites);
    for (i = 0; i < s->nskipped; i++) {
        free(s->skipped[i].name);
        free(s->skipped[i].file);
    }
    free(s->skipped);
    free(s);
}

const struct nginx_site *nginx_sites_find(const struct nginx_sites *s, const char *name)
{
    size_t i, j;

    for (i = 0; i < s->nsites; i++)
        for (j = 0; j < s->sites[i].nnames; j++)
            if (strcmp(s->sites[i].names[j], name) == 0)
                return &s->sites[i];
    return NULL;
}
