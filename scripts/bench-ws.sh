#!/usr/bin/env bash
# Runs the progress server benchmark (release build) and prints its figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
ulimit -n 8192 2>/dev/null || true
cd "$root"
exec cargo run --release -q -p ferry-ws --example ws_bench
