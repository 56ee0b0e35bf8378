/*
 * strata-stat: lstat many paths at once, on every core.
 *
 *   strata-stat ROOT < PATHS > RECORDS
 *
 * PATHS: paths relative to ROOT, each ended by a NUL byte (an empty path
 * is ROOT itself). RECORDS: for each path, in order, 40 bytes in the
 * machine's byte order: inode, size, mtime in ns, ctime in ns (8 bytes
 * each), st_mode, and 0 or the errno of the lstat (4 bytes each).
 *
 * A warm `strata hash` or build checks every entry of the stat cache, and
 * an lstat costs 2 to 3 microseconds in the kernel here: for 100,000
 * files that is the bulk of the run. Node's lstatSync does them one at a
 * time on one thread; worker threads cost more to start than they save
 * below some 80,000 files. This does what git's preloaded index does:
 * the same lstats, split over threads that start in microseconds
 * (stat-core.h; stat-addon.c makes them without a process of its own).
 */
#include <stdio.h>
#include <stdlib.h>
#include "stat-core.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: strata-stat ROOT < NUL-ended paths > records\n");
    return 2;
  }
  int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    perror(argv[1]);
    return 1;
  }
  size_t cap = 1 << 20, len = 0;
  char *in = malloc(cap);
  for (;;) {
    if (!in) return 1;
    size_t n = fread(in + len, 1, cap - len, stdin);
    len += n;
    if (n == 0) break;
    if (len == cap) in = realloc(in, cap *= 2);
  }
  size_t count = count_paths(in, len);
  char **paths = malloc((count ? count : 1) * sizeof *paths);
  struct record *out = malloc((count ? count : 1) * sizeof *out);
  if (!paths || !out) return 1;
  split_paths(in, len, paths);
  stat_all(dir, paths, count, out);
  if (count && fwrite(out, sizeof *out, count, stdout) != count) return 1;
  return fflush(stdout) == 0 ? 0 : 1;
}
