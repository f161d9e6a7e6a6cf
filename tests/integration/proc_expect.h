/*
 * The exit checks the CLI tests share: a child's status, and the "one clear
 * line on stderr" rule for failures. Each dumps the child's output (proc.h)
 * before failing, so a failing test shows what the tool said.
 */
#ifndef MIDGE_TEST_PROC_EXPECT_H
#define MIDGE_TEST_PROC_EXPECT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proc.h"

/* Exited by itself (not killed at the run's bound) with status `code`. */
static inline void proc_expect_exit(const proc *p, int code, const char *what)
{
    if (proc_exit_code(p) != code)
        proc_dump(p, what);
    assert_false(p->timed_out);
    assert_int_equal(proc_exit_code(p), code);
}

/* Exit `code` with exactly one whole line on stderr. */
static inline void proc_expect_one_line_failure(const proc *p, int code, const char *what)
{
    if (proc_exit_code(p) != code || count_lines(p->err) != 1)
        proc_dump(p, what);
    assert_false(p->timed_out);
    assert_int_equal(proc_exit_code(p), code);
    assert_int_equal(count_lines(p->err), 1);
    assert_true(p->err[p->err_len - 1] == '\n');
}

#endif /* MIDGE_TEST_PROC_EXPECT_H */
