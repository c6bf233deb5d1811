#!/bin/sh
# gcore for the Holdfast collector image (busybox sh, no bash): writes a core file of each PID with gdb.
# Usage: gcore [-o PREFIX] PID...   -> PREFIX.PID (default prefix: core)
# gdb reads the target's own files (its executable, libraries, and any .gdbinit or auto-load script next to
# them): nothing of the target may run or be fetched, so no init files (-nx -nh), auto-loading off and
# debuginfod off (also its URLs), set before anything is read (-iex).
prefix=core
if [ "$1" = "-o" ]; then prefix="$2"; shift 2; fi
[ $# -ge 1 ] || { echo "usage: gcore [-o prefix] pid..." >&2; exit 2; }
unset DEBUGINFOD_URLS
rc=0
for pid in "$@"; do
  gdb -nx -nh --batch -iex "set auto-load off" -iex "set debuginfod enabled off" \
      -ex "set pagination off" -ex "set height 0" -ex "set width 0" \
      -ex "set use-coredump-filter off" -ex "set dump-excluded-mappings on" \
      -ex "attach $pid" -ex "gcore $prefix.$pid" -ex detach -ex quit </dev/null || rc=1
  [ -s "$prefix.$pid" ] || { echo "gcore: no core written for $pid" >&2; rc=1; }
done
exit $rc
