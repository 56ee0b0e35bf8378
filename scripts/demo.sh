#!/usr/bin/env bash
# `npm run demo`: strata's main job on the bundled example. Today that is the
# frontend: the plan of the multi-stage example and the linter on two
# examples. (The build engine will turn this into a real build and rebuild.)
set -euo pipefail
cd "$(dirname "$0")/.."
strata() { node dist/bin/strata.js "$@"; }

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
