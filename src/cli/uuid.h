/*
 * midge CLI: random bytes from the kernel and RFC 4122 version 4 UUIDs, for
 * command ids and client ids that must not collide between runs.
 */
#ifndef MIDGE_CLI_UUID_H
#define MIDGE_CLI_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 36 characters: 8-4-4-4-12 lower-case hex digits and dashes. */
#define CLI_UUID_LEN 36

/* Fill buf with n bytes from getrandom(), or /dev/urandom where that
 * system call is missing. False if neither gives them. */
bool cli_random(void *buf, size_t n);

/* Stamp the version 4 and RFC 4122 variant bits into raw (RFC 4122
 * section 4.4) and write its text form, NUL-terminated, to out. */
void cli_uuid_format(uint8_t raw[16], char out[CLI_UUID_LEN + 1]);

/* A fresh random UUID in out; false if no random bytes were to be had. */
bool cli_uuid_new(char out[CLI_UUID_LEN + 1]);

#endif /* MIDGE_CLI_UUID_H */
