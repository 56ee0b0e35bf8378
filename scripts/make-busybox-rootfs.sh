#!/usr/bin/env bash
# make-busybox-rootfs.sh DEST: a tiny root filesystem from Debian's busybox-static:
# the static binary, a link for each applet, /etc/passwd and /etc/group with
# root and nobody, and /tmp. Import it with:
#   strata image import DEST --tag busybox:local
set -euo pipefail
dest=${1:?usage: make-busybox-rootfs.sh DEST}
busybox=/bin/busybox
if ! "$busybox" --list-full >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  echo "make-busybox-rootfs: needs Debian's busybox-static (apt-get install busybox-static, or run scripts/setup-system.sh)" >&2
  exit 1
fi
mkdir -p "$dest"
cd "$dest"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev home var
chmod 1777 tmp
chmod 0700 root
cp "$busybox" bin/busybox
chmod 0755 bin/busybox
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$(dirname "$applet")"
  ln -sf /bin/busybox "$applet"
done
cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
nobody:x:65534:
GROUP
chmod 0644 etc/passwd etc/group
