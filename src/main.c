/* main.c - entry point; everything else lives in cli.c (and the signer process in signer.c). */
#include <string.h>

#include "cli.h"
#include "signer.h"

int main(int argc, char **argv)
{
    /* Not an option of the command line: nacme starting its own account-key signer (signer.h). */
    if (argc == 3 && strcmp(argv[1], "--signer") == 0)
        return signer_main(argv[2]);
    return cli_main(argc, argv);
}
