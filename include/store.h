/*
 * store.h - the state directory (default /var/lib/nacme).
 *
 *   STATE/                         0700
 *     accounts/CA_ID/              0700  CA_ID = store_ca_id(directory URL)
 *       account.key                0600  PEM private key of the ACME account
 *       account.json               0600  {"directory": ..., "url": ...}; url absent before
 *                                        the CA knows the key
 *     archive/NAME/                0700
 *       lineage.json               0600  what is needed to repeat the order (see struct)
 *       N/{cert,chain,fullchain}.pem  0644, N/privkey.pem 0600, N/ itself 0700
 *     lock                         0600  flock(2)ed by the run that holds the state dir; its pid
 *     live/                        0755
 *       NAME -> ../archive/NAME/N  symlink, switched by one rename(2) so that a reader never
 *                                  sees the key of one version with the certificate of another
 */
#ifndef NACME_STORE_H
#define NACME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "nacme.h"

struct nacme_store {
    char *path; /* as given, for messages */
    int dirfd;  /* the state directory, opened O_DIRECTORY|O_NOFOLLOW */
    int lockfd; /* STATE/lock while store_lock holds it, else -1 */
    int archfd; /* STATE/archive and STATE/live, kept open: a run reading a thousand lineages */
    int livefd; /* resolves them once, not once per lineage */
    bool lock_waited; /* store_lock had to wait for another nacme to finish */
    bool previous_died; /* store_lock found the lock of a run that did not finish: its temp
                           files were removed; its http-01 tokens may still be in the webroot */
};

/* Open the state directory, creating it (0700) and its subdirectories when missing. */
enum nacme_err store_open_new(struct nacme_ctx *ctx, const char *path, struct nacme_store **out);
void store_free(struct nacme_store *st);

/* A file-system-safe identifier for a CA from its directory URL: scheme dropped, every byte
 * outside [A-Za-z0-9.-] replaced with '_', e.g. "acme-v02.api.letsencrypt.org_directory".
 * Heap string, or NULL on OOM. */
char *store_ca_id_new(const char *directory_url);

/* A certificate name is 1..200 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool store_name_valid(const char *name);

/* The account for a CA. *key_pem is wiped and freed by the caller with nacme_secret_free(). *url is
 * NULL when the key exists but no account URL was recorded yet. NACME_E_NOTFOUND: no account key.
 * NACME_E_INVALID when account.json records another directory URL with the same CA_ID. */
enum nacme_err store_account_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *directory_url, char **key_pem, size_t *key_len,
                                      char **url);
/* Save the key (when key_pem is not NULL) and then the record; url may be NULL. */
/* The same checks, but account.key is opened (*key_fd, O_CLOEXEC), not read: for the signer
 * process, so that this one never holds the key. *key_path names it in messages (free it). */
enum nacme_err store_account_key_open(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *directory_url, int *key_fd, char **key_path,
                                      char **url);
enum nacme_err store_account_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                  const char *directory_url, const char *key_pem, size_t key_len,
                                  const char *url);

/* Account key rollover (RFC 8555 §7.3.5) in a store where a crash at any point leaves a key the CA
 * accepts: the new key is written as account.key.new (0600) before the CA hears of it; once the CA
 * has answered (or, after a crash, once a lookup tells which key it knows), settle either renames
 * it over account.key (take_new) or removes it. The account URL does not change. load:
 * NACME_E_NOTFOUND when no rollover is pending. */
enum nacme_err store_account_key_pending_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                              const char *directory_url, const char *key_pem,
                                              size_t key_len);
enum nacme_err store_account_key_pending_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                                  const char *directory_url, char **key_pem,
                                                  size_t *key_len);
enum nacme_err store_account_key_pending_settle(struct nacme_ctx *ctx, struct nacme_store *st,
                                                const char *directory_url, bool take_new);
/*
 * What renew keeps between runs, in lineage.json's optional "renewal" object (absent after a new
 * version is installed: everything below describes one certificate). Times are seconds since the
 * epoch, 0 meaning "none"; strings may be NULL.
 *
 *   "cert_version"   the version the cached certificate facts belong to; they are stale (and
 *                    recomputed from live/NAME/cert.pem) when it differs from the live version
 *   "not_before", "not_after", "certid"   of that certificate (certid: RFC 9773 CertID), cached
 *                    so that a run with nothing due parses no certificate
 *   "ari_start", "ari_end"   the CA's last suggested window (RFC 9773), or absent
 *   "ari_moment"     the moment picked at random in that window once, kept while the window
 *                    stays the same so that runs agree
 *   "ari_explanation" the window's explanationURL
 *   "ari_next_poll"  when to ask the CA for the window again (Retry-After, clamped to
 *                    [1 min, 1 day]; a day when the CA has no renewalInfo; absent: next run)
 *   "next_renewal", "next_source"  the renewal moment the last run computed and where it came
 *                    from: "ari", "renew_before_days" or "lifetime" (for `nacme list`)
 *   "failures"       consecutive failed renewals of this certificate
 *   "last_failure", "last_error"  when the last one failed and its one-line cause (the CA's
 *                    problem)
 *   "retry_after"    the CA's Retry-After in seconds with that failure, or absent
 *   "next_attempt"   no renewal is tried before this (backoff: 1 min, 10 min, 100 min, then a
 *                    day, or the Retry-After when longer); --force ignores it
 */
struct store_renewal {
    int cert_version;
    time_t not_before, not_after;
    char *certid;
    time_t ari_start, ari_end, ari_moment, ari_next_poll;
    char *ari_explanation;
    time_t next_renewal;
    char *next_source;
    int failures;
    time_t last_failure;
    char *last_error;
    long retry_after;
    time_t next_attempt;
};
void store_renewal_clear(struct store_renewal *rn);

/* What a lineage records so that renewal can repeat it. */
struct store_lineage {
    char *name;      /* the certificate name (directory under archive/ and live/) */
    char **domains;  /* the identifiers, in order */
    size_t ndomains;
    char *key_type;  /* keytype_name() */
    char *server;    /* ACME directory URL */
    char *challenge; /* "http-01" or "dns-01" */
    char *webroot;   /* where http-01 tokens were written */
    char *dns_hook;  /* dns-01: the hook that adds and removes TXT records, or NULL (absent) */
    char *dns_resolver; /* dns-01: the resolver waited for, or NULL (absent) */
    int version;     /* N of the version live/NAME points at; 0 before the first install */
    bool reuse_key;  /* renewal keeps the live version's private key ("reuse_key": true) */
    char *preferred_chain; /* --preferred-chain's issuer CN, or NULL (field absent) */
    char *profile;   /* the CA's certificate profile asked for (--profile), or NULL (absent) */
    struct store_renewal renewal; /* renew's state; all zero when none is recorded */
};

/* NACME_E_NOTFOUND when there is no such lineage. version is the one live/NAME points at when
 * that differs from lineage.json's (a crash between the switch and writing lineage.json). */
enum nacme_err store_lineage_load_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      const char *name, struct store_lineage **out);
void store_lineage_free(struct store_lineage *lin);

/* Install a new version: archive/NAME/N+1/ with the four files (N+2... when a crash left N+1
 * behind: an existing version directory is never written into), live/NAME switched to it with one
 * rename, then lineage.json (version N+1). Every file goes through safefile_write. On failure
 * before the switch the previous version stays live and the half-written directory is removed;
 * a failure to write lineage.json after the switch is only a warning, since loading trusts the
 * live link over lineage.json. lin->version is updated on success. key_pem is not modified. */
enum nacme_err store_lineage_install(struct nacme_ctx *ctx, struct nacme_store *st,
                                     struct store_lineage *lin, const char *cert_pem,
                                     const char *chain_pem, const char *fullchain_pem,
                                     const char *key_pem, size_t key_len);

/* The names of every lineage under live/, sorted. Free with store_names_free. */
enum nacme_err store_lineage_list_new(struct nacme_ctx *ctx, struct nacme_store *st,
                                      char ***names, size_t *n);
void store_names_free(char **names, size_t n);

/* The two halves of store_lineage_install, for runs that test nginx between them: stage writes
 * the new version (archive/NAME/N+1 or later, complete and fsynced) without making it live and sets
 * *staged to its number; switch points live/NAME at version (also back at an older one) and
 * records lin (with that version) in lineage.json. */
enum nacme_err store_lineage_stage(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const struct store_lineage *lin, const char *cert_pem,
                                   const char *chain_pem, const char *fullchain_pem,
                                   const char *key_pem, size_t key_len, int *staged);
enum nacme_err store_lineage_switch(struct nacme_ctx *ctx, struct nacme_store *st,
                                    struct store_lineage *lin, int version);
/* Remove live/NAME (undoing the switch of a lineage's first version). */
enum nacme_err store_live_remove(struct nacme_ctx *ctx, struct nacme_store *st, const char *name);
/* Remove a staged version that never went live (best effort: what stays is never reused). */
void store_lineage_unstage(struct nacme_store *st, const char *name, int version);

/* Remove live/NAME (only when it is a symbolic link) and then archive/NAME with everything in it,
 * never following a symbolic link (one found inside is removed as a link). NACME_E_NOTFOUND when
 * neither exists. */
enum nacme_err store_lineage_remove(struct nacme_ctx *ctx, struct nacme_store *st,
                                    const char *name);
/* Rewrite lineage.json with lin as it is (same version, nothing switched): how renew records its
 * state. lineage.json goes through safefile_write like every other file. */
enum nacme_err store_lineage_save(struct nacme_ctx *ctx, struct nacme_store *st,
                                  const struct store_lineage *lin);

/* Take STATE/lock (flock, so the kernel releases it when the process dies, even by kill -9),
 * waiting up to wait_s seconds for another nacme to finish; the holder's pid is written into the
 * file. NACME_E_TIMEOUT naming the holder's pid when the wait runs out, NACME_E_INTERRUPTED on a
 * termination signal. Released by store_unlock or store_free. */
enum nacme_err store_lock(struct nacme_ctx *ctx, struct nacme_store *st, int wait_s);
void store_unlock(struct nacme_store *st);

/* When version's cert.pem was written (archive/NAME/N/cert.pem's mtime): when that certificate
 * was obtained, since every file is written once and never rewritten. */
enum nacme_err store_version_mtime(struct nacme_ctx *ctx, struct nacme_store *st,
                                   const char *name, int version, time_t *mtime);

/* Whether the state dir's file system has room for a new version (STORE_SPACE_MIN bytes and
 * STORE_INODES_MIN inodes: four PEM files, a directory, lineage.json and the temp files of each,
 * with a margin), checked before ordering so that a full disk does not cost a certificate the CA
 * issued (and counted against its rate limits) and then was lost. NACME_E_IO with one line naming
 * the state dir, ENOSPC and the figures. */
#define STORE_SPACE_MIN (64 * 1024)
#define STORE_INODES_MIN 16
enum nacme_err store_space_check(struct nacme_ctx *ctx, const struct nacme_store *st);

/* The current live certificate (live/NAME/cert.pem) as a heap string; NACME_E_NOTFOUND if none. */
enum nacme_err store_live_cert_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *name,
                                   char **cert_pem);
/* The current live private key (live/NAME/privkey.pem), NACME_E_NOTFOUND if none. *key_pem is
 * wiped and freed by the caller with nacme_secret_free(). */
enum nacme_err store_live_key_new(struct nacme_ctx *ctx, struct nacme_store *st, const char *name,
                                  char **key_pem, size_t *key_len);

#endif
