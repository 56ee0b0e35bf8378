#!/usr/bin/env bash
# Compiles strata's native helpers into dist/libexec/:
#   strata-run-as  switches to the image's USER inside the RUN sandbox;
#   strata-ovl     makes overlay whiteouts and opaque marks for the overlay snapshotter;
#   strata-stat    lstats the entries of a big stat cache on every core (a warm hash);
#   strata-stat.node  the same lstats inside Node (the no-change check of
#                  strata build), a Node-API module built against the
#                  node-api-headers package's headers only.
# Without a C compiler strata still works: RUN as a non-root USER then
# fails with a message saying how to get the helper, builds use the
# copy snapshotter, and a warm hash lstats the stat cache in Node.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/libexec
cc=$(command -v cc || command -v gcc || true)
for name in run-as ovl stat; do
  src=native/$name.c
  out=dist/libexec/strata-$name
  [ -x "$out" ] && [ "$out" -nt "$src" ] && { [ "$name" != stat ] || [ "$out" -nt native/stat-core.h ]; } && continue
  if [ -z "$cc" ]; then
    echo "build-native: no C compiler, $out not built (apt-get install gcc libc6-dev)" >&2
    continue
  fi
  if ! "$cc" -static -O2 -Wall -pthread -o "$out.tmp" "$src" 2>/tmp/strata-build-native.log; then
    echo "build-native: could not compile $src statically (see /tmp/strata-build-native.log); $out not built" >&2
    continue
  fi
  mv "$out.tmp" "$out"
done
addon=dist/libexec/strata-stat.node
headers=node_modules/node-api-headers/include
if [ -n "$cc" ] && [ -d "$headers" ] && ! { [ -f "$addon" ] && [ "$addon" -nt native/stat-addon.c ] && [ "$addon" -nt native/stat-core.h ]; }; then
  # Its Node-API calls are found in the node process that loads it: nothing to link.
  if "$cc" -shared -fPIC -O2 -Wall -pthread -I "$headers" -o "$addon.tmp" native/stat-addon.c 2>/tmp/strata-build-native.log; then
    mv "$addon.tmp" "$addon"
  else
    echo "build-native: could not compile native/stat-addon.c (see /tmp/strata-build-native.log); $addon not built" >&2
  fi
fi
