/*
 * nginx_conf.h - reading an nginx configuration the way nginx itself reads it
 * (ngx_conf_read_token and ngx_conf_parse in nginx's src/core/ngx_conf_file.c), into a tree of
 * directives, following `include` (globs sorted, hidden files not matched by `*`, relative paths
 * against the main file's directory) either on disk or inside the output of `nginx -T`.
 *
 * Every directive keeps its file, its line and the byte offsets of its start and end in that file,
 * so that an editor can later insert a line after a given directive without re-reading anything.
 * All memory of one configuration lives in one arena, freed at once by nginx_conf_free().
 */
#ifndef NACME_NGINX_CONF_H
#define NACME_NGINX_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "nacme.h"

enum nginx_dir_kind {
    NGINX_DIR_SIMPLE,  /* name args; */
    NGINX_DIR_BLOCK,   /* name args { children } */
    NGINX_DIR_INCLUDE, /* include PATTERN; children: the directives of every file it included, in
                          nginx's order (each child names its own file) */
    NGINX_DIR_FILE,    /* the root: the main file; children: its top-level directives */
};

struct nginx_dir {
    char **args;             /* args[0] is the name; NUL-terminated, escapes decoded as nginx */
    uint32_t nargs;
    uint32_t file;           /* index for nginx_conf_file_path(); each reading of a file has its
                                own (a file included twice has two) */
    uint32_t line;           /* line of the directive's first character */
    uint32_t kind;           /* enum nginx_dir_kind */
    size_t start;            /* byte offset of the directive's first character in its file */
    size_t body;             /* blocks: offset just after "{"; others: same as end */
    size_t end;              /* offset just after the terminating ";" or "}"; the root: the
                                file's length */
    struct nginx_dir *parent;
    struct nginx_dir *child; /* first child */
    struct nginx_dir *next;  /* next sibling */
};

struct nginx_conf;

/* Read path (relative paths are taken against the current directory) and everything it includes.
 * Errors are NACME_E_CONFIG with one line "FILE:LINE: what", worded like nginx's own messages. */
enum nacme_err nginx_conf_read_new(struct nacme_ctx *ctx, const char *path,
                                   struct nginx_conf **out);

/* Read the output of `nginx -T` from path ("-": standard input): the files it shows after each
 * "# configuration file PATH:" line; the first is the main file, and includes are resolved
 * against these files instead of the disk. */
enum nacme_err nginx_conf_read_dump_new(struct nacme_ctx *ctx, const char *path,
                                        struct nginx_conf **out);
/* The same from text already in memory; what names it in messages. */
enum nacme_err nginx_conf_parse_dump_new(struct nacme_ctx *ctx, const char *text, size_t len,
                                         const char *what, struct nginx_conf **out);

/* The root (kind NGINX_DIR_FILE, the main file); never NULL for a conf that was read. */
const struct nginx_dir *nginx_conf_root(const struct nginx_conf *conf);
/* The path of file index i, as nginx names it (absolute), or NULL when out of range. */
const char *nginx_conf_file_path(const struct nginx_conf *conf, uint32_t i);
uint32_t nginx_conf_nfiles(const struct nginx_conf *conf);
/* Directives read, over all files (for statistics and tests). */
size_t nginx_conf_ndirs(const struct nginx_conf *conf);

/* The directives of a block (or of the root) as nginx sees them: an include's files stand where
 * the include stands, so both walk into includes and out of them again, and never return an
 * include itself. for (d = nginx_dir_first(b); d; d = nginx_dir_next(d)) ... */
const struct nginx_dir *nginx_dir_first(const struct nginx_dir *block);
const struct nginx_dir *nginx_dir_next(const struct nginx_dir *d);

/* The directive (an include too) that starts on line of the file named path, the first one when
 * several do; NULL when none. An editor told "path:line" finds the directive here and inserts a
 * line after it at its end offset (into a block at its body offset). */
const struct nginx_dir *nginx_conf_find(const struct nginx_conf *conf, const char *path,
                                        uint32_t line);

void nginx_conf_free(struct nginx_conf *conf);

#endif
