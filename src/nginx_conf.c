/*
 * nginx_conf.c - nginx's configuration grammar, rule for rule (ngx_conf_read_token and
 * ngx_conf_parse in nginx's src/core/ngx_conf_file.c, as nginx 1.22 behaves), as an explicit state
 * machine over each file's bytes; `include` resolved on disk or inside `nginx -T` output.
 *
 * nginx reads a file through a 4096-byte buffer and refuses a token (or a comment) that does not
 * fit in it ("too long parameter"); the reader keeps track of where that buffer would be refilled
 * so that it accepts and refuses exactly the files nginx does.
 *
 * Beyond the grammar only the directives nacme relies on are checked (include, http, events,
 * stream, mail, server in http, listen, server_name: block or not, argument count), with nginx's
 * messages; what each module accepts in its own directives stays nginx's business (`nginx -t`).
 * In `nginx -T` output a file whose text holds a line "# configuration file /PATH:" of its own
 * would be split there: nginx marks nothing else.
 */
#include "nginx_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NGX_CONF_BUFFER 4096 /* nginx's read buffer: no token may outgrow it */
#define MAX_INCLUDE_DEPTH 64 /* files open at once; deeper is a cycle nginx would die of */
#define MAX_BLOCK_DEPTH 256  /* nested blocks: bounds our recursion on hostile input */
#define MAX_DUMP_SIZE ((size_t)1 << 30)
#define ARENA_CHUNK (64 * 1024)

/* ---- arena: every string and node of one configuration, freed at once -------------------- */

struct arena_chunk {
    struct arena_chunk *prev;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

/* n bytes aligned to align (a power of two): strings take 1, nodes and pointers their own. */
static void *arena_alloc_aligned(struct arena_chunk **top, size_t n, size_t align)
{
    struct arena_chunk *c = *top;
    size_t cap;
    void *p;

    if (c != NULL)
        c->used = (c->used + align - 1) & ~(align - 1);
    if (c == NULL || c->used > c->cap || c->cap - c->used < n) {
        cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->prev = *top;
        c->used = 0;
        c->cap = cap;
        *top = c;
    }
    p = c->data + c->used;
    c->used += n;
    return p;
}

static void *arena_alloc(struct arena_chunk **top, size_t n)
{
    return arena_alloc_aligned(top, n, _Alignof(max_align_t));
}

static char *arena_strndup(struct arena_chunk **top, const char *s, size_t n)
{
    char *p = arena_alloc_aligned(top, n + 1, 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static void arena_free(struct arena_chunk *c)
{
    while (c != NULL) {
        struct arena_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
}

/* ---- the configuration ------------------------------------------------------------------- */

struct dump_file {
    const char *path;
    const char *text;
    size_t len;
};

struct nginx_conf {
    struct arena_chunk *arena;
    const char **files; /* index -> path (arena strings); a file included twice is listed twice */
    uint32_t nfiles, capfiles;
    size_t ndirs;
    struct nginx_dir *root;
    /* nginx -T mode: the captured files, sorted by path; NULL when reading the disk */
    struct dump_file *dump;
    size_t ndump;
    char *dump_text; /* owns what dump[] points into */
};

/* One file on the include stack, for cycle detection and the chain in its message. */
struct open_file {
    const char *path;
    dev_t dev;
    ino_t ino;
    uint32_t line; /* where it includes the next one */
};

struct parser {
    struct nacme_ctx *ctx;
    struct nginx_conf *conf;
    const char *prefix; /* directory of the main file, with its trailing '/': nginx's conf prefix */
    size_t prefixlen;
    char **args; /* the current directive's words (arena strings) */
    uint32_t nargs, capargs;
    struct open_file stack[MAX_INCLUDE_DEPTH];
    unsigned depth;
    unsigned blocks;
};

/* One file being read: the position, the line and nginx's buffer emulation. */
struct reader {
    const char *buf;
    size_t len, pos;
    uint32_t line;
    uint32_t file;
    const char *path;
    size_t tok_start;  /* nginx's `start`: what its buffer must still hold */
    uint32_t tok_line; /* nginx's `start_line` */
    size_t win_end;    /* where nginx's buffer runs out and it reads more */
};

const struct nginx_dir *nginx_conf_root(const struct nginx_conf *conf)
{
    return conf->root;
}

const char *nginx_conf_file_path(const struct nginx_conf *conf, uint32_t i)
{
    return i < conf->nfiles ? conf->files[i] : NULL;
}

uint32_t nginx_conf_nfiles(const struct nginx_conf *conf)
{
    return conf->nfiles;
}

size_t nginx_conf_ndirs(const struct nginx_conf *conf)
{
    return conf->ndirs;
}

void nginx_conf_free(struct nginx_conf *conf)
{
    if (conf == NULL)
        return;
    arena_free(conf->arena);
    free(conf->files);
    free(conf->dump);
    free(conf->dump_text);
    free(conf);
}

/* Walk through includes: c is in the child list of up. */
static const struct nginx_dir *settle(const struct nginx_dir *c, const struct nginx_dir *up)
{
    for (;;) {
        if (c == NULL) {
            if (up == NULL || up->kind != NGINX_DIR_INCLUDE)
                return NULL;
            c = up->next;
            up = up->parent;
        } else if (c->kind == NGINX_DIR_INCLUDE) {
            if (c->child != NULL) {
                up = c;
                c = c->child;
            } else {
                c = c->next;
            }
        } else {
            return c;
        }
    }
}

const struct nginx_dir *nginx_dir_first(const struct nginx_dir *block)
{
    return settle(block->child, block);
}

const struct nginx_dir *nginx_dir_next(const struct nginx_dir *d)
{
    return settle(d->next, d->parent);
}

/* Depth first, in document order. */
static const struct nginx_dir *find_in(const struct nginx_conf *conf, const struct nginx_dir *d,
                                       const char *path, uint32_t line)
{
    const struct nginx_dir *hit;

    for (; d != NULL; d = d->next) {
        if (d->line == line && strcmp(conf->files[d->file], path) == 0)
            return d;
        if (d->child != NULL && (hit = find_in(conf, d->child, path, line)) != NULL)
            return hit;
    }
    return NULL;
}

const struct nginx_dir *nginx_conf_find(const struct nginx_conf *conf, const char *path,
                                        uint32_t line)
{
    return find_in(conf, conf->root->child, path, line);
}

static enum nacme_err add_file(struct parser *p, const char *path, uint32_t *index)
{
    struct nginx_conf *c = p->conf;
    const char *copy;

    if (c->nfiles == c->capfiles) {
        uint32_t cap = c->capfiles ? c->capfiles * 2 : 16;
        const char **f = realloc(c->files, cap * sizeof(*f));
        if (f == NULL)
            return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
        c->files = f;
        c->capfiles = cap;
    }
    if ((copy = arena_strndup(&c->arena, path, strlen(path))) == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    c->files[c->nfiles] = copy;
    *index = c->nfiles++;
    return NACME_OK;
}

/* "FILE:LINE: what", the configuration error. */
__attribute__((format(printf, 3, 4))) static enum nacme_err
fail_at(const struct reader *rd, struct parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return nacme_fail(p->ctx, NACME_E_CONFIG, "%s:%u: %s", rd->path, rd->line, msg);
}

/* ---- the tokenizer ----------------------------------------------------------------------- */

enum tok_rc {
    TOK_ERROR = -1,
    TOK_DIRECTIVE,   /* words ended by ';' */
    TOK_BLOCK_START, /* words ended by '{' */
    TOK_BLOCK_DONE,  /* '}' */
    TOK_FILE_DONE,
};

enum tok_state {
    TS_SPACE,      /* between words (nginx: last_space) */
    TS_WORD,       /* in an unquoted word */
    TS_DQUOTE,     /* in "..." */
    TS_SQUOTE,     /* in '...' */
    TS_NEED_SPACE, /* just after a closing quote: only space, ';', '{' or ')' may follow */
    TS_COMMENT,    /* from '#' at a word's start to the end of the line */
};

struct tok {
    size_t start;  /* offset of the directive's first character */
    uint32_t line; /* its line */
};

static bool is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* A byte for a message: itself when printable, else \xNN. */
static const char *shown_char(unsigned char ch, char buf[8])
{
    if (ch >= 0x20 && ch < 0x7f)
        snprintf(buf, 8, "%c", ch);
    else
        snprintf(buf, 8, "\\x%02x", ch);
    return buf;
}

/* Copy the raw word buf[from, to) into the arena with nginx's escapes decoded: \" \' \\ lose
 * the backslash, \t \r \n become the control character, any other backslash stays. */
static enum nacme_err push_word(struct parser *p, const struct reader *rd, size_t from, size_t to)
{
    const char *src = rd->buf + from, *end = rd->buf + to;
    char *dst, *w;

    if (p->nargs == p->capargs) {
        uint32_t cap = p->capargs ? p->capargs * 2 : 16;
        char **a = realloc(p->args, cap * sizeof(*a));
        if (a == NULL)
            return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
        p->args = a;
        p->capargs = cap;
    }
    if ((w = dst = arena_alloc_aligned(&p->conf->arena, (size_t)(end - src) + 1, 1)) == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    while (src < end) {
        if (*src == '\\' && src + 1 < end) {
            switch (src[1]) {
            case '"':
            case '\'':
            case '\\': src++; break;
            case 't': *dst++ = '\t'; src += 2; continue;
            case 'r': *dst++ = '\r'; src += 2; continue;
            case 'n': *dst++ = '\n'; src += 2; continue;
            default: break;
            }
        }
        *dst++ = *src++;
    }
    *dst = '\0';
    p->args[p->nargs++] = w;
    return NACME_OK;
}

/* nginx's refill of its buffer: refused when the pending token already fills all of it. */
static int refill(struct parser *p, struct reader *rd, enum tok_state st)
{
    char c1[8], start[64];
    size_t i, n = 0;

    if (rd->pos - rd->tok_start == NGX_CONF_BUFFER) {
        rd->line = rd->tok_line;
        if (st == TS_DQUOTE || st == TS_SQUOTE) {
            fail_at(rd, p, "too long parameter, probably missing terminating \"%s\" character",
                    st == TS_DQUOTE ? "\"" : "'");
            return -1;
        }
        for (i = 0; i < 10; i++) {
            const char *s = shown_char((unsigned char)rd->buf[rd->tok_start + i], c1);
            size_t l = strlen(s);
            memcpy(start + n, s, l);
            n += l;
        }
        start[n] = '\0';
        fail_at(rd, p, "too long parameter \"%s...\" started", start);
        return -1;
    }
    rd->win_end = rd->tok_start + NGX_CONF_BUFFER < rd->len ? rd->tok_start + NGX_CONF_BUFFER
                                                            : rd->len;
    return 0;
}

/* One directive's words up to ';' or '{', or a '}', or the end of the file
 * (ngx_conf_read_token). */
static enum tok_rc read_token(struct parser *p, struct reader *rd, struct tok *t)
{
    enum tok_state st = TS_SPACE;
    bool escaped = false, variable = false;
    size_t word = 0;
    unsigned char ch;
    char cbuf[8];

    p->nargs = 0;
    rd->tok_start = rd->pos;
    rd->tok_line = rd->line;
    t->start = rd->pos;
    t->line = rd->line;
    for (;;) {
        if (rd->pos >= rd->win_end) {
            if (rd->pos >= rd->len) {
                if (p->nargs > 0 || (st != TS_SPACE && st != TS_COMMENT)) {
                    fail_at(rd, p, "unexpected end of file, expecting \";\" or \"}\"");
                    return TOK_ERROR;
                }
                return TOK_FILE_DONE;
            }
            if (refill(p, rd, st) != 0)
                return TOK_ERROR;
        }
        ch = (unsigned char)rd->buf[rd->pos++];
        if (ch == '\n') {
            rd->line++;
            if (st == TS_COMMENT)
                st = TS_SPACE;
        }
        if (st == TS_COMMENT)
            continue;
        if (escaped) {
            escaped = false;
            continue;
        }
        if (st == TS_NEED_SPACE) {
            if (is_space(ch)) {
                st = TS_SPACE;
                continue;
            }
            if (ch == ';')
                return TOK_DIRECTIVE;
            if (ch == '{')
                return TOK_BLOCK_START;
            if (ch != ')') {
                fail_at(rd, p, "unexpected \"%s\"", shown_char(ch, cbuf));
                return TOK_ERROR;
            }
            st = TS_SPACE; /* and the ')' starts the next word, as in `if ($a = "b")` */
        }
        if (st == TS_SPACE) {
            rd->tok_start = rd->pos - 1;
            rd->tok_line = rd->line;
            if (is_space(ch))
                continue;
            if (p->nargs == 0) {
                t->start = rd->pos - 1;
                t->line = rd->line;
            }
            switch (ch) {
            case ';':
            case '{':
                if (p->nargs == 0) {
                    fail_at(rd, p, "unexpected \"%c\"", ch);
                    return TOK_ERROR;
                }
                return ch == '{' ? TOK_BLOCK_START : TOK_DIRECTIVE;
            case '}':
                if (p->nargs != 0) {
                    fail_at(rd, p, "unexpected \"}\"");
                    return TOK_ERROR;
                }
                return TOK_BLOCK_DONE;
            case '#': st = TS_COMMENT; continue;
            case '"':
            case '\'':
                rd->tok_start++;
                word = rd->pos;
                st = ch == '"' ? TS_DQUOTE : TS_SQUOTE;
                continue;
            case '\\': escaped = true; break;
            case '$': variable = true; break; /* "${" keeps the '{' in the word */
            default: break;
            }
            word = rd->pos - 1;
            st = TS_WORD;
            continue;
        }
        /* inside a word or quotes */
        if (ch == '{' && variable)
            continue;
        variable = false;
        if (ch == '\\') {
            escaped = true;
            continue;
        }
        if (ch == '$') {
            variable = true;
            continue;
        }
        if (st == TS_DQUOTE || st == TS_SQUOTE) {
            if (ch != (st == TS_DQUOTE ? '"' : '\''))
                continue;
            st = TS_NEED_SPACE;
        } else if (is_space(ch) || ch == ';' || ch == '{') {
            st = TS_SPACE;
        } else {
            continue;
        }
        if (push_word(p, rd, word, rd->pos - 1) != NACME_OK)
            return TOK_ERROR;
        if (ch == ';')
            return TOK_DIRECTIVE;
        if (ch == '{')
            return TOK_BLOCK_START;
    }
}

/* ---- directives nacme relies on, checked as nginx checks them ---------------------------- */

enum dir_shape { SHAPE_LEAF, SHAPE_BLOCK };

static const struct known_dir {
    const char *name;
    enum dir_shape shape;
    uint32_t min_args, max_args; /* counting the name */
    const char *context;         /* only in this block ("http"), or NULL: anywhere */
} known_dirs[] = {
    {"include", SHAPE_LEAF, 2, 2, NULL},
    {"http", SHAPE_BLOCK, 1, 1, NULL},
    {"events", SHAPE_BLOCK, 1, 1, NULL},
    {"stream", SHAPE_BLOCK, 1, 1, NULL},
    {"mail", SHAPE_BLOCK, 1, 1, NULL},
    {"server", SHAPE_BLOCK, 1, 1, "http"},
    {"listen", SHAPE_LEAF, 2, UINT32_MAX, "server"},
    {"server_name", SHAPE_LEAF, 2, UINT32_MAX, "server"},
};

/* The block a directive is in, looking through includes. */
static const struct nginx_dir *context_of(const struct nginx_dir *d)
{
    const struct nginx_dir *c = d->parent;

    while (c != NULL && c->kind == NGINX_DIR_INCLUDE)
        c = c->parent;
    return c;
}

static enum nacme_err check_directive(struct parser *p, const struct reader *rd,
                                      const struct nginx_dir *d, enum tok_rc rc)
{
    const struct nginx_dir *ctxd;
    size_t i;

    /* most directives are none of these: one look at the first letter lets them pass */
    if (strchr("ehilms", d->args[0][0]) == NULL || d->args[0][0] == '\0')
        return NACME_OK;
    ctxd = context_of(d);
    for (i = 0; i < sizeof(known_dirs) / sizeof(known_dirs[0]); i++) {
        const struct known_dir *k = &known_dirs[i];
        if (strcmp(d->args[0], k->name) != 0)
            continue;
        if (k->context != NULL && (ctxd == NULL || ctxd->kind != NGINX_DIR_BLOCK ||
                                   strcmp(ctxd->args[0], k->context) != 0))
            return NACME_OK; /* e.g. "server" in "upstream": another directive of that name */
        if (k->shape == SHAPE_LEAF && rc != TOK_DIRECTIVE)
            return fail_at(rd, p, "directive \"%s\" is not terminated by \";\"", k->name);
        if (k->shape == SHAPE_BLOCK && rc != TOK_BLOCK_START)
            return fail_at(rd, p, "directive \"%s\" has no opening \"{\"", k->name);
        if (d->nargs < k->min_args || d->nargs > k->max_args)
            return fail_at(rd, p, "invalid number of arguments in \"%s\" directive", k->name);
        return NACME_OK;
    }
    return NACME_OK;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static struct nginx_dir *dir_new(struct parser *p, const struct reader *rd, const struct tok *t,
                                 enum nginx_dir_kind kind, struct nginx_dir *parent)
{
    struct nginx_dir *d =
        arena_alloc_aligned(&p->conf->arena, sizeof(*d), _Alignof(struct nginx_dir));
    char **args =
        arena_alloc_aligned(&p->conf->arena, p->nargs * sizeof(*args), _Alignof(char *));

    if (d == NULL || args == NULL)
        return NULL;
    memcpy(args, p->args, p->nargs * sizeof(*args));
    *d = (struct nginx_dir){
        .args = args,
        .nargs = p->nargs,
        .file = rd->file,
        .line = t->line,
        .kind = kind,
        .start = t->start,
        .body = rd->pos,
        .end = rd->pos,
        .parent = parent,
    };
    p->conf->ndirs++;
    return d;
}

static enum nacme_err include(struct parser *p, const struct reader *rd, struct nginx_dir *d);

/* ngx_conf_parse: the directives of a file (block == false) or of one block, appended at *tailp
 * (the end of parent's children: an include's files follow each other). */
static enum nacme_err parse_block(struct parser *p, struct reader *rd, struct nginx_dir *parent,
                                  struct nginx_dir ***tailp, bool block)
{
    struct nginx_dir **tail = *tailp, *d;
    enum nacme_err r;
    struct tok t;
    enum tok_rc rc;

    for (;;) {
        rc = read_token(p, rd, &t);
        if (rc == TOK_ERROR)
            return p->ctx->err;
        if (rc == TOK_BLOCK_DONE) {
            if (!block)
                return fail_at(rd, p, "unexpected \"}\"");
            parent->end = rd->pos;
            return NACME_OK;
        }
        if (rc == TOK_FILE_DONE) {
            if (block)
                return fail_at(rd, p, "unexpected end of file, expecting \"}\"");
            return NACME_OK;
        }
        if ((d = dir_new(p, rd, &t,
                         rc == TOK_BLOCK_START ? NGINX_DIR_BLOCK
                         : strcmp(p->args[0], "include") == 0 ? NGINX_DIR_INCLUDE
                                                              : NGINX_DIR_SIMPLE,
                         parent)) == NULL)
            return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
        *tail = d;
        tail = &d->next;
        *tailp = tail;
        if ((r = check_directive(p, rd, d, rc)) != NACME_OK)
            return r;
        if (rc == TOK_BLOCK_START) {
            struct nginx_dir **inner = &d->child;
            if (++p->blocks > MAX_BLOCK_DEPTH)
                return fail_at(rd, p, "blocks nested more than %d deep", MAX_BLOCK_DEPTH);
            r = parse_block(p, rd, d, &inner, true);
            p->blocks--;
            if (r != NACME_OK)
                return r;
        } else if (d->kind == NGINX_DIR_INCLUDE) {
            if ((r = include(p, rd, d)) != NACME_OK)
                return r;
        }
    }
}

/* One file's text: its directives are appended to parent's children at *tailp. */
static enum nacme_err parse_text(struct parser *p, const char *path, const char *text, size_t len,
                                 struct nginx_dir *parent, struct nginx_dir ***tailp)
{
    struct reader rd = {.buf = text, .len = len, .line = 1};
    enum nacme_err r;
    unsigned blocks = p->blocks;

    if ((r = add_file(p, path, &rd.file)) != NACME_OK)
        return r;
    rd.path = p->conf->files[rd.file];
    if (parent->kind == NGINX_DIR_FILE)
        parent->end = len;
    p->blocks = 0; /* blocks cannot span files: each file has its own depth limit */
    r = parse_block(p, &rd, parent, tailp, false);
    p->blocks = blocks;
    return r;
}

/* ---- include ----------------------------------------------------------------------------- */

/* "A:LINE -> B:LINE -> C" (each file and the line of its include) from the stack entry `from`
 * on, then `last`. */
static void cycle_chain(const struct parser *p, unsigned from, const char *last, char *buf,
                        size_t bufsz)
{
    size_t n = 0;
    unsigned i;

    buf[0] = '\0';
    for (i = from; i < p->depth && n < bufsz; i++)
        n += (size_t)snprintf(buf + n, bufsz - n, "%s:%u -> ", p->stack[i].path,
                              p->stack[i].line);
    if (n < bufsz)
        snprintf(buf + n, bufsz - n, "%s", last);
}

/* Read one included (or the main) file from disk and parse it under parent. */
static enum nacme_err include_disk_file(struct parser *p, const struct reader *rd,
                                        const char *path, struct nginx_dir *parent,
                                        struct nginx_dir ***tailp)
{
    char *text = NULL, chain[400];
    struct stat sb;
    enum nacme_err r;
    size_t got = 0;
    unsigned i;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        int e = errno;
        if (rd == NULL)
            return nacme_fail(p->ctx, NACME_E_CONFIG, "open() \"%s\" failed (%d: %s)", path, e,
                              strerror(e));
        return fail_at(rd, p, "open() \"%s\" failed (%d: %s)", path, e, strerror(e));
    }
    if (fstat(fd, &sb) != 0) {
        r = nacme_fail_errno(p->ctx, NACME_E_CONFIG, "fstat() \"%s\" failed", path);
        goto out;
    }
    for (i = 0; i < p->depth; i++)
        if (p->stack[i].dev == sb.st_dev && p->stack[i].ino == sb.st_ino) {
            cycle_chain(p, i, path, chain, sizeof(chain));
            r = fail_at(rd, p, "include of \"%s\" makes a cycle: %s", path, chain);
            goto out;
        }
    if (S_ISDIR(sb.st_mode)) {
        r = rd ? fail_at(rd, p, "pread() \"%s\" failed (%d: %s)", path, EISDIR, strerror(EISDIR))
               : nacme_fail(p->ctx, NACME_E_CONFIG, "pread() \"%s\" failed (%d: %s)", path,
                            EISDIR, strerror(EISDIR));
        goto out;
    }
    if ((text = malloc((size_t)sb.st_size + 1)) == NULL) {
        r = nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    while (got < (size_t)sb.st_size) {
        n = read(fd, text + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = nacme_fail_errno(p->ctx, NACME_E_CONFIG, "pread() \"%s\" failed", path);
            goto out;
        }
        if (n == 0)
            break; /* the file shrank: nginx would complain too; read what is there */
        got += (size_t)n;
    }
    if (p->depth == MAX_INCLUDE_DEPTH) {
        r = fail_at(rd, p, "includes nested more than %d deep at \"%s\"", MAX_INCLUDE_DEPTH,
                    path);
        goto out;
    }
    p->stack[p->depth++] = (struct open_file){path, sb.st_dev, sb.st_ino, 0};
    r = parse_text(p, path, text, got, parent, tailp);
    p->depth--;
out:
    free(text);
    close(fd);
    return r;
}

static int dump_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dump_file *)a)->path, ((const struct dump_file *)b)->path);
}

static const struct dump_file *dump_find(const struct nginx_conf *c, const char *path)
{
    struct dump_file key = {.path = path};

    return bsearch(&key, c->dump, c->ndump, sizeof(key), dump_cmp);
}

static enum nacme_err include_dump_file(struct parser *p, const struct reader *rd,
                                        const struct dump_file *f, struct nginx_dir *parent,
                                        struct nginx_dir ***tailp)
{
    char chain[400];
    enum nacme_err r;
    unsigned i;

    for (i = 0; i < p->depth; i++)
        if (strcmp(p->stack[i].path, f->path) == 0) {
            cycle_chain(p, i, f->path, chain, sizeof(chain));
            return fail_at(rd, p, "include of \"%s\" makes a cycle: %s", f->path, chain);
        }
    if (p->depth == MAX_INCLUDE_DEPTH)
        return fail_at(rd, p, "includes nested more than %d deep at \"%s\"", MAX_INCLUDE_DEPTH,
                       f->path);
    p->stack[p->depth++] = (struct open_file){.path = f->path};
    r = parse_text(p, f->path, f->text, f->len, parent, tailp);
    p->depth--;
    return r;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A glob on disk, as nginx's ngx_open_glob: glob(3) without GLOB_PERIOD (so '*' does not match a
 * leading dot), no match is no error; sorted in the C locale as nginx (which never calls
 * setlocale) gets them from glob(3). */
static enum nacme_err include_disk_glob(struct parser *p, const struct reader *rd,
                                        const char *pattern, struct nginx_dir *d,
                                        struct nginx_dir ***tailp)
{
    glob_t gl;
    enum nacme_err r = NACME_OK;
    size_t i;
    int rc;

    rc = glob(pattern, GLOB_NOSORT, NULL, &gl);
    if (rc == GLOB_NOMATCH)
        return NACME_OK;
    if (rc != 0) {
        if (rc != GLOB_NOSPACE)
            globfree(&gl);
        return rc == GLOB_NOSPACE ? nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory")
                                  : fail_at(rd, p, "glob() \"%s\" failed", pattern);
    }
    qsort(gl.gl_pathv, gl.gl_pathc, sizeof(char *), path_cmp);
    for (i = 0; i < gl.gl_pathc && r == NACME_OK; i++)
        r = include_disk_file(p, rd, gl.gl_pathv[i], d, tailp);
    globfree(&gl);
    return r;
}

/* The same glob over the files of an nginx -T dump (already sorted by path). */
static enum nacme_err include_dump_glob(struct parser *p, const struct reader *rd,
                                        const char *pattern, struct nginx_dir *d,
                                        struct nginx_dir ***tailp)
{
    enum nacme_err r = NACME_OK;
    size_t i;

    for (i = 0; i < p->conf->ndump && r == NACME_OK; i++)
        if (fnmatch(pattern, p->conf->dump[i].path, FNM_PATHNAME | FNM_PERIOD) == 0)
            r = include_dump_file(p, rd, &p->conf->dump[i], d, tailp);
    return r;
}

/* ngx_conf_include: the pattern relative to the main file's directory, a glob when it has one of
 * "*?[", else one file that must exist. */
static enum nacme_err include(struct parser *p, const struct reader *rd, struct nginx_dir *d)
{
    const char *arg = d->args[1];
    struct nginx_dir **tail = &d->child;
    char *full = NULL;
    const struct dump_file *f;
    enum nacme_err r;

    if (arg[0] == '/')
        full = nacme_strdup_new(arg);
    else
        full = nacme_printf_new("%.*s%s", (int)p->prefixlen, p->prefix, arg);
    if (full == NULL)
        return nacme_fail(p->ctx, NACME_E_NOMEM, "out of memory");
    if (p->depth > 0)
        p->stack[p->depth - 1].line = rd->line;
    if (strpbrk(full, "*?[") != NULL)
        r = p->conf->dump ? include_dump_glob(p, rd, full, d, &tail)
                          : include_disk_glob(p, rd, full, d, &tail);
    else if (p->conf->dump == NULL)
        r = include_disk_file(p, rd, full, d, &tail);
    else if ((f = dump_find(p->conf, full)) != NULL)
        r = include_dump_file(p, rd, f, d, &tail);
    else
        r = fail_at(rd, p, "open() \"%s\" failed: not in the nginx -T output", full);
    free(full);
    return r;
}

/* ---- entry points ------------------------------------------------------------------------ */

static enum nacme_err conf_start(struct nacme_ctx *ctx, struct parser *p, struct nginx_conf **c)
{
    *p = (struct parser){.ctx = ctx};
    if ((*c = calloc(1, sizeof(**c))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    p->conf = *c;
    if (((*c)->root = arena_alloc(&(*c)->arena, sizeof(*(*c)->root))) == NULL)
        return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
    *(*c)->root = (struct nginx_dir){.kind = NGINX_DIR_FILE, .line = 1};
    return NACME_OK;
}

static void set_prefix(struct parser *p, const char *main_path)
{
    const char *slash = strrchr(main_path, '/');

    p->prefix = main_path;
    p->prefixlen = slash ? (size_t)(slash - main_path) + 1 : 0;
}

enum nacme_err nginx_conf_read_new(struct nacme_ctx *ctx, const char *path,
                                   struct nginx_conf **out)
{
    struct nginx_conf *c = NULL;
    struct parser p;
    struct nginx_dir **tail;
    char *abs = NULL, cwd[4096];
    enum nacme_err r;

    *out = NULL;
    if ((r = conf_start(ctx, &p, &c)) != NACME_OK)
        goto out;
    if (path[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            r = nacme_fail_errno(ctx, NACME_E_IO, "getcwd");
            goto out;
        }
        abs = nacme_printf_new("%s/%s", cwd, path);
    } else {
        abs = nacme_strdup_new(path);
    }
    if (abs == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    set_prefix(&p, abs);
    tail = &c->root->child;
    if ((r = include_disk_file(&p, NULL, abs, c->root, &tail)) != NACME_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    free(p.args);
    free(abs);
    nginx_conf_free(c);
    return r;
}

/* Split nginx -T output: "# configuration file PATH:\n", the file's bytes, and the "\n" nginx
 * writes after each file. Text before the first header (nginx's own messages) is skipped. */
static enum nacme_err dump_split(struct nacme_ctx *ctx, struct nginx_conf *c, const char *what)
{
    static const char head[] = "# configuration file ";
    const size_t headlen = sizeof(head) - 1;
    char *s = c->dump_text, *end, *line, *nl, *text = NULL;
    size_t len = strlen(s), cap = 0; /* a NUL in the dump ends it */
    struct dump_file *cur = NULL;

    end = s + len;
    for (line = s; line < end; line = nl + 1) {
        if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
            nl = end;
        if ((size_t)(nl - line) > headlen + 1 && memcmp(line, head, headlen) == 0 &&
            nl[-1] == ':' && line[headlen] == '/') {
            if (cur != NULL) {
                cur->len = (size_t)(line - text);
                if (cur->len > 0 && text[cur->len - 1] == '\n')
                    cur->len--; /* the newline nginx added after the file */
            }
            if (c->ndump == cap) {
                struct dump_file *d;
                cap = cap ? cap * 2 : 64;
                if ((d = realloc(c->dump, cap * sizeof(*d))) == NULL)
                    return nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
                c->dump = d;
            }
            nl[-1] = '\0'; /* the path ends where the ':' was */
            cur = &c->dump[c->ndump++];
            cur->path = line + headlen;
            text = nl < end ? nl + 1 : end;
            cur->text = text;
            cur->len = 0;
        }
        if (nl == end)
            break;
    }
    if (cur == NULL)
        return nacme_fail(ctx, NACME_E_CONFIG,
                          "%s: not the output of nginx -T (no \"# configuration file\" line)",
                          what);
    cur->len = (size_t)(end - text);
    if (cur->len > 0 && text[cur->len - 1] == '\n')
        cur->len--;
    return NACME_OK;
}

static enum nacme_err dump_parse(struct nacme_ctx *ctx, struct nginx_conf **cp, const char *what,
                                 struct nginx_conf **out)
{
    struct nginx_conf *c = *cp;
    struct parser p;
    struct dump_file main_file;
    struct nginx_dir **tail;
    enum nacme_err r;

    p = (struct parser){.ctx = ctx, .conf = c};
    if ((r = dump_split(ctx, c, what)) != NACME_OK)
        goto out;
    main_file = c->dump[0];
    /* sorted for lookups; a path shown twice keeps its first text (qsort is not stable) */
    qsort(c->dump, c->ndump, sizeof(*c->dump), dump_cmp);
    set_prefix(&p, main_file.path);
    p.stack[p.depth++] = (struct open_file){.path = main_file.path};
    tail = &c->root->child;
    r = parse_text(&p, main_file.path, main_file.text, main_file.len, c->root, &tail);
    if (r != NACME_OK)
        goto out;
    *out = c;
    *cp = NULL;
out:
    free(p.args);
    return r;
}

enum nacme_err nginx_conf_parse_dump_new(struct nacme_ctx *ctx, const char *text, size_t len,
                                         const char *what, struct nginx_conf **out)
{
    struct nginx_conf *c = NULL;
    struct parser p;
    enum nacme_err r;

    *out = NULL;
    if ((r = conf_start(ctx, &p, &c)) != NACME_OK)
        goto out;
    if ((c->dump_text = nacme_strndup_new(text, len)) == NULL) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    r = dump_parse(ctx, &c, what, out);
out:
    nginx_conf_free(c);
    return r;
}

enum nacme_err nginx_conf_read_dump_new(struct nacme_ctx *ctx, const char *path,
                                        struct nginx_conf **out)
{
    struct nginx_conf *c = NULL;
    struct nacme_buf b = {0};
    struct parser p;
    const char *what = strcmp(path, "-") == 0 ? "standard input" : path;
    enum nacme_err r;
    char chunk[65536];
    FILE *f = NULL;
    size_t n;

    *out = NULL;
    if (strcmp(path, "-") == 0)
        f = stdin;
    else if ((f = fopen(path, "re")) == NULL) {
        r = nacme_fail_errno(ctx, NACME_E_CONFIG, "cannot open nginx -T output %s", path);
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > MAX_DUMP_SIZE) {
            r = nacme_fail(ctx, NACME_E_CONFIG, "%s: more than %zu bytes of nginx -T output",
                           what, MAX_DUMP_SIZE);
            goto out;
        }
        if (nacme_buf_append(&b, chunk, n) != 0) {
            r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory reading %s", what);
            goto out;
        }
    }
    if (ferror(f)) {
        r = nacme_fail_errno(ctx, NACME_E_CONFIG, "reading %s", what);
        goto out;
    }
    if (b.data == NULL && nacme_buf_append(&b, "", 0) != 0) {
        r = nacme_fail(ctx, NACME_E_NOMEM, "out of memory");
        goto out;
    }
    if ((r = conf_start(ctx, &p, &c)) != NACME_OK)
        goto out;
    c->dump_text = b.data;
    b.data = NULL;
    r = dump_parse(ctx, &c, what, out);
out:
    if (f != NULL && f != stdin)
        fclose(f);
    nacme_buf_clear(&b);
    nginx_conf_free(c);
    return r;
}
