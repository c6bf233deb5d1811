/**
 * Shell scripts run by busybox sh inside the trusted collector image. They are constants: values
 * reach them only as positional arguments ($1, $2 …) that the caller validated as numbers or nonces,
 * never spliced into the text. Absolute paths, because busybox sh prefers its own applets (its tar
 * has no --format=posix, for instance).
 */

/** Raw text of a shell script; write "$\{" for the shell's "$" + "{" (a template would substitute it). */
function sh(strings: TemplateStringsArray): string {
  return strings.raw.join('').replaceAll('$\\{', '$' + '{');
}

/**
 * The processes the collector can see outside its own mount namespace (the caller keeps the target
 * container's by the container ID in their cgroup path), in numeric pid order (a glob lists /proc in
 * lexicographic order: 1 10 100 11 2 …), every one of them up to $1. One line each: pid, ppid, uid, mnt ns,
 * container ID (last 64-hex id of /proc/<pid>/cgroup), comm, exe, cmdline, resident kB (tab-separated; tabs
 * and newlines inside values are replaced by spaces), then the start time in clock ticks since boot (field 22
 * of /proc/<pid>/stat, counted after the last ")" on its one line, so a comm holding ") " or a newline cannot
 * shift it; digits only), the boot time (btime of /proc/stat) and the clock tick rate, for the timeline's
 * process start times. More than $1 processes: the first $1 by pid, exit 3.
 */
export const LIST_PROCESSES = sh`
self=$(readlink /proc/self/ns/mnt)
bt=$(awk '/^btime / { print $2 }' /proc/stat 2>/dev/null)
hz=$(getconf CLK_TCK 2>/dev/null) || hz=100
n=0
clean() { tr '\t\n\r' '   ' | head -c "$1"; }
for p in $(ls /proc | grep '^[0-9][0-9]*$' | sort -n); do
  d=/proc/$p
  m=$(readlink "$d/ns/mnt" 2>/dev/null) || continue
  [ "$m" = "$self" ] && continue
  n=$((n+1))
  if [ "$n" -gt "$1" ]; then echo "more than $1 processes: list truncated" >&2; exit 3; fi
  st=$(awk '/^PPid:/ { pp = $2 } /^Uid:/ { u = $2 } /^VmRSS:/ { r = $2 } END { printf "%s %s %s", pp, u, r }' "$d/status" 2>/dev/null)
  set -- "$1" $st
  comm=$(clean 64 < "$d/comm" 2>/dev/null)
  exe=$(readlink "$d/exe" 2>/dev/null | clean 1024)
  cmd=$(tr '\0' ' ' < "$d/cmdline" 2>/dev/null | clean 4096)
  cid=$(grep -o '[0-9a-f]\{64\}' "$d/cgroup" 2>/dev/null | tail -n 1)
  start=$(tr '\n' ' ' < "$d/stat" 2>/dev/null | sed 's/.*) //' | awk '{ print $20 }')
  case "$start" in *[!0-9]*) start=;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$2" "$3" "$m" "$cid" "$comm" "$exe" "$cmd" "$4" "$start" "$bt" "$hz"
  set -- "$1"
done
`;

/**
 * A core file of process $1 that gdb can open (gcore: ptrace-attach, dump every mapping, detach).
 * Only a core gdb reports as saved ("Saved corefile", its end marker) is streamed: gdb killed mid-dump leaves
 * a partial core that gcore would still pass on. Without the marker the script exits 73 when process $1 still
 * runs (something stopped gdb: a tamper note, the step fails) and 74 when $1 ended meanwhile (nothing to dump);
 * a tool killed by a signal makes it exit 128 + the signal.
 * While gcore works, the staged core's size is written to stderr as "holdfast-progress <bytes>" each time
 * it changed: the exec stream counts that as progress, so a stopped gdb shows as a stall. Nothing else
 * may reach stderr periodically (it would not count, but would fill the kept stderr text).
 * gdb needs a seekable file, so the core is staged in the collector's own /tmp (the collector
 * container's writable layer, never the target's filesystem), streamed to stdout and deleted. The stage is
 * bounded: $2 = the most bytes it may hold (the caller sends larger processes to RESIDENT_DUMP, which stages
 * nothing); a core growing past it (the process grew meanwhile) is abandoned with exit 76, so the pod's
 * ephemeral storage is never filled by a core.
 */
export const CORE_DUMP = sh`
dir=$(mktemp -d /tmp/holdfast-core.XXXXXX) || exit 70
trap 'rm -rf "$dir"' EXIT INT TERM HUP PIPE
/usr/bin/gcore -o "$dir/core" "$1" > "$dir/gcore.log" 2>&1 &
g=$!
last=-1
while kill -0 "$g" 2>/dev/null; do
  s=$( { wc -c < "$dir/core.$1"; } 2>/dev/null || echo 0)
  if [ "$s" -gt "$2" ]; then
    pkill -KILL -P "$g" 2>/dev/null; kill -KILL "$g" 2>/dev/null
    echo "the staged core of $1 passed the stage bound of $2 bytes: abandoned" >&2
    exit 76
  fi
  [ "$s" != "$last" ] && { echo "holdfast-progress $s" >&2; last=$s; }
  sleep 1
done
wait "$g"; rc=$?
if [ "$rc" -gt 128 ]; then echo "gcore ended by signal $((rc - 128))" >&2; exit "$rc"; fi
if ! grep -q '^Saved corefile' "$dir/gcore.log" 2>/dev/null; then
  tail -n 5 "$dir/gcore.log" >&2
  [ -d "/proc/$1" ] || { echo "process $1 ended before its core was saved" >&2; exit 74; }
  echo "gdb ended without saving a complete core of $1 (gcore exit $rc), which still runs" >&2
  exit 73
fi
[ -s "$dir/core.$1" ] || { echo "gcore wrote no core for $1" >&2; exit 72; }
cat "$dir/core.$1"
`;

/** CORE_DUMP's exit status when gdb ended without saving a complete core of a process that still runs. */
export const CORE_INCOMPLETE = 73;
/** CORE_DUMP's exit status when the staged core passed its bound. */
export const CORE_STAGE_BOUND = 76;

/** Free space (bytes) of the collector's /tmp, where CORE_DUMP stages cores: one number. */
export const STAGE_ROOM = sh`
df -Pk /tmp | awk 'NR == 2 { print $4 * 1024 }'
`;

/**
 * The executable of each pid in "$@" (/proc/<pid>/exe: the file the process runs, even when deleted on
 * disk): one line each, "pid<TAB>device:inode<TAB>sha256<TAB>bytes<TAB>link" (link as readlink shows it,
 * "(deleted)" included, cleaned like LIST_PROCESSES's). A file already hashed for another pid (same
 * device:inode) is not read again: "=" for its hash and size. "-" fields when it cannot be read (a kernel
 * thread, a process that ended).
 */
export const EXECUTABLES = sh`
seen=' '
for p in "$@"; do
  l=$(readlink "/proc/$p/exe" 2>/dev/null | tr '\t\n\r' '   ' | head -c 1024)
  f=$(stat -L -c '%d:%i' "/proc/$p/exe" 2>/dev/null) || f=-
  case "$seen" in
    *" $f "*) h==; n==;;
    *) h=$(sha256sum < "/proc/$p/exe" 2>/dev/null) && n=$(wc -c < "/proc/$p/exe" 2>/dev/null) || { h=-; n=-; }
       [ "$h" != - ] && seen="$seen$f ";;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$p" "$f" "$\{h%% *}" "$n" "$l"
done
`;

/**
 * What each pid in "$@" sees as its root: "pid<TAB>device:inode of /proc/<pid>/root/<TAB>sha256 of its
 * mountinfo<TAB>root field of the mount at "/" in its mountinfo, or "-" when no mount is at its "/" (a chroot
 * into a directory: the mount is above its root and not shown)". "pid<TAB>-<TAB>-<TAB>-" when unreadable.
 */
export const ROOTS = sh`
for p in "$@"; do
  r=$(stat -L -c '%d:%i' "/proc/$p/root/" 2>/dev/null) || r=-
  m=$(sha256sum < "/proc/$p/mountinfo" 2>/dev/null) || m=-
  s=$(awk '$5 == "/" { r = $4 } END { print (r == "" ? "-" : r) }' "/proc/$p/mountinfo" 2>/dev/null) || s=-
  printf '%s\t%s\t%s\t%s\n' "$p" "$r" "$\{m%% *}" "$(printf '%s' "$s" | tr '\t\n\r' '   ' | head -c 256)"
done
`;

/**
 * Written to the collector's termination message when Holdfast retires it after a stall: the launcher
 * counts the collectors that ended so, and a stall on their replacement is final.
 */
export const RETIRED_PREFIX = 'holdfast: collector retired: ';
export const RETIRED_STALLED = `${RETIRED_PREFIX}a command of it stalled`;
/** Likewise after a command of it was killed (a signal) or its output came out incomplete. */
export const RETIRED_INTERFERED = `${RETIRED_PREFIX}a command of it was killed or cut short`;

/**
 * Retires the collector this runs in: records $1 as its termination message, then kills its main process
 * (the `sleep` of the collector's own mount namespace), so the container ends with every process it ran
 * (a stopped tar or gdb too: SIGKILL reaches stopped processes) and the next step adds a fresh one.
 */
export const RETIRE_COLLECTOR = sh`
printf '%s' "$1" > /dev/termination-log 2>/dev/null
self=$(readlink /proc/self/ns/mnt)
for d in /proc/[0-9]*; do
  [ "$(readlink "$d/ns/mnt" 2>/dev/null)" = "$self" ] || continue
  [ "$(cat "$d/comm" 2>/dev/null)" = sleep ] && kill -KILL "$\{d#/proc/}" 2>/dev/null
done
exit 0
`;

/**
 * The pod network namespace as the collector (which shares it) sees it, in sections delimited by
 * "=== <nonce> <name> ===", in a fixed order. The nonce (16 hex, random per run) arrives on stdin, never in
 * argv, which the target can read at /proc/<pid>/cmdline. Text the target owns (resolv.conf, hosts) is copied
 * into the collector's own /tmp first and framed by its exact length ("holdfast-bytes <n>", the n bytes, a
 * newline): the parser takes those bytes as content without looking for markers in them. A tool killed by a
 * signal (a process in the target can kill any collector process) is listed after the end marker and makes
 * the script exit 75. $1 = a pid of the target (for its /etc and its view of /proc/net).
 */
export const NETWORK_STATE = sh`
pid=$1
read -r nonce || exit 64
case "$nonce" in ''|*[!0-9a-f]*) echo "no nonce on stdin" >&2; exit 64;; esac
section() { echo "=== $nonce $1 ==="; }
killed=
chk() { rc=$?; [ "$rc" -gt 128 ] && killed="$killed $1:$rc"; return 0; }
framed() {
  t=$(mktemp /tmp/holdfast-net.XXXXXX) || { echo "holdfast-bytes 0"; echo; return 0; }
  head -c 65536 "$1" > "$t" 2>/dev/null
  chk "head-$2"
  n=$(wc -c < "$t")
  echo "holdfast-bytes $((n))"
  cat "$t"; chk "cat-$2"
  echo
  rm -f "$t"
}
self=$(readlink /proc/self/ns/mnt)
section ss; /usr/bin/ss -tuxanpe 2>&1; chk ss
for f in tcp tcp6 udp udp6 unix; do section "proc-net-$f"; cat "/proc/$pid/net/$f" 2>&1; chk "cat-$f"; done
section socket-inodes
for d in /proc/[0-9]*; do
  p=$\{d#/proc/}
  [ "$(readlink "$d/ns/mnt" 2>/dev/null)" = "$self" ] && continue
  # One stat for many fds (a readlink per fd forks 200,000 times for 200,000 sockets); fd names are the
  # kernel's digits and stat's fields its numbers and type names: no text of the target is parsed.
  (cd "$d/fd" 2>/dev/null && ls | xargs stat -L -c '%i %F' 2>/dev/null) | awk -v p="$p" '$2 == "socket" { print p, $1 }'
done
section interfaces; ip -o addr 2>&1; chk ip-addr
section links; ip -o link 2>&1; chk ip-link
section routes; ip route 2>&1; chk ip-route
section routes6; ip -6 route 2>&1; chk ip-route6
section resolv.conf; framed "/proc/$pid/root/etc/resolv.conf" resolv.conf
section hosts; framed "/proc/$pid/root/etc/hosts" hosts
section conntrack; /usr/sbin/conntrack -L -o extended 2>&1 | head -n 100000
section end
if [ -n "$killed" ]; then echo "holdfast-killed$killed" >&2; exit 75; fi
`;

/** The network state script's exit status when one of its tools was killed by a signal. */
export const NETWORK_TOOL_KILLED = 75;

/** The sections NETWORK_STATE writes, in order; those whose content is length-framed. */
export const NETWORK_SECTIONS = [
  'ss',
  'proc-net-tcp',
  'proc-net-tcp6',
  'proc-net-udp',
  'proc-net-udp6',
  'proc-net-unix',
  'socket-inodes',
  'interfaces',
  'links',
  'routes',
  'routes6',
  'resolv.conf',
  'hosts',
  'conntrack',
  'end',
] as const;
export const NETWORK_FRAMED_SECTIONS: readonly string[] = ['resolv.conf', 'hosts'];

/**
 * What a containment check needs from the pod network namespace (which the collector shares), in sections
 * delimited by "=== <nonce> <name> ===" (a random nonce, read from stdin: argv is readable by the target at
 * /proc/<pid>/cmdline): the kernel's TCP tables (the pod's connections and
 * listening ports: which peers the pod reached) and the effective capabilities of every process outside the
 * collector (one "pid hex" line each, at most 4096): a process holding CAP_NET_ADMIN could drop the probes.
 */
export const VERIFY_OBSERVE = sh`
read -r nonce || exit 64
case "$nonce" in ''|*[!0-9a-f]*) echo "no nonce on stdin" >&2; exit 64;; esac
section() { echo "=== $nonce $1 ==="; }
self=$(readlink /proc/self/ns/mnt)
section tcp; head -c 4194304 /proc/net/tcp 2>&1
section tcp6; head -c 4194304 /proc/net/tcp6 2>&1
section caps
n=0
for d in /proc/[0-9]*; do
  [ "$(readlink "$d/ns/mnt" 2>/dev/null)" = "$self" ] && continue
  c=$(sed -n 's/^CapEff:[[:space:]]*\([0-9a-f]*\).*/\1/p' "$d/status" 2>/dev/null)
  [ -n "$c" ] || continue
  n=$((n+1)); [ "$n" -gt 4096 ] && break
  echo "$\{d#/proc/} $c"
done
section end
`;

/**
 * Connect probes from the pod network namespace, all at once. One line on stdin (never argv: the target could
 * read which peers are probed, and when, at /proc/<pid>/cmdline): the nonce, the connect timeout in seconds,
 * the least time (seconds, may be fractional) between the script's start and the sample of established
 * connections, then address/port pairs (validated by the caller: IP literals and port numbers, never names).
 * Each probe is busybox nc with stdin closed (it connects, sends nothing and ends; what a peer sends is
 * discarded), bounded by its own -w and, outside it, timeout -s KILL. One line per probe:
 * "address<TAB>port<TAB>exit code<TAB>uptime at start<TAB>uptime at end<TAB>nc's message": the uptimes let
 * the caller tell a real timeout from nc signalled early (SIGALRM) by a process in the pod. Then the uptime
 * and `ss -tin` for the established connections (the kernel's time since each last heard from its peer).
 */
export const VERIFY_PROBE = sh`
read -r nonce t hold peers || exit 64
case "$nonce" in ''|*[!0-9a-f]*) echo "no nonce on stdin" >&2; exit 64;; esac
set -f; set -- $peers; set +f
bb=/bin/busybox
section() { echo "=== $nonce $1 ==="; }
up() { read -r u _ < /proc/uptime; echo "$u"; }
start=$(up)
section start; echo "$start"
section probes
while [ $# -ge 2 ]; do
  (
    s=$(up)
    m=$($bb timeout -s KILL $((t + 2)) $bb nc -w "$t" "$1" "$2" </dev/null 2>&1 >/dev/null)
    rc=$?
    e=$(up)
    m=$(printf '%s' "$m" | tr '\t\n\r' '   ' | head -c 200)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rc" "$s" "$e" "$m"
  ) &
  shift 2
done
wait
rest=$($bb awk -v a="$start" -v b="$(up)" -v h="$hold" 'BEGIN { r = h - (b - a); if (r > 0) printf "%.2f", r; else print 0 }')
$bb sleep "$rest"
section sampled; up
section established; /usr/bin/ss -tinH state established 2>&1 | head -n 4000
section end
`;

/**
 * The collector's resident-page dumper (scripts/cluster/images/memdump.c): `holdfast-memdump PID MAXBYTES`
 * streams an ELF core of the pages of PID that hold data to stdout, announcing its size first on stderr.
 */
export const RESIDENT_DUMP_TOOL = '/usr/bin/holdfast-memdump';
