/*
 * challenge.h - http-01 answers in a webroot that nginx serves:
 * WEBROOT/.well-known/acme-challenge/TOKEN holding the key authorization. Every file put is
 * remembered and removed by challenge_webroot_free, whatever happened in between.
 */
#ifndef NACME_CHALLENGE_H
#define NACME_CHALLENGE_H

#include "nacme.h"

struct challenge_webroot;

/* Open WEBROOT (it must exist) and make .well-known/acme-challenge in it, 0755 when created, so
 * that nginx's workers can read what we put there whatever our umask. */
enum nacme_err challenge_webroot_new(struct nacme_ctx *ctx, const char *webroot,
                                     struct challenge_webroot **out);
/* Write TOKEN (checked: base64url) with content keyauth, mode 0644. */
enum nacme_err challenge_webroot_put(struct nacme_ctx *ctx, struct challenge_webroot *w,
                                     const char *token, const char *keyauth);
/* Remove every token put, then free. */
void challenge_webroot_free(struct nacme_ctx *ctx, struct challenge_webroot *w);

/* After a run that did not finish (killed): remove the token files (and their temp files) it left
 * in WEBROOT/.well-known/acme-challenge, recognised by their content, a key authorization of the
 * account whose thumbprint is given; other files (another client's) stay. Returns how many. */
size_t challenge_webroot_sweep(struct nacme_ctx *ctx, const char *webroot, const char *thumbprint);

#endif
