#!/usr/bin/env bash
# Fuzzes the WebSocket server's inbound message decoder for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]     (default 60)
#
# With a nightly toolchain and cargo-fuzz installed, runs the libFuzzer target in
# src-tauri/crates/ferry-ws/fuzz; otherwise runs the stable randomized decoder test
# (proptest) with as many cases as fit in the time. Passing means no crash.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz on nightly for ${seconds}s"
  cd "$root/src-tauri/crates/ferry-ws/fuzz"
  exec cargo +nightly fuzz run decode_client_message -- -max_total_time="$seconds" -max_len=70000
fi

echo "fuzz: cargo-fuzz or nightly not available; running the stable randomized decoder test for ~${seconds}s"
cd "$root"
cargo test -p ferry-ws --release --test decoder_fuzz --no-run >/dev/null
deadline=$(( $(date +%s) + seconds ))
rounds=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  PROPTEST_RNG_SEED=$RANDOM FERRY_FUZZ_CASES=20000 cargo test -q -p ferry-ws --release --test decoder_fuzz >/dev/null
  rounds=$((rounds + 1))
done
echo "fuzz: ${rounds} rounds of 4 x 20000 cases, no crash"
