/*
 * strata-ovl: the three things overlayfs snapshots need that Node's fs
 * cannot do.
 *
 *   strata-ovl whiteout PATH...   make each PATH an overlay whiteout (char device 0/0)
 *   strata-ovl opaque PATH...     mark each directory PATH opaque (trusted.overlay.opaque=y)
 *   strata-ovl list-opaque DIR    print, NUL-terminated, the paths below DIR (relative)
 *                                 of the directories marked opaque
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

int main(int argc, char **argv) {
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
  fprintf(stderr, "usage: strata-ovl whiteout PATH... | opaque DIR... | list-opaque DIR\n");
  return 2;
}
