#!/usr/bin/env bash
# Folder sync benchmark: 10,000 files of 1 KiB appear in a watched folder and go to the
# Node tus server (tests/tus-server/server.mjs), then a tree of 100,000 files is watched
# while nothing changes. Prints the times, the CPU of idle watching and of a rescan.
#
#   scripts/bench-sync.sh
#   BENCH_FILES=1000 BENCH_TREE=10000 scripts/bench-sync.sh   # a quick try
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[[ -d node_modules/@tus/server ]] || { echo "bench-sync: run 'npm ci' first" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
exec cargo run --release -q -p ferry-sync --example sync_bench
