/*
 * The lstats strata-stat (stat.c) and its in-process twin
 * strata-stat.node (stat-addon.c) make: one record per path, in order,
 * the paths split over up to eight threads when there are many.
 *
 * A record is 40 bytes in the machine's byte order: inode, size, mtime in
 * ns, ctime in ns (8 bytes each), st_mode, and 0 or the errno of the
 * lstat (4 bytes each). Paths are relative to a directory (an empty path
 * is that directory itself) and are looked up from its descriptor, so
 * that nothing changes the process's working directory.
 */
#ifndef STRATA_STAT_CORE_H
#define STRATA_STAT_CORE_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct record {
  uint64_t ino;
  int64_t size;
  int64_t mtime_ns;
  int64_t ctime_ns;
  uint32_t mode;
  int32_t err;
};

struct range {
  int dir;
  char **paths;
  struct record *out;
  size_t from, to;
};

static void *stat_range(void *arg) {
  struct range *r = arg;
  struct stat st;
  for (size_t i = r->from; i < r->to; i++) {
    const char *p = r->paths[i][0] ? r->paths[i] : ".";
    struct record *rec = &r->out[i];
    memset(rec, 0, sizeof *rec);
    if (fstatat(r->dir, p, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      rec->err = errno ? errno : EIO;
      continue;
    }
    rec->ino = (uint64_t)st.st_ino;
    rec->size = (int64_t)st.st_size;
    rec->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    rec->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    rec->mode = (uint32_t)st.st_mode;
  }
  return NULL;
}

/* Splits `paths` (NUL-ended, back to back, `len` bytes) into `paths_out` (room for `count`); returns how many. */
static size_t split_paths(char *in, size_t len, char **paths_out) {
  size_t at = 0;
  for (size_t i = 0, start = 0; i < len; i++) {
    if (in[i] != '\0') continue;
    paths_out[at++] = in + start;
    start = i + 1;
  }
  return at;
}

static size_t count_paths(const char *in, size_t len) {
  size_t count = 0;
  for (size_t i = 0; i < len; i++) count += in[i] == '\0';
  return count;
}

/* lstats `count` paths below the directory `dir` into `out`, on every core when there are many. */
static void stat_all(int dir, char **paths, size_t count, struct record *out) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  size_t threads = cores < 1 ? 1 : cores > 8 ? 8 : (size_t)cores;
  if (count < 2048) threads = 1;
  pthread_t ids[8];
  int started[8] = { 0 };
  struct range ranges[8];
  for (size_t t = 0; t < threads; t++) {
    ranges[t] = (struct range){ dir, paths, out, count * t / threads, count * (t + 1) / threads };
    if (t > 0) started[t] = pthread_create(&ids[t], NULL, stat_range, &ranges[t]) == 0;
  }
  stat_range(&ranges[0]);
  for (size_t t = 1; t < threads; t++) {
    if (started[t]) pthread_join(ids[t], NULL);
    else stat_range(&ranges[t]); /* no thread to be had: done here */
  }
}
#endif
