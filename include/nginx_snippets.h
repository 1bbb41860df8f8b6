/*
 * nginx_snippets.h - the files nacme writes into nginx's snippet directory (default
 * /etc/nginx/snippets), for server blocks to include:
 *   nacme-acme-challenge.conf  answers http-01: from the webroot, or (stateless) from the account
 *                              key's thumbprint with no files at all
 *   nacme-ssl-NAME.conf        ssl_certificate and ssl_certificate_key of live/NAME
 */
#ifndef NACME_NGINX_SNIPPETS_H
#define NACME_NGINX_SNIPPETS_H

#include <stdbool.h>

#include "nacme.h"

#define NGINX_CHALLENGE_SNIPPET "nacme-acme-challenge.conf"
/* Text only the stateless challenge snippet holds (account rollover rewrites that one). */
#define NGINX_STATELESS_MARK "nacme nginx-setup --stateless"

/* The http-01 snippet: served from webroot, or, when thumbprint is not NULL, answered by nginx
 * itself as TOKEN.THUMBPRINT for any base64url token (RFC 8555 §8.3 key authorization). */
enum nacme_err nginx_snippet_challenge_new(struct nacme_ctx *ctx, const char *webroot,
                                           const char *thumbprint, char **out);
/* The TLS snippet of lineage name under state_dir. */
enum nacme_err nginx_snippet_ssl_new(struct nacme_ctx *ctx, const char *state_dir,
                                     const char *name, char **out);
/* "nacme-ssl-NAME.conf" (heap), or NULL on OOM. */
char *nginx_snippet_ssl_file_new(const char *name);
/* Write text as dir/file (0644, atomically, never through a symlink) unless the file already holds
 * exactly text: *changed says whether it was written. dir is made (0755) when missing. */
enum nacme_err nginx_snippet_write(struct nacme_ctx *ctx, const char *dir, const char *file,
                                   const char *text, bool *changed);

/* Whether dir holds the stateless challenge snippet (false when dir or the file is missing). */
enum nacme_err nginx_snippet_challenge_is_stateless(struct nacme_ctx *ctx, const char *dir,
                                                    bool *stateless);

#endif
