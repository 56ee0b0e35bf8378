/*
 * strata-ovl: the three things overlayfs snapshots need that Node's fs
 * cannot do.
 *
 *   strata-ovl whiteout PATH...   make each PATH an overlay whiteout (char device 0/0)
 *   strata-ovl opaque PATH...     mark each directory PATH opaque (trusted.overlay.opaque=y)
 *   strata-ovl list-opaque DIR    print, NUL-terminated, the paths below DIR (relative)
 *                                 of the directories marked opaque
 *   strata-ovl probe DIR LOWER    whether overlay works here: in the empty directory DIR,
 *                                 make a whiteout and an opaque mark in an upper, mount it
 *                                 over LOWER and unmount it (one process, not four)
 *
 * Needs root (CAP_MKNOD, CAP_SYS_ADMIN for trusted.* xattrs), as does
 * mounting overlayfs; without it strata uses its copy snapshotter.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/mount.h>
#include <sys/xattr.h>

static const char OPAQUE[] = "trusted.overlay.opaque";
static size_t root_len;

static int report_opaque(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  char value[2];
  if (flag == FTW_D && ftw->level > 0 && lgetxattr(p, OPAQUE, value, sizeof value) == 1 && value[0] == 'y') {
    fputs(p + root_len + 1, stdout);
    fputc('\0', stdout);
  }
  return 0;
}

/* Says what failed, as mount(8) would, and fails. */
static int fail(const char *what) {
  perror(what);
  return 1;
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
    fprintf(stderr, "%s: path too long\n", dir);
    return 1;
  }
  if (mount("overlay", target, "overlay", 0, options) != 0) return fail("mount overlay");
  if (umount2(target, 0) != 0 && umount2(target, MNT_DETACH) != 0) return fail("umount overlay");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "probe") == 0) return probe(argv[2], argv[3]);
  if (argc >= 2 && strcmp(argv[1], "whiteout") == 0) {
    for (int i = 2; i < argc; i++) {
      if (mknod(argv[i], S_IFCHR | 0, makedev(0, 0)) != 0) {
        perror(argv[i]);
        return 1;
      }
    }
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "opaque") == 0) {
    for (int i = 2; i < argc; i++) {
      if (lsetxattr(argv[i], OPAQUE, "y", 1, 0) != 0) {
        perror(argv[i]);
        return 1;
      }
    }
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "list-opaque") == 0) {
    root_len = strlen(argv[2]);
    while (root_len > 1 && argv[2][root_len - 1] == '/') root_len--;
    if (nftw(argv[2], report_opaque, 64, FTW_PHYS) != 0) {
      perror(argv[2]);
      return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
  }
  fprintf(stderr, "usage: strata-ovl whiteout PATH... | opaque DIR... | list-opaque DIR | probe DIR LOWER\n");
  return 2;
}
