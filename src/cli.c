/*
 * cli.c - the command line. Every option is one row of cli_options[]: getopt_long's table, the
 * --help text and (through tests/integration/t_docs.sh) nacme(1) all come from these rows.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "acme.h"
#include "cli_cmd.h"
#include "config.h"
#include "dns01.h"
#include "nacme.h"

enum cli_cmd_bit {
    CMD_GLOBAL = 0, /* valid before and after every command */
    CMD_ISSUE = 1 << 0,
    CMD_NGINX_SETUP = 1 << 1,
    /* accounts and revocation (high bits, apart from the other commands) */
    CMD_ACCOUNT_SHOW = 1 << 16,
    CMD_ACCOUNT_UPDATE = 1 << 17,
    CMD_ACCOUNT_ROLLOVER = 1 << 18,
    CMD_ACCOUNT_DEACTIVATE = 1 << 19,
    CMD_REVOKE = 1 << 20,
    CMD_RENEW = 1 << 2,
    CMD_LIST = 1 << 3,
};

enum cli_opt_id {
    OPT_SERVER = 256,
    OPT_CA_BUNDLE,
    OPT_STATE_DIR,
    OPT_WEBROOT,
    OPT_EMAIL,
    OPT_AGREE_TOS,
    OPT_EAB_KID,
    OPT_EAB_HMAC_KEY,
    OPT_CONFIG,
    OPT_JSON,
    OPT_VERSION,
    OPT_CERT_NAME,
    OPT_KEY_TYPE,
    OPT_FORCE,
    OPT_REUSE_KEY,
    OPT_PREFERRED_CHAIN,
    OPT_PROFILE,
    OPT_TIMEOUT,
    OPT_SEPARATE,
    OPT_PARALLEL,
    OPT_NGINX_SNIPPETS,
    OPT_STATELESS,
    OPT_RELOAD,
    OPT_HTTP_PORT,
    OPT_NO_PREFLIGHT,
    OPT_YES,
    OPT_REASON,
    OPT_CERT_KEY,
    OPT_DELETE,
    OPT_NO_RELOAD,
    OPT_DRY_RUN,
    OPT_NGINX_CONF,
    OPT_NGINX_DUMP,
    OPT_LIST,
    OPT_METRICS,
    OPT_INSTALL,
    OPT_NGINX,
    OPT_CHALLENGE,
    OPT_DNS_HOOK,
    OPT_DNS_RESOLVER,
    OPT_VERBOSE = 'v',
    OPT_QUIET = 'q',
    OPT_HELP = 'h',
    OPT_DOMAIN = 'd',
};

struct cli_option {
    const char *name;
    int id;          /* getopt_long's val: the short letter, or an OPT_ id */
    int has_arg;     /* no_argument or required_argument */
    const char *arg; /* argument name in --help */
    unsigned cmds;   /* CMD_GLOBAL or the commands it belongs to */
    const char *help;
};

static const struct cli_option cli_options[] = {
    {"server", OPT_SERVER, required_argument, "URL", CMD_GLOBAL,
     "ACME directory URL, or letsencrypt, letsencrypt-staging (default letsencrypt)"},
    {"ca-bundle", OPT_CA_BUNDLE, required_argument, "FILE", CMD_GLOBAL,
     "trust anchors (PEM) for the ACME server's HTTPS instead of the system's"},
    {"state-dir", OPT_STATE_DIR, required_argument, "DIR", CMD_GLOBAL,
     "accounts, keys and certificates (default " NACME_DEFAULT_STATE_DIR ")"},
    {"webroot", OPT_WEBROOT, required_argument, "DIR", CMD_GLOBAL,
     "where http-01 tokens go, served by nginx (default " NACME_DEFAULT_WEBROOT ")"},
    {"email", OPT_EMAIL, required_argument, "ADDR", CMD_GLOBAL,
     "contact address for the ACME account"},
    {"agree-tos", OPT_AGREE_TOS, no_argument, NULL, CMD_GLOBAL,
     "agree to the CA's terms of service"},
    {"eab-kid", OPT_EAB_KID, required_argument, "KID", CMD_GLOBAL,
     "External Account Binding key identifier from the CA"},
    {"eab-hmac-key", OPT_EAB_HMAC_KEY, required_argument, "KEY", CMD_GLOBAL,
     "External Account Binding MAC key (base64url) from the CA"},
    {"nginx-snippets", OPT_NGINX_SNIPPETS, required_argument, "DIR", CMD_GLOBAL,
     "nginx's snippet directory (default " NACME_DEFAULT_NGINX_SNIPPETS ")"},
    {"http-port", OPT_HTTP_PORT, required_argument, "N", CMD_GLOBAL,
     "the local nginx's port for what the CA fetches on port 80 (default 80)"},
    {"no-preflight", OPT_NO_PREFLIGHT, no_argument, NULL, CMD_GLOBAL,
     "do not fetch each token from the local nginx before the CA is asked"},
    {"nginx-conf", OPT_NGINX_CONF, required_argument, "FILE", CMD_GLOBAL,
     "nginx's main configuration file (default " NACME_DEFAULT_NGINX_CONF ")"},
    {"config", OPT_CONFIG, required_argument, "FILE", CMD_GLOBAL,
     "configuration file (default " NACME_DEFAULT_CONFIG ")"},
    {"json", OPT_JSON, no_argument, NULL, CMD_GLOBAL, "print the result as JSON on stdout"},
    {"metrics", OPT_METRICS, required_argument, "FILE", CMD_GLOBAL,
     "after issue, renew and list, write every certificate's state as a Prometheus textfile"},
    {"verbose", OPT_VERBOSE, no_argument, NULL, CMD_GLOBAL, "more detail (twice: debug)"},
    {"quiet", OPT_QUIET, no_argument, NULL, CMD_GLOBAL, "only errors"},
    {"help", OPT_HELP, no_argument, NULL, CMD_GLOBAL, "this help"},
    {"version", OPT_VERSION, no_argument, NULL, CMD_GLOBAL, "print the version"},
    {"domain", OPT_DOMAIN, required_argument, "NAME", CMD_ISSUE,
     "a DNS name, *.NAME (with dns-01) or IP address for the certificate (repeat for more)"},
    {"cert-name", OPT_CERT_NAME, required_argument, "NAME",
     CMD_ISSUE | CMD_RENEW | CMD_LIST | CMD_REVOKE,
     "name of the lineage under live/ (issue: default the first domain; else only this one)"},
    {"key-type", OPT_KEY_TYPE, required_argument, "TYPE", CMD_ISSUE,
     "certificate key: ec256 (default), ec384, rsa2048, rsa3072, rsa4096"},
    {"force", OPT_FORCE, no_argument, NULL, CMD_ISSUE | CMD_RENEW,
     "replace a certificate even when it is not due for renewal (renew: and despite backoff)"},
    {"reuse-key", OPT_REUSE_KEY, no_argument, NULL, CMD_ISSUE | CMD_RENEW,
     "keep the lineage's private key for the new certificate (recorded: renew repeats it)"},
    {"preferred-chain", OPT_PREFERRED_CHAIN, required_argument, "ISSUER", CMD_ISSUE | CMD_RENEW,
     "of the CA's chains, the one whose topmost certificate's issuer CN is ISSUER (recorded)"},
    {"profile", OPT_PROFILE, required_argument, "NAME", CMD_ISSUE | CMD_RENEW,
     "ask the CA for its certificate profile NAME, one its directory offers (recorded)"},
    {"challenge", OPT_CHALLENGE, required_argument, "TYPE", CMD_ISSUE,
     "http-01 (default: a token file nginx serves) or dns-01 (a TXT record through --dns-hook; "
     "needed for wildcard names) (recorded)"},
    {"dns-hook", OPT_DNS_HOOK, required_argument, "PROG", CMD_ISSUE,
     "dns-01: run as PROG add|remove RECORD VALUE (no shell) to put and take away each TXT "
     "record (recorded)"},
    {"dns-resolver", OPT_DNS_RESOLVER, required_argument, "IP[:PORT]", CMD_ISSUE,
     "dns-01: after the hook, ask this resolver until it answers the TXT value, before the CA "
     "is asked to look (recorded)"},
    {"timeout", OPT_TIMEOUT, required_argument, "SECONDS", CMD_ISSUE | CMD_RENEW,
     "give up waiting for validation and issuance after this long (default 300)"},
    {"reload", OPT_RELOAD, no_argument, NULL, CMD_ISSUE | CMD_NGINX_SETUP | CMD_ACCOUNT_ROLLOVER,
     "test nginx, make the new certificates live, reload nginx once and check it serves them "
     "(nginx-setup --install: reload nginx after a successful edit and test; account rollover: "
     "test and reload for the rewritten snippet)"},
    {"nginx", OPT_NGINX, no_argument, NULL, CMD_ISSUE,
     "one certificate per site of nginx's configuration (see nginx-setup --list), named after "
     "the site's first name"},
    {"separate", OPT_SEPARATE, no_argument, NULL, CMD_ISSUE,
     "one certificate per name instead of one for all names"},
    {"parallel", OPT_PARALLEL, required_argument, "N", CMD_ISSUE | CMD_RENEW,
     "orders in flight at once with --separate or renew (default 10, at most 100)"},
    {"dry-run", OPT_DRY_RUN, no_argument, NULL, CMD_RENEW,
     "renew every selected certificate (Let's Encrypt's at its staging CA), install nothing"},
    {"no-reload", OPT_NO_RELOAD, no_argument, NULL, CMD_RENEW,
     "make renewed certificates live without testing or reloading nginx"},
    {"stateless", OPT_STATELESS, no_argument, NULL, CMD_NGINX_SETUP,
     "answer challenges from the account key's thumbprint in nginx itself, with no files"},
    {"reason", OPT_REASON, required_argument, "REASON", CMD_REVOKE,
     "unspecified, keyCompromise, superseded or cessationOfOperation (default: none sent)"},
    {"cert-key", OPT_CERT_KEY, required_argument, "FILE", CMD_REVOKE,
     "sign the revocation with the certificate's own key instead of the account's"},
    {"delete", OPT_DELETE, no_argument, NULL, CMD_REVOKE,
     "then remove the lineage: live/NAME and archive/NAME (asks first)"},
    {"yes", OPT_YES, no_argument, NULL, CMD_ACCOUNT_DEACTIVATE | CMD_REVOKE,
     "do not ask for confirmation (needed when there is no terminal)"},
    {"list", OPT_LIST, no_argument, NULL, CMD_NGINX_SETUP,
     "list the sites of nginx's configuration that nacme can certify, and the names it cannot; "
     "writes nothing"},
    {"nginx-dump", OPT_NGINX_DUMP, required_argument, "FILE", CMD_NGINX_SETUP,
     "with --list: read the output of `nginx -T` from FILE (- for standard input) instead of "
     "nginx's files"},
    {"install", OPT_INSTALL, no_argument, NULL, CMD_NGINX_SETUP,
     "add the include lines (and HTTPS server blocks) to nginx's files, with backups, test nginx "
     "and put every file back if the test fails"},
};
#define CLI_NOPTIONS (sizeof(cli_options) / sizeof(cli_options[0]))


struct cli_command {
    const char *name;
    unsigned bit;
    const char *args;
    const char *summary;
    enum nacme_err (*run)(struct cli_state *st, struct nacme_config *cfg);
};

static const struct cli_command cli_commands[] = {
    {"issue", CMD_ISSUE,
     "-d NAME [-d NAME ...] [--cert-name NAME | --separate [--parallel N]] | --nginx "
     "[--key-type TYPE] [--reuse-key] [--preferred-chain ISSUER] [--profile NAME] [--force] "
     "[--reload] [--timeout SECONDS] [--challenge dns-01 --dns-hook PROG "
     "[--dns-resolver IP[:PORT]]]",
     "obtain a certificate for one or more names over http-01 (or dns-01)", cmd_issue},
    {"renew", CMD_RENEW,
     "[--cert-name NAME] [--force] [--reuse-key] [--preferred-chain ISSUER] [--profile NAME] "
     "[--dry-run] [--no-reload] [--parallel N] [--timeout SECONDS]",
     "renew every certificate that is due (ARI or lifetime), then test and reload nginx once",
     cmd_renew},
    {"list", CMD_LIST, "[--cert-name NAME]",
     "show every certificate: expiry, next renewal and its source, failures (local state only)",
     cmd_list},
    {"status", CMD_LIST, "[--cert-name NAME]", "the same as list", cmd_list},
    {"nginx-setup", CMD_NGINX_SETUP,
     "[--stateless] [--install [--reload]] | --list [--nginx-dump FILE]",
     "write nginx snippets for http-01 and each certificate, and say where to include them "
     "(--install: include them); or, with --list, list the sites nginx serves",
     cmd_nginx_setup},
    {"account show", CMD_ACCOUNT_SHOW, "",
     "show the CA's account: URL, contacts, status, key type and thumbprint", cmd_account_show},
    {"account update", CMD_ACCOUNT_UPDATE, "--email ADDR [--email ADDR ...] | --email ''",
     "replace the account's contact addresses ('' removes them all)", cmd_account_update},
    {"account rollover", CMD_ACCOUNT_ROLLOVER, "[--reload]",
     "replace the account key (keyChange) and the stateless snippet's thumbprint",
     cmd_account_rollover},
    {"account deactivate", CMD_ACCOUNT_DEACTIVATE, "[--yes]",
     "deactivate the account at the CA for good (asks first)", cmd_account_deactivate},
    {"revoke", CMD_REVOKE,
     "--cert-name NAME [--reason REASON] [--cert-key FILE] [--delete [--yes]]",
     "revoke a certificate, signed by the account or by the certificate's key", cmd_revoke},
};
#define CLI_NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

/* ---- help ------------------------------------------------------------------------------- */

/* One row of --help: the left column, then text wrapped at 100 columns under itself. */
static void help_row(FILE *f, const char *left, const char *text)
{
    const int indent = 31, width = 100;
    int col = fprintf(f, "  %-28s ", left);
    const char *p = text;

    while (*p != '\0') {
        size_t n = strcspn(p, " ");
        if (col > indent && col + 1 + (int)n > width) {
            col = fprintf(f, "\n%*s", indent, "") - 1;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        col += fprintf(f, "%.*s", (int)n, p);
        p += n;
        p += strspn(p, " ");
    }
    fputc('\n', f);
}

static void print_options(FILE *f, unsigned cmds)
{
    char left[64];
    size_t i;

    for (i = 0; i < CLI_NOPTIONS; i++) {
        const struct cli_option *o = &cli_options[i];
        /* an option may belong to several commands; global ones are listed apart */
        if (cmds == CMD_GLOBAL ? o->cmds != CMD_GLOBAL : !(o->cmds & cmds))
            continue;
        if (o->id < 256)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->id, o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        help_row(f, left, o->help);
    }
}

static void print_help(FILE *f, const struct cli_command *cmd)
{
    size_t i;

    if (cmd != NULL) {
        fprintf(f, "Usage: nacme [OPTIONS] %s%s%s\n\n%c%s.\n\nOptions of %s:\n", cmd->name,
                cmd->args[0] ? " " : "", cmd->args, cmd->summary[0] - 32, cmd->summary + 1,
                cmd->name);
        print_options(f, cmd->bit);
        fprintf(f, "\nGlobal options:\n");
        print_options(f, CMD_GLOBAL);
        return;
    }
    fprintf(f, "Usage: nacme [OPTIONS] COMMAND [COMMAND OPTIONS]\n\n"
               "Obtain TLS certificates from an ACME CA (RFC 8555) and wire them into nginx.\n\n"
               "Commands:\n");
    for (i = 0; i < CLI_NCOMMANDS; i++)
        help_row(f, cli_commands[i].name, cli_commands[i].summary);
    fprintf(f, "\nGlobal options:\n");
    print_options(f, CMD_GLOBAL);
    fprintf(f, "\nSettings come from " NACME_DEFAULT_CONFIG " (see nacme.conf(5)); the command "
               "line wins.\nRun 'nacme COMMAND --help' for a command's options.\n"
               "Exit status: 0 success, 1 failure, 2 usage or configuration error.\n");
}

/* "nacme account --help": every command of the group with the options of all of them. */
static void print_group_help(FILE *f, const char *group)
{
    size_t i, glen = strlen(group);
    unsigned bits = 0;
    bool first = true;

    for (i = 0; i < CLI_NCOMMANDS; i++) {
        const struct cli_command *c = &cli_commands[i];
        if (strncmp(c->name, group, glen) != 0 || c->name[glen] != ' ')
            continue;
        fprintf(f, "%s nacme [OPTIONS] %s%s%s\n", first ? "Usage:" : "      ", c->name,
                c->args[0] ? " " : "", c->args);
        bits |= c->bit;
        first = false;
    }
    fprintf(f, "\n");
    for (i = 0; i < CLI_NCOMMANDS; i++)
        if (strncmp(cli_commands[i].name, group, glen) == 0 && cli_commands[i].name[glen] == ' ')
            fprintf(f, "  %-28s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(f, "\nOptions of %s:\n", group);
    print_options(f, bits);
    fprintf(f, "\nGlobal options:\n");
    print_options(f, CMD_GLOBAL);
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* getopt_long's table and short-option string for the global options plus cmd's. */
static void build_getopt(unsigned cmd, struct option *longs, char *shorts, size_t shortsz)
{
    size_t i, n = 0, s = 0;

    shorts[s++] = '+'; /* stop at the command name */
    for (i = 0; i < CLI_NOPTIONS; i++) {
        const struct cli_option *o = &cli_options[i];
        if (o->cmds != CMD_GLOBAL && !(o->cmds & cmd))
            continue;
        longs[n++] = (struct option){o->name, o->has_arg, NULL, o->id};
        if (o->id < 256 && s + 3 < shortsz) {
            shorts[s++] = (char)o->id;
            if (o->has_arg == required_argument)
                shorts[s++] = ':';
        }
    }
    longs[n] = (struct option){0};
    shorts[s] = '\0';
}

static enum nacme_err set_string(struct cli_state *st, char **dst, const char *v)
{
    free(*dst);
    if ((*dst = nacme_strdup_new(v)) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    return NACME_OK;
}

/* An issuer CN as lineage.json will hold it: 1-255 bytes of UTF-8 without control characters. */
static enum nacme_err set_preferred_chain(struct cli_state *st, const char *v)
{
    json_t *utf8 = json_string(v); /* NULL for invalid UTF-8 */
    size_t i, n = strlen(v);
    bool ok = utf8 != NULL && n >= 1 && n <= 255;

    json_decref(utf8);
    for (i = 0; ok && i < n; i++)
        ok = (unsigned char)v[i] >= 0x20 && v[i] != 0x7f;
    if (!ok)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--preferred-chain: give the issuer's common name, 1-255 bytes of "
                          "UTF-8 without control characters");
    st->preferred_chain = v;
    return NACME_OK;
}

static enum nacme_err set_profile(struct cli_state *st, const char *v)
{
    if (!acme_profile_name_valid(v))
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--profile: give the name of a profile the CA offers (1-64 printable "
                          "characters without spaces)");
    st->profile = v;
    return NACME_OK;
}

static enum nacme_err set_challenge(struct cli_state *st, const char *v)
{
    if (!config_challenge_valid(v))
        return nacme_fail(st->ctx, NACME_E_USAGE, "--challenge %s: give http-01 or dns-01", v);
    return set_string(st, &st->cl.challenge, v);
}

static enum nacme_err set_resolver(struct cli_state *st, const char *v)
{
    struct dns01_resolver res;

    if (dns01_resolver_parse(v, &res) != 0)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "--dns-resolver %s: give IP, IP:PORT, IPv6 or [IPv6]:PORT", v);
    return set_string(st, &st->cl.dns_resolver, v);
}

static enum nacme_err add_domain(struct cli_state *st, const char *v)
{
    char **d = realloc(st->domains, (st->ndomains + 1) * sizeof(*d));

    if (d == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    st->domains = d;
    if ((d[st->ndomains] = nacme_strdup_new(v)) == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    st->ndomains++;
    return NACME_OK;
}

/* --email: the last one is the account's contact at creation; account update takes them all. */
static enum nacme_err add_email(struct cli_state *st, const char *v)
{
    const char **e = realloc(st->emails, (st->nemails + 1) * sizeof(*e));

    if (e == NULL)
        return nacme_fail(st->ctx, NACME_E_NOMEM, "out of memory");
    st->emails = e;
    e[st->nemails++] = v;
    return set_string(st, &st->cl.email, v);
}

/* A whole number in [min, max] for --NAME, or a usage error naming the option and the range. */
static enum nacme_err parse_int(struct cli_state *st, const char *name, const char *v, long min,
                                long max, int *out)
{
    char *end;
    long t;

    errno = 0;
    t = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || errno != 0 || t < min || t > max)
        return nacme_fail(st->ctx, NACME_E_USAGE, "--%s %s: give a whole number from %ld to %ld",
                          name, v, min, max);
    *out = (int)t;
    return NACME_OK;
}

static enum nacme_err parse_port(struct cli_state *st, const char *name, const char *v,
                                 long *out)
{
    enum nacme_err r;
    int port;

    if ((r = parse_int(st, name, v, 1, 65535, &port)) == NACME_OK)
        *out = port;
    return r;
}

static enum nacme_err apply_option(struct cli_state *st, int id, const char *v)
{
    struct nacme_config *c = &st->cl;

    switch (id) {
    case OPT_SERVER: return set_string(st, &c->server, v);
    case OPT_CA_BUNDLE: return set_string(st, &c->ca_bundle, v);
    case OPT_STATE_DIR: return set_string(st, &c->state_dir, v);
    case OPT_WEBROOT: return set_string(st, &c->webroot, v);
    case OPT_EMAIL: return add_email(st, v);
    case OPT_EAB_KID: return set_string(st, &c->eab_kid, v);
    case OPT_EAB_HMAC_KEY: return set_string(st, &c->eab_hmac_key, v);
    case OPT_KEY_TYPE: return set_string(st, &c->key_type, v);
    case OPT_AGREE_TOS: c->agree_tos = true; return NACME_OK;
    case OPT_CONFIG: st->config_path = v; return NACME_OK;
    case OPT_JSON: st->json = true; return NACME_OK;
    case OPT_VERBOSE: st->ctx->loglevel++; return NACME_OK;
    case OPT_QUIET: st->ctx->loglevel = NACME_LOG_ERROR; return NACME_OK;
    case OPT_HELP: st->help = true; return NACME_OK;
    case OPT_VERSION: st->version = true; return NACME_OK;
    case OPT_DOMAIN: return add_domain(st, v);
    case OPT_CERT_NAME: st->cert_name = v; return NACME_OK;
    case OPT_FORCE: st->force = true; return NACME_OK;
    case OPT_REUSE_KEY: st->reuse_key = true; return NACME_OK;
    case OPT_PREFERRED_CHAIN: return set_preferred_chain(st, v);
    case OPT_PROFILE: return set_profile(st, v);
    case OPT_TIMEOUT: return parse_int(st, "timeout", v, 1, 86400, &st->timeout_s);
    case OPT_SEPARATE: st->separate = true; return NACME_OK;
    case OPT_PARALLEL: return parse_int(st, "parallel", v, 1, 100, &st->parallel);
    case OPT_NGINX_SNIPPETS: return set_string(st, &c->nginx_snippets, v);
    case OPT_STATELESS: st->stateless = true; return NACME_OK;
    case OPT_RELOAD: st->reload = true; return NACME_OK;
    case OPT_HTTP_PORT: return parse_port(st, "http-port", v, &c->nginx_http_port);
    case OPT_NO_PREFLIGHT: c->preflight_off = true; return NACME_OK;
    case OPT_YES: st->yes = true; return NACME_OK;
    case OPT_REASON: st->reason = v; return NACME_OK;
    case OPT_CERT_KEY: st->cert_key = v; return NACME_OK;
    case OPT_DELETE: st->delete_lineage = true; return NACME_OK;
    case OPT_NO_RELOAD: st->no_reload = true; return NACME_OK;
    case OPT_DRY_RUN: st->dry_run = true; return NACME_OK;
    case OPT_NGINX_CONF: return set_string(st, &c->nginx_conf, v);
    case OPT_NGINX_DUMP: st->nginx_dump = v; return NACME_OK;
    case OPT_LIST: st->list = true; return NACME_OK;
    case OPT_METRICS: return set_string(st, &c->metrics_file, v);
    case OPT_INSTALL: st->install = true; return NACME_OK;
    case OPT_NGINX: st->nginx = true; return NACME_OK;
    case OPT_CHALLENGE: return set_challenge(st, v);
    case OPT_DNS_HOOK: return set_string(st, &c->dns_hook, v);
    case OPT_DNS_RESOLVER: return set_resolver(st, v);
    default: return nacme_fail(st->ctx, NACME_E_USAGE, "unknown option (see nacme --help)");
    }
}

/* Parse options from argv[optind] on: the global ones, and cmd's when cmd is not NULL. */
static enum nacme_err parse_options(struct cli_state *st, int argc, char **argv,
                                    const struct cli_command *cmd)
{
    struct option longs[CLI_NOPTIONS + 1];
    char shorts[64];
    enum nacme_err r;
    int id;

    build_getopt(cmd ? cmd->bit : 0, longs, shorts, sizeof(shorts));
    opterr = 0;
    while ((id = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (id == '?' || id == ':') {
            const char *bad = argv[optind - 1];
            return nacme_fail(st->ctx, NACME_E_USAGE, "%s: %s (see nacme%s%s --help)", bad,
                              id == ':' || (optopt && strchr(shorts, optopt))
                                  ? "needs an argument"
                                  : "unknown option",
                              cmd ? " " : "", cmd ? cmd->name : "");
        }
        if ((r = apply_option(st, id, optarg)) != NACME_OK)
            return r;
    }
    return NACME_OK;
}

/*
 * The command at argv[i]: a one-word row ("issue"), or a two-word row ("account show") whose
 * second word is argv[i + 1]. *words is how many words it took. When argv[i] is only the first
 * word of two-word rows, NULL with *group set to it.
 */
static const struct cli_command *find_command(int argc, char **argv, int i, int *words,
                                              const char **group)
{
    size_t k, len;
    const char *sp;

    *group = NULL;
    for (k = 0; k < CLI_NCOMMANDS; k++) {
        const char *name = cli_commands[k].name;
        if ((sp = strchr(name, ' ')) == NULL) {
            if (strcmp(name, argv[i]) == 0) {
                *words = 1;
                return &cli_commands[k];
            }
            continue;
        }
        len = (size_t)(sp - name);
        if (strncmp(name, argv[i], len) != 0 || argv[i][len] != '\0')
            continue;
        *group = name;
        if (i + 1 < argc && strcmp(sp + 1, argv[i + 1]) == 0) {
            *words = 2;
            return &cli_commands[k];
        }
    }
    if (*group != NULL)
        *group = argv[i];
    return NULL;
}

/* "account" alone, or "account --help", or "account frob". */
static enum nacme_err group_only(struct cli_state *st, int argc, char **argv, const char *group)
{
    const char *next = optind + 1 < argc ? argv[optind + 1] : NULL;
    size_t i, glen = strlen(group), off = 0;
    char subs[256] = "";

    if (st->help || (next != NULL && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0))) {
        print_group_help(stdout, group);
        return NACME_OK;
    }
    for (i = 0; i < CLI_NCOMMANDS; i++)
        if (strncmp(cli_commands[i].name, group, glen) == 0 && cli_commands[i].name[glen] == ' ')
            off += (size_t)snprintf(subs + off, off < sizeof(subs) ? sizeof(subs) - off : 0,
                                    "%s%s", off ? ", " : "", cli_commands[i].name + glen + 1);
    if (next == NULL)
        return nacme_fail(st->ctx, NACME_E_USAGE, "%s: give one of %s (see nacme %s --help)",
                          group, subs, group);
    return nacme_fail(st->ctx, NACME_E_USAGE,
                      "%s: unknown subcommand \"%s\"; give one of %s (see nacme %s --help)", group,
                      next, subs, group);
}

/* Command line over file over defaults. */
static enum nacme_err merge_config(struct cli_state *st, struct nacme_config *cfg)
{
    struct nacme_config *c = &st->cl;
    char **from[] = {&c->server,   &c->ca_bundle, &c->state_dir, &c->webroot,
                     &c->email,    &c->key_type,  &c->eab_kid,   &c->eab_hmac_key,
                     &c->nginx_snippets, &c->nginx_conf, &c->metrics_file,
                     &c->challenge, &c->dns_hook, &c->dns_resolver};
    char **to[] = {&cfg->server,   &cfg->ca_bundle, &cfg->state_dir, &cfg->webroot,
                   &cfg->email,    &cfg->key_type,  &cfg->eab_kid,   &cfg->eab_hmac_key,
                   &cfg->nginx_snippets, &cfg->nginx_conf, &cfg->metrics_file,
                   &cfg->challenge, &cfg->dns_hook, &cfg->dns_resolver};
    enum nacme_err r;
    size_t i;

    r = config_load(st->ctx, st->config_path ? st->config_path : NACME_DEFAULT_CONFIG,
                    st->config_path != NULL, cfg);
    if (r != NACME_OK)
        return r;
    for (i = 0; i < sizeof(from) / sizeof(from[0]); i++)
        if (*from[i] != NULL) {
            free(*to[i]);
            *to[i] = *from[i];
            *from[i] = NULL;
        }
    if (c->agree_tos)
        cfg->agree_tos = true;
    if (c->preflight_off)
        cfg->preflight_off = true;
    if (c->nginx_http_port != 0)
        cfg->nginx_http_port = c->nginx_http_port;
    return config_defaults(st->ctx, cfg);
}

/* ---- shared by the commands ------------------------------------------------------------ */

void cli_json_print(struct cli_state *st, json_t *o)
{
    char *text;

    if (o != NULL && (text = json_dumps(o, JSON_COMPACT)) != NULL) {
        puts(text);
        free(text);
        st->json_printed = true;
    }
    json_decref(o);
}

/* --json: a command that failed before it had a result to print still prints one JSON document,
 * so that `nacme --json ... | jq` always reads one; the error line goes to stderr as ever. */
static void json_failure_print(struct cli_state *st, const struct cli_command *cmd,
                               enum nacme_err r)
{
    const char *msg = st->ctx->errmsg[0] ? st->ctx->errmsg : nacme_strerror(r);

    cli_json_print(st, json_pack("{s:s?, s:s, s:s, s:i}", "command", cmd ? cmd->name : NULL,
                                 "result", "failed", "error", msg, "exit_status",
                                 nacme_exit_status(r)));
}

enum nacme_err cli_confirm(struct cli_state *st, const char *question)
{
    char line[16];

    if (st->yes)
        return NACME_OK;
    if (!isatty(STDIN_FILENO))
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "%s: this needs a confirmation; there is no terminal to ask on, so add "
                          "--yes",
                          question);
    fprintf(stderr, "%s? Type yes to go on: ", question);
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL || strcmp(line, "yes\n") != 0)
        return nacme_fail(st->ctx, NACME_E_INTERRUPTED, "%s: not confirmed; nothing was done",
                          question);
    return NACME_OK;
}

/* --reload: how deploy_run reaches nginx. */
void cli_deploy_opts(const struct nacme_config *cfg, struct deploy_opts *d)
{
    *d = (struct deploy_opts){
        .test_cmd = cfg->nginx_test_cmd,
        .reload_cmd = cfg->nginx_reload_cmd,
        .pid_file = cfg->nginx_pid_file,
        .error_log = cfg->nginx_error_log,
        .host = "127.0.0.1",
        .https_port = (int)cfg->nginx_https_port,
        .verify_ms = 5000,
    };
}

/* ---- main ------------------------------------------------------------------------------- */

/* The wall clock the commands decide by. NACME_NOW (seconds since the epoch) replaces it so that
 * tests can move time; it is read here only, and travels down in cli_state. */
static enum nacme_err read_clock(struct cli_state *st)
{
    const char *v = getenv("NACME_NOW");
    char *end;
    long long t;

    st->now = time(NULL);
    if (v == NULL || v[0] == '\0')
        return NACME_OK;
    errno = 0;
    t = strtoll(v, &end, 10);
    if (*end != '\0' || errno != 0 || t <= 0)
        return nacme_fail(st->ctx, NACME_E_USAGE,
                          "NACME_NOW=%s: give the time as seconds since the epoch", v);
    st->now = (time_t)t;
    return NACME_OK;
}

static void cli_state_clear(struct cli_state *st)
{
    size_t i;

    for (i = 0; i < st->ndomains; i++)
        free(st->domains[i]);
    free(st->domains);
    free(st->emails);
    config_clear(&st->cl);
}

int cli_main(int argc, char **argv)
{
    struct nacme_ctx ctx;
    struct cli_state st = {0};
    struct nacme_config cfg = {0};
    const struct cli_command *cmd = NULL;
    const char *group = NULL;
    enum nacme_err r;
    int words = 1;

    nacme_ctx_init(&ctx);
    nacme_signals_block();
    st.ctx = &ctx;
    if ((r = parse_options(&st, argc, argv, NULL)) != NACME_OK)
        goto out;
    if (optind < argc && !st.help && !st.version) {
        if ((cmd = find_command(argc, argv, optind, &words, &group)) == NULL) {
            if (group != NULL)
                r = group_only(&st, argc, argv, group);
            else
                r = nacme_fail(&ctx, NACME_E_USAGE, "unknown command \"%s\" (see nacme --help)",
                               argv[optind]);
            goto out;
        }
        optind += words;
        if ((r = parse_options(&st, argc, argv, cmd)) != NACME_OK)
            goto out;
        if (optind < argc) {
            r = nacme_fail(&ctx, NACME_E_USAGE, "%s: unexpected argument \"%s\"", cmd->name,
                           argv[optind]);
            goto out;
        }
    }
    if (st.version) {
        if (st.json)
            cli_json_print(&st, json_pack("{s:s}", "version", NACME_VERSION));
        else
            printf("nacme %s\n", NACME_VERSION);
        goto out;
    }
    if (st.help || cmd == NULL) {
        print_help(st.help ? stdout : stderr, cmd);
        if (!st.help)
            r = nacme_fail(&ctx, NACME_E_USAGE, "no command given");
        goto out;
    }
    if ((r = merge_config(&st, &cfg)) != NACME_OK || (r = read_clock(&st)) != NACME_OK)
        goto out;
    r = cmd->run(&st, &cfg);
    if (cfg.metrics_file != NULL && (cmd->bit & (CMD_ISSUE | CMD_RENEW | CMD_LIST)))
        r = cli_metrics_after(&st, &cfg, cmd->bit == CMD_LIST ? "list" : cmd->name, r);
out:
    if (r != NACME_OK && st.json && !st.json_printed && !st.help)
        json_failure_print(&st, cmd, r);
    if (r != NACME_OK)
        fprintf(stderr, "nacme: %s\n", ctx.errmsg[0] ? ctx.errmsg : nacme_strerror(r));
    cli_state_clear(&st);
    config_clear(&cfg);
    return nacme_exit_status(r);
}
