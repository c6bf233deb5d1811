/*
 * Hostile workloads for Holdfast's tamper tests (test/cluster/), in the hostile image only:
 *   hostile bigmap MARKER   maps 3 GiB PROT_READ|MAP_NORESERVE (free: never touched) and writes
 *                           "implant-marker:" + MARKER reversed into a small written region (the reversed
 *                           text exists nowhere else: not in argv, not in this file), then waits
 *   hostile decoy KIB       touches KIB KiB of memory (resident), then waits
 *   hostile sockets N       holds N unix sockets (socketpairs), spread over child processes when the open
 *                           files limit is lower; prints "ready N" when all are open, then waits
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void wait_forever(void) {
  for (;;) pause();
}

static int bigmap(const char *marker) {
  size_t big = 3ULL << 30;
  void *huge = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (huge == MAP_FAILED) return perror("mmap 3 GiB"), 1;
  char *small = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (small == MAP_FAILED) return perror("mmap small"), 1;
  size_t n = strlen(marker);
  memcpy(small, "implant-marker:", 15);
  for (size_t i = 0; i < n && i < 1000; i++) small[15 + i] = marker[n - 1 - i];
  printf("bigmap %p (3 GiB) small %p\n", huge, (void *)small);
  fflush(stdout);
  wait_forever();
  return 0;
}

/* Kept reachable and written through a volatile pointer: the compiler may not drop the memory it never reads. */
static char *volatile decoy_memory;

static int decoy(long kib) {
  decoy_memory = malloc((size_t)kib * 1024);
  if (!decoy_memory) return 1;
  for (size_t i = 0; i < (size_t)kib * 1024; i += 4096) decoy_memory[i] = 0x5a;
  wait_forever();
  return 0;
}

static int hold_pairs(long pairs) {
  int fds[2];
  for (long i = 0; i < pairs; i++)
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return perror("socketpair"), 1;
  return 0;
}

static int sockets(long n) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  long per = ((long)rl.rlim_cur - 32) / 2; /* socketpairs per process */
  if (per > 500000) per = 500000;
  if (per < 1) return 1;
  long pairs = (n + 1) / 2, children = 0;
  int ready[2];
  if (pipe(ready) != 0) return 1;
  while (pairs > per) {
    pid_t c = fork();
    if (c < 0) return perror("fork"), 1;
    if (c == 0) {
      close(ready[0]);
      if (hold_pairs(per)) _exit(1);
      if (write(ready[1], "k", 1) != 1) _exit(1);
      close(ready[1]);
      wait_forever();
    }
    children++;
    pairs -= per;
  }
  close(ready[1]);
  if (hold_pairs(pairs)) return 1;
  char b;
  for (long i = 0; i < children; i++)
    if (read(ready[0], &b, 1) != 1) return fprintf(stderr, "a child failed\n"), 1;
  close(ready[0]);
  printf("ready %ld (%ld processes, %ld socketpairs each)\n", n, children + 1, per);
  fflush(stdout);
  wait_forever();
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGCHLD, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "bigmap") == 0) return bigmap(argv[2]);
  if (argc == 3 && strcmp(argv[1], "decoy") == 0) return decoy(atol(argv[2]));
  if (argc == 3 && strcmp(argv[1], "sockets") == 0) return sockets(atol(argv[2]));
  fprintf(stderr, "usage: hostile bigmap MARKER | decoy KIB | sockets N\n");
  return 2;
}
