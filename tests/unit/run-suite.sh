#!/bin/sh
# run-suite.sh PROG [ARGS...] - run one Criterion suite for automake's TAP
# driver: one TAP line per test on stdout (Criterion's own report goes to
# stderr, into the test's log).
prog=$1
shift
exec "$prog" --tap=/dev/stdout "$@"
