/* nginx_edit.c - insertions into nginx's files at the reader's byte offsets. */
#include "nginx_edit.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool nginx_listen_parse(const struct nginx_dir *d, struct nginx_listen *out)
{
    const char *a, *colon, *portstr = NULL;
    size_t alen;
    uint32_t i;
    char *end;

    memset(out, 0, sizeof(*out));
    if (d->nargs < 2 || strcmp(d->args[0], "listen") != 0)
        return false;
    a = d->args[1];
    for (i = 2; i < d->nargs; i++)
        if (strcmp(d->args[i], "ssl") == 0)
            out->ssl = true;
    if (strncmp(a, "unix:", 5) == 0) {
        out->port = -1;
        return true;
    }
    alen = strlen(a);
    if (a[strspn(a, "0123456789")] == '\0') { /* a port alone */
        portstr = a;
        alen = 0;
    } else if (a[0] == '[') { /* [v6] or [v6]:port */
        colon = strstr(a, "]:");
        if (colon != NULL) {
            portstr = colon + 2;
            alen = (size_t)(colon + 1 - a);
        }
    } else if ((colon = strrchr(a, ':')) != NULL) { /* host:port, *:port */
        portstr = colon + 1;
        alen = (size_t)(colon - a);
    }
    /* nginx: an address without a port listens on 80 */
    out->port = 80;
    if (portstr != NULL) {
        if (*portstr == '\0' || !isdigit((unsigned char)*portstr))
            return false;
        out->port = strtol(portstr, &end, 10);
        if (*end != '\0' || out->port < 1 || out->port > 65535)
            return false;
    }
    if (alen >= sizeof(out->addr))
        return false;
    memcpy(out->addr, a, alen);
    out->addr[alen] = '\0';
    return true;
}

bool nginx_block_includes(const struct nginx_dir *block, const char *file_name)
{
    const struct nginx_dir *d;
    size_t fl = strlen(file_name), al;
    const char *a;

    for (d = block->child; d != NULL; d = d->next) {
        if (d->nargs < 2 || strcmp(d->args[0], "include") != 0)
            continue;
        a = d->args[1];
        al = strlen(a);
        if (strcmp(a, file_name) == 0 ||
            (al > fl && a[al - fl - 1] == '/' && strcmp(a + al - fl, file_name) == 0))
            return true;
    }
    return false;
}

/* ---- text helpers --------------------------------------------------------------------------- */

static size_t line_start(const char *text, size_t off)
{
    while (off > 0 && text[off - 1] != '\n')
        off--;
    return off;
}

/* Whether only blanks stand between the start of off's line and off. */
static bool starts_line(const char *text, size_t off)
{
    size_t s = line_start(text, off);

    while (s < off && (text[s] == ' ' || text[s] == '\t'))
        s++;
    return s == off;
}

/* The file's line ending: CRLF when its first line ends so. */
static const char *eol_of(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);

    return nl != NULL && nl > text && nl[-1] == '\r' ? "\r\n" : "\n";
}

/* After off, skip blanks and a comment: the offset just after the line's '\n' when nothing else
 * is on the line (len when the file ends first), or SIZE_MAX when something else follows. */
static size_t rest_of_line_end(const char *text, size_t len, size_t off)
{
    while (off < len && (text[off] == ' ' || text[off] == '\t' || text[off] == '\r'))
        off++;
    if (off < len && text[off] == '#')
        while (off < len && text[off] != '\n')
            off++;
    if (off == len)
        return len;
    return text[off] == '\n' ? off + 1 : SIZE_MAX;
}

/* The indentation of the line of off, as a heap string. */
static char *indent_of_new(const char *text, size_t off)
{
    size_t s = line_start(text, off), e = s;

    while (text[e] == ' ' || text[e] == '\t')
        e++;
    return nacme_printf_new("%.*s", (int)(e - s), text + s);
}

/* The indentation for a directive inside block: its first directive's, when that one starts a
 * line below the "{"; otherwise the block's own plus one step (a tab when the block's has tabs). */
static char *inner_indent_new(const char *text, const struct nginx_dir *block)
{
    const struct nginx_dir *first = block->child;
    char *outer, *inner;

    if (first != NULL && starts_line(text, first->start) &&
        line_start(text, first->start) > line_start(text, block->body))
        return indent_of_new(text, first->start);
    if ((outer = indent_of_new(text, block->start)) == NULL)
        return NULL;
    inner = nacme_printf_new("%s%s", outer, strchr(outer, '\t') ? "\t" : "    ");
    free(outer);
    return inner;
}

static const struct nginx_dir *child_named(const struct nginx_dir *block, const char *name)
{
    const struct nginx_dir *d;

    for (d = block->child; d != NULL; d = d->next)
        if (d->kind == NGINX_DIR_SIMPLE && strcmp(d->args[0], name) == 0)
            return d;
    return NULL;
}

static enum nacme_err check_block(struct nacme_ctx *ctx, const char *text, size_t len,
                                  const struct nginx_dir *block)
{
    if (block->kind != NGINX_DIR_BLOCK || block->end > len || block->body == 0 ||
        block->body > block->end || text[block->body - 1] != '{' || text[block->end - 1] != '}')
        return nacme_fail(ctx, NACME_E_INVALID,
                          "the server block at line %u is not where it was read: the file "
                          "changed meanwhile",
                          block->line);
    return NACME_OK;
}

enum nacme_err nginx_edit_include(struct nacme_ctx *ctx, const char *text, size_t len,
                                  const struct nginx_dir *block, const char *directive,
                                  struct nginx_insert *out)
{
    const struct nginx_dir *anchor;
    size_t after, at;
    char *ind = NULL;
    enum nacme_err r;

    out->text = NULL;
    if ((r = check_block(ctx, text, len, block)) != NACME_OK)
        return r;
    anchor = child_named(block, "server_name");
    at = anchor != NULL ? anchor->end : block->body;
    after = rest_of_line_end(text, len, at);
    if (after == SIZE_MAX || after == len) {
        /* something follows on the same line (or the file ends there): stay on that line */
        out->at = at;
        out->text = nacme_printf_new(" %s", directive);
    } else {
        out->at = after;
        if ((ind = inner_indent_new(text, block)) != NULL)
            out->text = nacme_printf_new("%s%s%s", ind, directive, eol_of(text, len));
    }
    free(ind);
    if (out->text == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

/* Whether d is left out of the copied body of an HTTPS block: its listen and server_name are
 * new, and the challenge snippet is for the HTTP port. */
static bool dropped(const struct nginx_dir *d, const char *drop_include)
{
    if (d->kind == NGINX_DIR_SIMPLE)
        return strcmp(d->args[0], "listen") == 0 || strcmp(d->args[0], "server_name") == 0;
    if (d->kind == NGINX_DIR_INCLUDE && drop_include != NULL && d->nargs >= 2) {
        const char *slash = strrchr(d->args[1], '/');
        return strcmp(slash ? slash + 1 : d->args[1], drop_include) == 0;
    }
    return false;
}

/* block's body (between "{" and "}") without the dropped directives: a directive alone on its line
 * goes with its line (and the comment ending it, which was about it); one sharing a line goes with
 * the blanks after it. */
static int copy_body(struct nacme_buf *b, const char *text, size_t len,
                     const struct nginx_dir *block, const char *drop_include)
{
    const struct nginx_dir *d;
    size_t pos = block->body, stop = block->end - 1, s, e, after;

    /* the rest of the "{" line, when blank, is not copied: the new directives end a line */
    after = rest_of_line_end(text, len, pos);
    if (after != SIZE_MAX && after <= stop && memchr(text + pos, '#', after - pos) == NULL)
        pos = after;
    for (d = block->child; d != NULL; d = d->next) {
        if (!dropped(d, drop_include) || d->start < pos)
            continue;
        s = d->start;
        e = d->end;
        after = rest_of_line_end(text, len, e);
        if (starts_line(text, s) && after != SIZE_MAX && after <= stop) {
            s = line_start(text, s);
            e = after;
        } else {
            while (e < stop && (text[e] == ' ' || text[e] == '\t'))
                e++;
        }
        if (nacme_buf_append(b, text + pos, s - pos) != 0)
            return -1;
        pos = e;
    }
    return nacme_buf_append(b, text + pos, stop - pos);
}

/* One "listen ADDR:PORT ssl;" per listen of block on http_port, without repeats. */
static int add_listens(struct nacme_buf *b, const struct nginx_dir *block, long http_port,
                       long https_port, const char *ind, const char *eol)
{
    const struct nginx_dir *d;
    struct nginx_listen l;
    char line[256];
    bool any = false;

    for (d = block->child; d != NULL; d = d->next) {
        if (d->kind != NGINX_DIR_SIMPLE || !nginx_listen_parse(d, &l) || l.ssl ||
            l.port != http_port)
            continue;
        snprintf(line, sizeof(line), "%slisten %s%s%ld ssl;%s", ind, l.addr, l.addr[0] ? ":" : "",
                 https_port, eol);
        if (b->data != NULL && strstr(b->data, line) != NULL)
            continue;
        if (nacme_buf_append(b, line, strlen(line)) != 0)
            return -1;
        any = true;
    }
    if (!any) { /* no listen: nginx's default, *:80 */
        snprintf(line, sizeof(line), "%slisten %ld ssl;%s", ind, https_port, eol);
        return nacme_buf_append(b, line, strlen(line));
    }
    return 0;
}

enum nacme_err nginx_edit_https_server(struct nacme_ctx *ctx, const char *text, size_t len,
                                       const struct nginx_dir *block, long http_port,
                                       long https_port, char *const *names, size_t nnames,
                                       const char *directive, const char *origin,
                                       const char *drop_include, struct nginx_insert *out)
{
    struct nacme_buf b = {0};
    const char *eol = eol_of(text, len);
    char *outer = NULL, *ind = NULL, *head = NULL;
    size_t after, i;
    enum nacme_err r;
    int bad = 0;

    out->text = NULL;
    if ((r = check_block(ctx, text, len, block)) != NACME_OK)
        return r;
    after = rest_of_line_end(text, len, block->end);
    out->at = after == SIZE_MAX || after == len ? block->end : after;
    if ((outer = indent_of_new(text, block->start)) == NULL ||
        (ind = inner_indent_new(text, block)) == NULL ||
        (head = nacme_printf_new("%s%s%s# HTTPS for %s, added by nacme nginx-setup --install: "
                                 "serves what the server block at %s serves%s%sserver {%s",
                                 out->at == block->end ? eol : "", eol, outer, names[0], origin,
                                 eol, outer, eol)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    bad |= nacme_buf_append(&b, head, strlen(head));
    bad |= add_listens(&b, block, http_port, https_port, ind, eol);
    bad |= nacme_buf_append(&b, ind, strlen(ind));
    bad |= nacme_buf_append(&b, "server_name", 11);
    for (i = 0; i < nnames; i++) {
        /* an IPv6 address as the CA sends it in Host, the way nginx compares it */
        bool v6 = strchr(names[i], ':') != NULL;
        bad |= nacme_buf_append(&b, v6 ? " [" : " ", v6 ? 2 : 1);
        bad |= nacme_buf_append(&b, names[i], strlen(names[i]));
        if (v6)
            bad |= nacme_buf_append(&b, "]", 1);
    }
    bad |= nacme_buf_append(&b, ";", 1);
    bad |= nacme_buf_append(&b, eol, strlen(eol));
    bad |= nacme_buf_append(&b, ind, strlen(ind));
    bad |= nacme_buf_append(&b, directive, strlen(directive));
    bad |= nacme_buf_append(&b, eol, strlen(eol));
    bad |= copy_body(&b, text, len, block, drop_include);
    bad |= nacme_buf_append(&b, "}", 1);
    if (out->at != block->end)
        bad |= nacme_buf_append(&b, eol, strlen(eol));
    bad |= nacme_buf_append(&b, "", 1); /* the NUL */
    if (bad) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    out->text = b.data;
    b.data = NULL;
out:
    nacme_buf_clear(&b);
    free(outer);
    free(ind);
    free(head);
    return r;
}

static int insert_cmp(const void *x, const void *y)
{
    const struct nginx_insert *a = *(const struct nginx_insert *const *)x;
    const struct nginx_insert *b = *(const struct nginx_insert *const *)y;

    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    return a < b ? -1 : a > b; /* the given order at one offset */
}

char *nginx_edit_apply_new(const char *text, size_t len, const struct nginx_insert *ins,
                           size_t nins, size_t *newlen)
{
    const struct nginx_insert **order = NULL;
    struct nacme_buf b = {0};
    size_t i, pos = 0;
    int bad = 0;

    if (nins > 0 && (order = calloc(nins, sizeof(*order))) == NULL)
        return NULL;
    for (i = 0; i < nins; i++)
        order[i] = &ins[i];
    if (nins > 0)
        qsort(order, nins, sizeof(*order), insert_cmp);
    for (i = 0; i < nins; i++) {
        size_t at = order[i]->at > len ? len : order[i]->at;
        bad |= nacme_buf_append(&b, text + pos, at - pos);
        bad |= nacme_buf_append(&b, order[i]->text, strlen(order[i]->text));
        pos = at;
    }
    bad |= nacme_buf_append(&b, text + pos, len - pos);
    bad |= nacme_buf_append(&b, "", 1);
    free(order);
    if (bad) {
        nacme_buf_clear(&b);
        return NULL;
    }
    *newlen = b.len - 1;
    return b.data;
}
