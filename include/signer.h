/*
 * signer.h - the ACME account key in a process of its own.
 *
 * The main process talks to the network and parses what the CA sends; it never reads the account
 * key. It opens the key file (with the store's checks) and hands the descriptor to a signer: nacme
 * itself, executed again as "nacme --signer WHAT", which reads the key, answers with its public
 * half, drops every descriptor but its socket, confines itself (no new privileges; Landlock: no
 * file system access at all; seccomp: an allowlist of the few system calls signing needs) and then
 * signs what it is sent until the socket closes.
 */
#ifndef NACME_SIGNER_H
#define NACME_SIGNER_H

#include <stddef.h>

#include <openssl/evp.h>

#include "nacme.h"

struct signer;

/* Start a signer for the private key open for reading on key_fd (closed here in every case);
 * what names the key file in messages. *pub is a public-only key bound to the signer: jws.c signs
 * with it through the signer, and its last EVP_PKEY_free ends the signer process. */
enum nacme_err signer_key_new(struct nacme_ctx *ctx, int key_fd, const char *what, EVP_PKEY **pub);

/* The signer bound to key; NULL for a key this process holds itself. */
struct signer *signer_of(EVP_PKEY *key);

/* The signature of input (len bytes) as EVP_DigestSign makes it with the key's JWS digest. *sig
 * is freed by the caller. Safe to call from several threads at once. */
enum nacme_err signer_sign(struct nacme_ctx *ctx, struct signer *s, const char *input, size_t len,
                           unsigned char **sig, size_t *siglen);

/* The signer process: main() runs it for "nacme --signer WHAT" (fd 3: the key file, fd 4: the
 * socket); returns the exit status. */
int signer_main(const char *what);

#endif
