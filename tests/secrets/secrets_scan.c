/*
 * secrets_scan DIR: the last test of a ctest run (secrets.scan). Scans
 * every capture file in DIR (scan.h) and prints one line per finding and
 * a summary.
 *
 * Exit status: 0 nothing found; 1 a secret was found; 2 a file or DIR
 * could not be read; 77 (ctest's "skipped") DIR holds no capture at all,
 * as when only tests that start no `midge` process were run.
 */
#include <stdio.h>

#include "scan.h"

int main(int argc, char **argv)
{
    scan_totals t = {0, 0, 0};

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    int rc = scan_dir(argv[1], stdout, &t);
    if (rc < 0) {
        printf("secrets scan: FAILED: %s or a file in it cannot be read\n", argv[1]);
        return 2;
    }
    if (t.files == 0) {
        printf("secrets scan: nothing to scan in %s (no midge process was started)\n", argv[1]);
        return 77;
    }
    printf("secrets scan: %zu files, %zu bytes printed by midge processes, %zu finding%s\n",
           t.files, t.bytes, t.findings, t.findings == 1 ? "" : "s");
    if (t.findings != 0) {
        printf("secrets scan: FAILED: a secret was printed (see the lines above; the files "
               "are in %s)\n",
               argv[1]);
        return 1;
    }
    return 0;
}
