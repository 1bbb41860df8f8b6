/*
 * cli_cmd.h - what the command line (cli.c) hands to each command (cmd_*.c): the parsed options
 * and the merged configuration. One file per command keeps each command's output and checks
 * next to each other, and cli.c to the option table, parsing and help.
 */
#ifndef NACME_CLI_CMD_H
#define NACME_CLI_CMD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "deploy.h"
#include "nacme.h"

struct cli_state {
    struct nacme_ctx *ctx;
    struct nacme_config cl; /* what the command line set; overlays the file */
    const char *config_path;
    bool json;
    bool json_printed; /* --json: a document went to stdout (cli_json_print) */
    bool after_unfinished_run; /* the state dir's lock named a run that did not finish */
    bool help;
    bool version;
    /* issue */
    char **domains;
    size_t ndomains;
    const char *cert_name;
    int timeout_s;
    bool force;
    bool reuse_key; /* --reuse-key: the lineage's key again, and recorded for renew */
    const char *preferred_chain; /* --preferred-chain ISSUER (argv's string) */
    const char *profile;         /* --profile NAME (argv's string) */
    bool separate;
    bool reload;
    bool nginx; /* --nginx: one certificate per site of nginx's configuration */
    int parallel;
    /* renew */
    bool dry_run;
    bool no_reload;
    time_t now; /* the wall clock for decisions: time(NULL), or NACME_NOW for tests */
    /* nginx-setup */
    bool stateless;
    /* account, revoke */
    const char **emails; /* every --email, in order (the strings are argv's) */
    size_t nemails;
    bool yes;             /* --yes: no confirmation asked */
    const char *reason;   /* revoke --reason */
    const char *cert_key; /* revoke --cert-key */
    bool delete_lineage;  /* revoke --delete */
    bool list;              /* --list: show the sites of nginx's configuration */
    const char *nginx_dump; /* --nginx-dump: read `nginx -T` output instead of the files */
    bool install;           /* --install: edit nginx's files */
};

/* The commands, one per cmd_NAME.c. */
enum nacme_err cmd_issue(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_nginx_setup(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_account_show(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_account_update(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_account_rollover(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_account_deactivate(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_revoke(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_renew(struct cli_state *st, struct nacme_config *cfg);
enum nacme_err cmd_list(struct cli_state *st, struct nacme_config *cfg);

/* --metrics: write the metrics file after command ran with result (cmd_list.c). Returns result,
 * or the metrics file's error when result was NACME_OK. */
enum nacme_err cli_metrics_after(struct cli_state *st, const struct nacme_config *cfg,
                                 const char *command, enum nacme_err result);

/* After an account session whose settling of an unfinished rollover rewrote the stateless
 * snippet (account_session.snippet_rewritten): one line on stderr, also with -q, asking for
 * nginx's reload (cmd_account.c). */
void cli_account_reload_notice(struct cli_state *st, const struct nacme_config *cfg);

/* Print o compactly on one stdout line and release it (NULL prints nothing); notes in st that
 * the command's JSON document is out. */
void cli_json_print(struct cli_state *st, json_t *o);
/* Ask "QUESTION? Type yes to go on:" on the terminal; NACME_OK with --yes or a "yes" answer.
 * Without --yes and without a terminal on stdin: NACME_E_USAGE saying to add --yes; any other
 * answer: NACME_E_INTERRUPTED, nothing done. */
enum nacme_err cli_confirm(struct cli_state *st, const char *question);
/* How deploy_run reaches the local nginx, from the configuration. */
void cli_deploy_opts(const struct nacme_config *cfg, struct deploy_opts *d);

#endif
