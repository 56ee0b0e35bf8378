#!/usr/bin/env bash
# Compiles strata's one native helper, dist/libexec/strata-run-as: the
# static program that switches to the image's USER inside the RUN sandbox.
# Without a C compiler strata still works; RUN as a non-root USER then
# fails with a message saying how to get the helper.
set -euo pipefail
cd "$(dirname "$0")/.."
out=dist/libexec/strata-run-as
src=native/run-as.c
mkdir -p "$(dirname "$out")"
[ -x "$out" ] && [ "$out" -nt "$src" ] && exit 0
cc=$(command -v cc || command -v gcc || true)
if [ -z "$cc" ]; then
  echo "build-native: no C compiler; RUN as a non-root USER will not be available (apt-get install gcc libc6-dev)" >&2
  exit 0
fi
if ! "$cc" -static -O2 -Wall -o "$out.tmp" "$src" 2>/tmp/strata-build-native.log; then
  echo "build-native: could not compile $src statically (see /tmp/strata-build-native.log); RUN as a non-root USER will not be available" >&2
  exit 0
fi
mv "$out.tmp" "$out"
