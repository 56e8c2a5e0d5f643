#!/usr/bin/env bash
# Installs what Ferry needs, builds it, and starts it uploading to the embedded default
# destination: the folder "Ferry Uploads" in your home folder (no server needed).
# Set FERRY_DESTINATION_DIR to upload somewhere else.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tauri build --no-bundle
target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
exec "$target_dir/release/ferry-desktop" "$@"
