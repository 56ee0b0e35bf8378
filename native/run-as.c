/*
 * strata-run-as UID GID GROUPS -- COMMAND [ARG...]
 *
 * Runs inside the RUN sandbox, as its first process, to execute a step as
 * the image's USER: sets the supplementary groups (comma-separated ids, or
 * "-" for none), the gid and the uid, then execs COMMAND (searched in PATH).
 * Statically linked so it runs in any root filesystem.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_id(const char *s, unsigned long *out) {
  char *end;
  errno = 0;
  *out = strtoul(s, &end, 10);
  return errno == 0 && *s != '\0' && *end == '\0';
}

int main(int argc, char **argv) {
  unsigned long uid, gid;
  if (argc < 6 || strcmp(argv[4], "--") != 0 || !parse_id(argv[1], &uid) || !parse_id(argv[2], &gid)) {
    fprintf(stderr, "usage: strata-run-as UID GID GROUPS -- COMMAND [ARG...]\n");
    return 127;
  }
  gid_t groups[256];
  size_t count = 0;
  if (strcmp(argv[3], "-") != 0) {
    char *list = argv[3];
    for (char *tok = strtok(list, ","); tok != NULL && count < 256; tok = strtok(NULL, ",")) {
      unsigned long g;
      if (!parse_id(tok, &g)) {
        fprintf(stderr, "strata-run-as: bad group id %s\n", tok);
        return 127;
      }
      groups[count++] = (gid_t)g;
    }
  }
  if (setgroups(count, groups) != 0 || setgid((gid_t)gid) != 0 || setuid((uid_t)uid) != 0) {
    perror("strata-run-as: cannot switch user");
    return 127;
  }
  execvp(argv[5], &argv[5]);
  fprintf(stderr, "strata-run-as: cannot run %s: %s\n", argv[5], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
