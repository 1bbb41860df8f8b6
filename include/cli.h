/* cli.h - command line: global options, commands, help, exit status. */
#ifndef NACME_CLI_H
#define NACME_CLI_H

/* Parse argv, run the command, return the process exit status (see nacme(1) EXIT STATUS). */
int cli_main(int argc, char **argv);

#endif
