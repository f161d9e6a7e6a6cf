/*
 * midge CLI: naming what stands at a path, for the refusals of paths that
 * must be regular files (--config, --state-file). Header-only, so that the
 * files that use it stay free of link dependencies (led_state.c is also
 * compiled into its unit test on its own).
 */
#ifndef MIDGE_CLI_FILE_KIND_H
#define MIDGE_CLI_FILE_KIND_H

#include <sys/stat.h>

/* "a directory", "a character device", ...: what a file that is not a
 * regular one is, with its article. */
static inline const char *cli_file_kind(mode_t mode)
{
    return S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a directory"
           : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
           : S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

#endif /* MIDGE_CLI_FILE_KIND_H */
