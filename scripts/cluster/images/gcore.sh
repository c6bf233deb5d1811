#!/bin/sh
# gcore for the Holdfast collector image (busybox sh, no bash): writes a core file of each PID with gdb.
# Usage: gcore [-o PREFIX] PID...   -> PREFIX.PID (default prefix: core)
prefix=core
if [ "$1" = "-o" ]; then prefix="$2"; shift 2; fi
[ $# -ge 1 ] || { echo "usage: gcore [-o prefix] pid..." >&2; exit 2; }
rc=0
for pid in "$@"; do
  gdb -nx --batch -ex "set pagination off" -ex "set height 0" -ex "set width 0" \
      -ex "set use-coredump-filter off" -ex "set dump-excluded-mappings on" \
      -ex "attach $pid" -ex "gcore $prefix.$pid" -ex detach -ex quit </dev/null || rc=1
  [ -s "$prefix.$pid" ] || { echo "gcore: no core written for $pid" >&2; rc=1; }
done
exit $rc
