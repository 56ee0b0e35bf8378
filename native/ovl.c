/*
 * strata-ovl: what overlayfs snapshots need that Node's fs cannot do.
 *
 *   strata-ovl whiteout PATH...        make each PATH an overlay whiteout (char device 0/0)
 *   strata-ovl opaque PATH...          mark each directory PATH opaque (trusted.overlay.opaque=y)
 *   strata-ovl list-opaque DIR         print, NUL-terminated, the paths below DIR (relative)
 *                                      of the directories marked opaque
 *   strata-ovl mount CWD OPTIONS DIR   mount overlayfs with OPTIONS (lowerdir=... relative to CWD) at DIR
 *   strata-ovl umount DIR              unmount DIR (detached if it is busy)
 *   strata-ovl probe DIR LOWER         whether overlay works here: in the empty directory DIR,
 *                                      make a whiteout and an opaque mark in an upper, mount it
 *                                      over LOWER and unmount it (one process, not four)
 *   strata-ovl serve                   the same commands, one after another, from stdin
 *
 * serve reads requests (a 4-byte length, then the command and its
 * arguments, each ended by a NUL) and answers each (a 4-byte status, 0 for
 * success, a 4-byte length, then the output or the error message), in the
 * machine's byte order, until stdin ends. A Node process that has grown
 * big pays for every fork: one long-lived helper spares a build four
 * process starts per RUN.
 *
 * Needs root (CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs and mounts);
 * without it strata uses its copy snapshotter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char OPAQUE[] = "trusted.overlay.opaque";

/* What a command printed (list-opaque) or why it failed. */
static char *out;
static size_t out_len, out_cap;

static void emit(const char *s, size_t n) {
  if (out_len + n > out_cap) {
    out_cap = (out_len + n) * 2 + 4096;
    out = realloc(out, out_cap);
    if (!out) exit(1);
  }
  memcpy(out + out_len, s, n);
  out_len += n;
}

/* Records what failed, as perror would say it, and fails. */
static int fail(const char *what) {
  const char *why = strerror(errno);
  emit(what, strlen(what));
  emit(": ", 2);
  emit(why, strlen(why));
  return 1;
}

static size_t root_len;

static int report_opaque(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  char value[2];
  if (flag == FTW_D && ftw->level > 0 && lgetxattr(p, OPAQUE, value, sizeof value) == 1 && value[0] == 'y') emit(p + root_len + 1, strlen(p + root_len + 1) + 1);
  return 0;
}

static int do_mount(const char *cwd, const char *options, const char *target) {
  /* Lower directories are named relative to the snapshots directory: the option string stays short.
     The directory is changed back after, for the relative paths of the commands that follow. */
  int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (here < 0) return fail(".");
  int status = 0;
  if (chdir(cwd) != 0) status = fail(cwd);
  else if (mount("overlay", target, "overlay", 0, options) != 0) status = fail("mount overlay");
  if (fchdir(here) != 0 && status == 0) status = fail(".");
  close(here);
  return status;
}

static int do_umount(const char *target) {
  if (umount2(target, 0) == 0) return 0;
  /* Busy (a process still inside, which the sandbox should have killed): detach it now, it goes when free. */
  if (umount2(target, MNT_DETACH) == 0) return 0;
  return fail(target);
}

static int probe(const char *dir, const char *lower) {
  char upper[4096], work[4096], target[4096], gone[4096], options[12288];
  snprintf(upper, sizeof upper, "%s/u", dir);
  snprintf(work, sizeof work, "%s/w", dir);
  snprintf(target, sizeof target, "%s/m", dir);
  snprintf(gone, sizeof gone, "%s/u/gone", dir);
  if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0 || mkdir(target, 0755) != 0) return fail(dir);
  if (mknod(gone, S_IFCHR | 0, makedev(0, 0)) != 0) return fail(gone);
  if (lsetxattr(upper, OPAQUE, "y", 1, 0) != 0) return fail(upper);
  if ((size_t)snprintf(options, sizeof options, "lowerdir=%s,upperdir=%s,workdir=%s,redirect_dir=off,metacopy=off,index=off", lower, upper, work) >= sizeof options) {
    errno = ENAMETOOLONG;
    return fail(dir);
  }
  if (mount("overlay", target, "overlay", 0, options) != 0) return fail("mount overlay");
  return do_umount(target);
}

/* Runs one command (argv[0] is its name); its output or error is in `out`. 2 for a command it does not know. */
static int run(int argc, char **argv) {
  out_len = 0;
  if (argc < 1) return 2;
  const char *cmd = argv[0];
  if (strcmp(cmd, "whiteout") == 0) {
    for (int i = 1; i < argc; i++)
      if (mknod(argv[i], S_IFCHR | 0, makedev(0, 0)) != 0) return fail(argv[i]);
    return 0;
  }
  if (strcmp(cmd, "opaque") == 0) {
    for (int i = 1; i < argc; i++)
      if (lsetxattr(argv[i], OPAQUE, "y", 1, 0) != 0) return fail(argv[i]);
    return 0;
  }
  if (argc == 2 && strcmp(cmd, "list-opaque") == 0) {
    root_len = strlen(argv[1]);
    while (root_len > 1 && argv[1][root_len - 1] == '/') root_len--;
    if (nftw(argv[1], report_opaque, 64, FTW_PHYS) != 0) {
      out_len = 0;
      return fail(argv[1]);
    }
    return 0;
  }
  if (argc == 4 && strcmp(cmd, "mount") == 0) return do_mount(argv[1], argv[2], argv[3]);
  if (argc == 2 && strcmp(cmd, "umount") == 0) return do_umount(argv[1]);
  if (argc == 3 && strcmp(cmd, "probe") == 0) return probe(argv[1], argv[2]);
  return 2;
}

static int read_all(void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, (char *)buf + got, n - got);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int write_all(const void *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(1, (const char *)buf + put, n - put);
    if (w <= 0) return -1;
    put += (size_t)w;
  }
  return 0;
}

static int serve(void) {
  for (;;) {
    uint32_t len;
    if (read_all(&len, sizeof len) != 0) return 0; /* stdin ended: the build is over */
    char *req = malloc(len + 1);
    if (!req || read_all(req, len) != 0) return 1;
    req[len] = '\0';
    char *args[4096];
    int argc = 0;
    for (size_t at = 0; at < len && argc < 4096; at += strlen(req + at) + 1) args[argc++] = req + at;
    int status = run(argc, args);
    if (status == 2) {
      out_len = 0;
      emit("unknown command", 15);
    }
    uint32_t head[2] = { (uint32_t)status, (uint32_t)out_len };
    if (write_all(head, sizeof head) != 0 || write_all(out, out_len) != 0) return 1;
    free(req);
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  int status = run(argc - 1, argv + 1);
  if (status == 2) {
    fprintf(stderr, "usage: strata-ovl whiteout PATH... | opaque DIR... | list-opaque DIR | mount CWD OPTIONS DIR | umount DIR | probe DIR LOWER | serve\n");
    return 2;
  }
  if (status != 0) {
    fprintf(stderr, "%.*s\n", (int)out_len, out);
    return status;
  }
  return fwrite(out, 1, out_len, stdout) == out_len && fflush(stdout) == 0 ? 0 : 1;
}
