/*
 * holdfast-memdump PID MAXBYTES: an ELF core (ET_CORE, PT_LOAD segments only, no registers) of the pages of
 * process PID that are resident or swapped, written straight to stdout: nothing is staged on disk.
 *
 * Why: a process can map gigabytes it never touches (PROT_READ|MAP_NORESERVE costs nothing) so that a full
 * core (gcore) exceeds every bound and the process goes undumped. /proc/PID/pagemap says which pages hold
 * data (bit 63 present, bit 62 swapped; readable without CAP_SYS_ADMIN, only the frame numbers are hidden);
 * those pages are read from /proc/PID/mem (ptrace access, like gdb) while the process runs: no stop, so the
 * image is not an atomic snapshot.
 *
 * Output: the ELF header and program headers, then each run of touched pages. Before the first byte,
 * "holdfast-memdump-size <bytes>" on stderr announces the exact size (the caller compares it with what it
 * got); at the end, a summary line "holdfast-memdump: ...". A page that cannot be read any more (unmapped
 * meanwhile) is written as zeros and counted. Bounds: at most MAXBYTES of page data (runs past it are left
 * out and counted), at most MAX_RUNS segments (nearby runs are merged first).
 * Exit: 0 written; 2 usage; 3 process unreadable (gone, or no ptrace access); 1 write error.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096ULL
#define MAX_RUNS 60000
#define MERGE_GAP_PAGES 16
#define CHUNK (1024 * 1024)

struct run {
  uint64_t start, end;
  uint32_t flags;
};

static struct run runs[MAX_RUNS];
static size_t nruns;
static uint64_t dropped_bytes, dropped_runs, mapped_bytes, touched_bytes;

static int write_all(const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(1, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Adds [start,end) to the run list, merging with the previous run when close enough (same mapping). */
static void add_run(uint64_t start, uint64_t end, uint32_t flags, int same_mapping, uint64_t *kept, uint64_t max) {
  if (nruns > 0 && same_mapping && runs[nruns - 1].flags == flags &&
      start - runs[nruns - 1].end <= MERGE_GAP_PAGES * PAGE && *kept + (start - runs[nruns - 1].end) + (end - start) <= max) {
    *kept += (start - runs[nruns - 1].end) + (end - start);
    runs[nruns - 1].end = end;
    return;
  }
  if (nruns >= MAX_RUNS || *kept + (end - start) > max) {
    dropped_runs++;
    dropped_bytes += end - start;
    return;
  }
  runs[nruns].start = start;
  runs[nruns].end = end;
  runs[nruns].flags = flags;
  nruns++;
  *kept += end - start;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: holdfast-memdump PID MAXBYTES\n");
    return 2;
  }
  char *endp;
  long pid = strtol(argv[1], &endp, 10);
  if (*endp || pid <= 0) return 2;
  unsigned long long max = strtoull(argv[2], &endp, 10);
  if (*endp) return 2;

  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/maps", pid);
  FILE *maps = fopen(path, "re");
  snprintf(path, sizeof path, "/proc/%ld/pagemap", pid);
  int pagemap = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%ld/mem", pid);
  int mem = open(path, O_RDONLY | O_CLOEXEC);
  if (!maps || pagemap < 0 || mem < 0) {
    fprintf(stderr, "holdfast-memdump: cannot open /proc/%ld/{maps,pagemap,mem}: %s\n", pid, strerror(errno));
    return 3;
  }

  static uint64_t entries[4096];
  static char line[8192];
  uint64_t kept = 0;
  unsigned mappings = 0;
  while (fgets(line, sizeof line, maps)) {
    size_t len = strlen(line);
    int whole = len > 0 && line[len - 1] == '\n';
    unsigned long long lo, hi;
    char perms[5] = {0};
    int name_at = 0;
    if (sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &lo, &hi, perms, &name_at) < 3) goto skip_rest;
    if (perms[0] != 'r') goto skip_rest;
    if (name_at > 0 && (strncmp(line + name_at, "[vvar]", 6) == 0 || strncmp(line + name_at, "[vsyscall]", 10) == 0 ||
                        strncmp(line + name_at, "[vvar_vclock]", 13) == 0))
      goto skip_rest;
    mappings++;
    mapped_bytes += hi - lo;
    uint32_t flags = PF_R | (perms[1] == 'w' ? PF_W : 0) | (perms[2] == 'x' ? PF_X : 0);
    int first = 1;
    uint64_t run_start = 0;
    int in_run = 0;
    for (uint64_t page = lo / PAGE; page < hi / PAGE;) {
      uint64_t want = hi / PAGE - page;
      if (want > 4096) want = 4096;
      ssize_t got = pread(pagemap, entries, want * 8, (off_t)(page * 8));
      if (got <= 0) break; /* the mapping went away */
      size_t n = (size_t)got / 8;
      for (size_t i = 0; i < n; i++) {
        int touched = (entries[i] >> 63) & 1 || (entries[i] >> 62) & 1;
        uint64_t addr = (page + i) * PAGE;
        if (touched && !in_run) {
          run_start = addr;
          in_run = 1;
        } else if (!touched && in_run) {
          touched_bytes += addr - run_start;
          add_run(run_start, addr, flags, !first, &kept, max);
          first = 0;
          in_run = 0;
        }
      }
      page += n;
    }
    if (in_run) {
      touched_bytes += hi - run_start;
      add_run(run_start, hi, flags, !first, &kept, max);
    }
  skip_rest:
    while (!whole && fgets(line, sizeof line, maps)) {
      len = strlen(line);
      whole = len > 0 && line[len - 1] == '\n';
    }
  }
  fclose(maps);

  uint64_t headers = sizeof(Elf64_Ehdr) + nruns * sizeof(Elf64_Phdr);
  uint64_t data_at = (headers + PAGE - 1) / PAGE * PAGE;
  uint64_t total = data_at;
  for (size_t i = 0; i < nruns; i++) total += runs[i].end - runs[i].start;
  fprintf(stderr, "holdfast-memdump-size %llu\n", (unsigned long long)total);

  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof eh);
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = nruns ? sizeof eh : 0;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = (uint16_t)nruns;
  if (write_all(&eh, sizeof eh)) return 1;
  uint64_t offset = data_at;
  for (size_t i = 0; i < nruns; i++) {
    Elf64_Phdr ph;
    memset(&ph, 0, sizeof ph);
    ph.p_type = PT_LOAD;
    ph.p_flags = runs[i].flags;
    ph.p_offset = offset;
    ph.p_vaddr = runs[i].start;
    ph.p_filesz = ph.p_memsz = runs[i].end - runs[i].start;
    ph.p_align = PAGE;
    offset += ph.p_filesz;
    if (write_all(&ph, sizeof ph)) return 1;
  }
  static char buf[CHUNK];
  memset(buf, 0, data_at - headers > CHUNK ? CHUNK : data_at - headers);
  if (write_all(buf, data_at - headers)) return 1;

  uint64_t unreadable = 0;
  for (size_t i = 0; i < nruns; i++) {
    for (uint64_t a = runs[i].start; a < runs[i].end;) {
      size_t want = runs[i].end - a > CHUNK ? CHUNK : (size_t)(runs[i].end - a);
      ssize_t got = pread(mem, buf, want, (off_t)a);
      if (got < (ssize_t)want) {
        /* Part of it is gone (unmapped meanwhile): page by page, zeros where unreadable. */
        for (size_t off = 0; off < want; off += PAGE) {
          if (pread(mem, buf + off, PAGE, (off_t)(a + off)) != (ssize_t)PAGE) {
            memset(buf + off, 0, PAGE);
            unreadable++;
          }
        }
      }
      if (write_all(buf, want)) return 1;
      a += want;
    }
  }
  fprintf(stderr,
          "holdfast-memdump: pid %ld: %u readable mappings, %llu bytes mapped, %llu bytes touched (resident or swapped); "
          "%zu segments, %llu bytes written; %llu pages unreadable (zeros); %llu runs (%llu bytes) left out at the bound of %llu bytes\n",
          pid, mappings, (unsigned long long)mapped_bytes, (unsigned long long)touched_bytes, nruns,
          (unsigned long long)total, (unsigned long long)unreadable, (unsigned long long)dropped_runs,
          (unsigned long long)dropped_bytes, max);
  return 0;
}
