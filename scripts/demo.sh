#!/usr/bin/env bash
# `npm run demo`: what strata does today, on the bundled example, in a
# throwaway store: the build plan, the linter, the context digests that key
# each COPY, and the busybox:local base image imported and inspected. (The
# build engine will turn this into a real build and rebuild.)
set -euo pipefail
cd "$(dirname "$0")/.."
strata() { node dist/bin/strata.js "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export STRATA_STORE="$work/store"

echo "== strata plan examples/hello"
strata plan examples/hello
echo
echo "== strata plan --target test --build-arg GREETING=Hi --format json examples/hello (levels only)"
strata plan --target test --build-arg GREETING=Hi --format json examples/hello \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s);console.log(JSON.stringify({target:p.target,levels:p.levels}))})'
echo
echo "== strata check examples/hello"
strata check examples/hello
echo
echo "== strata check examples/needs-work"
strata check examples/needs-work
echo
echo "== strata hash examples/hello (twice: the second run comes from the stat cache)"
strata hash examples/hello
strata hash --json examples/hello | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(`second run: ${r.cacheHits} of ${r.files} files from the stat cache, same digest: ${r.digest}`)})'
echo
if [ -x /bin/busybox ] && dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  echo "== busybox:local, the base image of the example"
  bash scripts/make-busybox-rootfs.sh "$work/rootfs"
  strata image import "$work/rootfs" --tag busybox:local
  strata image ls
  strata history busybox:local
else
  echo "(busybox-static is not installed: scripts/setup-system.sh installs it; skipping the base image)"
fi
