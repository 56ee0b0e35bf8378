#!/bin/sh
# Renders the site into $1 with the greeting $2.
set -eu
out=$1
greeting=$2
mkdir -p "$out"
sed "s|@GREETING@|$greeting|" index.html.in > "$out/index.html"
ls vendor > "$out/vendor.txt"
