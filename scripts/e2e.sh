#!/usr/bin/env bash
# Runs every end-to-end configuration against the built app, each even after another has
# failed, then writes reports/summary.md (from the JUnit files, screenshots and
# measurements under reports/) and prints it. Fails when any configuration failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export FERRY_REPORTS="${FERRY_REPORTS:-$PWD/reports}"
export FERRY_E2E_ARTIFACTS="$FERRY_REPORTS/artifacts"
rm -rf "$FERRY_REPORTS"
mkdir -p "$FERRY_REPORTS/junit" "$FERRY_E2E_ARTIFACTS"

failed=()
for config in wdio.conf.ts wdio.tus.conf.ts wdio.destinations.conf.ts wdio.keyring.conf.ts wdio.websocket.conf.ts; do
  printf '\n== e2e: %s\n' "$config"
  npx wdio run "tests/$config" || failed+=("$config")
done

printf '\n== e2e: report\n'
npx tsx tests/report/summary.ts "$FERRY_REPORTS" || failed+=("the report")

if ((${#failed[@]} > 0)); then
  echo "end-to-end runs that failed: ${failed[*]}" >&2
  exit 1
fi
