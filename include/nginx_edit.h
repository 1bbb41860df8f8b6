/*
 * nginx_edit.h - adding lines to nginx's own files without re-serialising them: every edit is one
 * piece of text inserted at a byte offset that the reader (nginx_conf.h) gave, so that the
 * admin's layout, indentation and comments stay exactly as they were.
 *
 * All functions here work on the text of one file and the directives read from that same text;
 * they write nothing (cmd_nginx_setup.c does, with backups and nginx's test).
 */
#ifndef NACME_NGINX_EDIT_H
#define NACME_NGINX_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "nacme.h"
#include "nginx_conf.h"

struct nginx_insert {
    size_t at;  /* byte offset in the file */
    char *text; /* what goes there (heap) */
};

/* Where a listen directive of a server block listens. */
struct nginx_listen {
    long port;     /* -1 for a unix socket */
    bool ssl;      /* has the "ssl" parameter */
    char addr[96]; /* the address without the port ("" when only a port was given; "[::]") */
};

/* The listen of directive d (args as nginx read them); false when it is not one nginx takes. */
bool nginx_listen_parse(const struct nginx_dir *d, struct nginx_listen *out);

/* Whether block (a server block) holds "include PATH;" of a file named file_name (PATH is that
 * name, or ends with "/" and that name), directly in its own body. */
bool nginx_block_includes(const struct nginx_dir *block, const char *file_name);

/* The insertion that makes block hold `directive` (e.g. "include /x/y.conf;"), into text (the
 * whole file that block was read from):
 *  - on a line of its own right after the server_name directive (after the `server {` line when
 *    there is none), indented like the block's first directive, with the file's line ending;
 *  - when something other than a comment follows on that line (a block written on one line,
 *    `server { listen 80; }`), on the same line: " include ...;" right after server_name (after
 *    the "{").
 * NACME_E_INVALID when block's offsets do not fit text (the file changed since it was read). */
enum nacme_err nginx_edit_include(struct nacme_ctx *ctx, const char *text, size_t len,
                                  const struct nginx_dir *block, const char *directive,
                                  struct nginx_insert *out);

/* A new server block right after block (an HTTP server block), in the same file: a comment
 * saying where it came from (origin, e.g. "FILE:LINE"), one "listen ADDR:https_port ssl;" per
 * listen of block on http_port (same address), "server_name NAMES;", `directive` (the TLS include),
 * then block's own body as written, without its listen and server_name directives nor an include
 * of a file named drop_include (the challenge snippet; may be NULL): the HTTPS site serves what
 * the HTTP one did. Indented like block. */
enum nacme_err nginx_edit_https_server(struct nacme_ctx *ctx, const char *text, size_t len,
                                       const struct nginx_dir *block, long http_port,
                                       long https_port, char *const *names, size_t nnames,
                                       const char *directive, const char *origin,
                                       const char *drop_include, struct nginx_insert *out);

/* text with every insertion made (any order given; several at one offset keep their order).
 * NULL on OOM. */
char *nginx_edit_apply_new(const char *text, size_t len, const struct nginx_insert *ins,
                           size_t nins, size_t *newlen);

#endif
