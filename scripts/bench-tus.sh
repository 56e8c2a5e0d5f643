#!/usr/bin/env bash
# Uploads one random file to the Node tus server (tests/tus-server/server.mjs) several ways
# and compares them in the same run: the ferry CLI, curl (one streamed PATCH: the
# machine's practical ceiling) and tus-js-client (the reference JavaScript client).
# Prints a Markdown table of throughput and peak memory, with ferry's ratios to the peers.
#
#   scripts/bench-tus.sh                    # 1 GiB
#   BENCH_SIZE_MIB=64 scripts/bench-tus.sh  # a quick try
#   BENCH_ROUNDS=3 scripts/bench-tus.sh     # rounds of every client (default 5)
#
# FERRY_BIN: the ferry binary (default: build `cargo build --release -p ferry-cli` and use
#            $CARGO_TARGET_DIR/release/ferry; the row is skipped when that build fails).
# BENCH_DIR: where the file and the server's store go (default: a new temporary folder,
#            removed on exit). Needs about twice the file size free.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

size_mib="${BENCH_SIZE_MIB:-1024}"
rounds="${BENCH_ROUNDS:-5}"
chunk_bytes=$((8 * 1024 * 1024))
if ! [[ "$size_mib" =~ ^[1-9][0-9]*$ ]]; then
  echo "BENCH_SIZE_MIB must be a positive whole number of MiB, got '$size_mib'" >&2
  exit 2
fi
size_bytes=$((size_mib * 1024 * 1024))
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "BENCH_ROUNDS must be a positive whole number, got '$rounds'" >&2
  exit 2
fi
for tool in node curl /usr/bin/time cmp; do
  command -v "$tool" >/dev/null || { echo "bench-tus: $tool is required" >&2; exit 2; }
done
[[ -d node_modules/@tus/server ]] || { echo "bench-tus: run 'npm ci' first" >&2; exit 2; }

work="$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/ferry-bench-tus.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf 'bench-tus: %s\n' "$*" >&2; }

# --- the ferry binary: built here unless given -------------------------------------------
ferry_bin="${FERRY_BIN:-}"
ferry_skip=""
if [[ -z "$ferry_bin" ]]; then
  target_dir="${CARGO_TARGET_DIR:-$root/target}"
  ferry_bin="$target_dir/release/ferry"
  log "building the ferry CLI (cargo build --release -p ferry-cli)"
  if ! cargo build --release -p ferry-cli >"$work/ferry-build.log" 2>&1; then
    ferry_skip="the ferry CLI did not build (cargo build --release -p ferry-cli): $(grep -m1 -E '^error' "$work/ferry-build.log" || tail -n1 "$work/ferry-build.log")"
  fi
fi
if [[ -z "$ferry_skip" && ! -x "$ferry_bin" ]]; then
  ferry_skip="no executable at $ferry_bin"
fi

# --- the file ----------------------------------------------------------------------------
file="$work/bench-${size_mib}MiB.bin"
log "writing $size_mib MiB of random bytes to $file"
head -c "$size_bytes" /dev/urandom >"$file"

# --- the server --------------------------------------------------------------------------
data="$work/store"
node tests/tus-server/server.mjs --dir "$data" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
endpoint=""
# Polling a child process's output with a deadline: there is no event to wait on from bash.
for _ in $(seq 1 200); do
  if [[ -s "$work/server.out" ]]; then
    endpoint="$(sed -n 's/.*"endpoint":"\([^"]*\)".*/\1/p' "$work/server.out")"
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$endpoint" ]]; then
  log "the tus server did not start:"
  cat "$work/server.err" >&2
  exit 1
fi
log "tus server at $endpoint"

# --- measuring ---------------------------------------------------------------------------
# Each row: wall seconds and peak RSS (KiB, from /usr/bin/time -v) of the command; then the
# server's stored copy is compared with the source byte for byte. The store is emptied
# before each row, so it never holds more than one copy.
declare -A wall rss note
reset_store() { rm -rf "${data:?}"/*; }
measure() {
  local name="$1"
  shift
  local start end
  start="$(date +%s%N)"
  local status=0
  /usr/bin/time -v -o "$work/time-$name.txt" "$@" >"$work/out-$name.txt" 2>"$work/err-$name.txt" || status=$?
  if ((status != 0)); then
    note[$name]="failed (exit $status): $(tail -n 3 "$work/err-$name.txt" | tr '\n' ' ' | tr '|' '/')"
    log "$name ${note[$name]}"
    return 0
  fi
  end="$(date +%s%N)"
  local stored
  stored="$(find "$data" -maxdepth 1 -type f ! -name '*.json' | head -n 1)"
  if [[ -z "$stored" ]] || ! cmp -s "$file" "$stored"; then
    note[$name]="failed: the server's copy differs from the source"
    log "$name ${note[$name]}"
    return 0
  fi
  wall[$name]="$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')"
  rss[$name]="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time-$name.txt")"
  log "$name: ${wall[$name]} s, peak RSS ${rss[$name]} KiB"
}

# curl: creation first (untimed, milliseconds), then the whole file in one streamed PATCH.
curl_patch() {
  local location
  location="$(curl -sS -o /dev/null -D - -X POST -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $size_bytes" \
    -H "Upload-Metadata: filename $(printf '%s' "$(basename "$file")" | base64 -w0)" \
    "$endpoint" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')"
  [[ -n "$location" ]] || { log "curl: the creation POST returned no Location"; return 1; }
  printf '%s\n' "$location" >"$work/curl-location"
}

# One ferry row: the whole command, then (from its summary line) its sending stage alone:
# Ferry also hashes the file (BLAKE3, the resume key) and verifies the result.
run_ferry() {
  local name="$1" chunk="$2"
  reset_store
  # The CLI keeps its queue and resume points per destination in the user's data folder by
  # default; a fresh one inside the temporary folder keeps runs independent and leaves nothing.
  measure "$name" env FERRY_CLI_DATA_DIR="$work/ferry-state-$name" \
    "$ferry_bin" upload "$file" --to "$endpoint" --chunk-size "$chunk" --json
  [[ -n "${wall[$name]:-}" ]] || return 0
  local sending
  sending="$(tail -n 1 "$work/out-$name.txt" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.uploading_secs>0)console.log(j.uploading_secs.toFixed(3))})')"
  if [[ -n "$sending" ]]; then
    wall[$name-sending]="$sending"
    rss[$name-sending]="${rss[$name]}"
    note[$name-sending]="the sending stage of the row above (hashing and verifying left out)"
  fi
}

# --- the rounds --------------------------------------------------------------------------
# Every client runs once per round, in an order that rotates from round to round, so a
# slow spell of the machine falls on different clients. The report gives each client's
# median, and ferry's ratios as the median of the ratios taken within each round.
declare -A times
clients=(ferry ferry-1-patch curl tus-js)
if [[ -n "$ferry_skip" ]]; then
  note[ferry]="skipped: $ferry_skip"
  log "ferry ${note[ferry]}"
  clients=(curl tus-js)
fi
note[ferry-1-patch]="--chunk-size ${size_mib}MiB: one PATCH, like curl"
run_client() {
  local name="$1"
  unset "wall[$name]" "wall[$name-sending]"
  case "$name" in
    ferry) run_ferry ferry 8MiB ;;
    ferry-1-patch) run_ferry ferry-1-patch "${size_mib}MiB" ;;
    curl)
      reset_store
      if curl_patch; then
        # -T streams the file from disk; -X PATCH turns curl's upload PUT into the tus
        # PATCH. `Expect:` off: the server would answer 100 at once; this keeps it clean.
        measure curl curl -sS --fail -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
          -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' \
          -T "$file" "$(cat "$work/curl-location")"
      else
        note[curl]="failed: creation"
      fi
      ;;
    tus-js)
      reset_store
      measure tus-js node tests/tus-server/bench-tus-js.mjs "$file" "$endpoint" "$chunk_bytes"
      ;;
  esac
  local row
  for row in "$name" "$name-sending"; do
    if [[ -n "${wall[$row]:-}" ]]; then
      times[$row]+="${wall[$row]} "
      times[$row:$round]="${wall[$row]}"
      if [[ -z "${rss_peak[$row]:-}" || "${rss[$row]}" -gt "${rss_peak[$row]}" ]]; then
        rss_peak[$row]="${rss[$row]}"
      fi
    fi
  done
}
declare -A rss_peak
for ((round = 1; round <= rounds; round++)); do
  log "round $round of $rounds"
  count=${#clients[@]}
  for ((i = 0; i < count; i++)); do
    run_client "${clients[$(((i + round - 1) % count))]}"
  done
done

# --- report ------------------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mbps() { awk -v b="$size_bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# The median over rounds of peer time / ours (throughput ratio; above 1: ours is faster).
round_ratios() {
  local ours="$1" peer="$2" r out=()
  for ((r = 1; r <= rounds; r++)); do
    [[ -n "${times[$ours:$r]:-}" && -n "${times[$peer:$r]:-}" ]] || continue
    out+=("$(awk -v a="${times[$peer:$r]}" -v b="${times[$ours:$r]}" 'BEGIN { printf "%.2f", a / b }')")
  done
  ((${#out[@]})) || return 0
  printf '%s (rounds: %s)' "$(median "${out[@]}")" "${out[*]}"
}

echo
echo "### tus upload: $size_mib MiB, Node tus server (@tus/server + @tus/file-store) on 127.0.0.1, $rounds rounds, $(nproc) cores"
echo
echo "| client | median wall s | runs (s) | throughput MB/s | peak RSS MiB | note |"
echo "| --- | ---: | --- | ---: | ---: | --- |"
for name in ferry ferry-sending ferry-1-patch ferry-1-patch-sending curl tus-js; do
  if [[ -n "${times[$name]:-}" ]]; then
    # shellcheck disable=SC2086 # a list of numbers
    m="$(median ${times[$name]})"
    echo "| $name | $m | ${times[$name]% } | $(mbps "$m") | $(mib "${rss_peak[$name]}") | ${note[$name]:-} |"
  elif [[ "$name" != *-sending ]]; then
    echo "| $name | - | - | - | - | ${note[$name]:-not run} |"
  fi
done
echo
for ours in ferry ferry-sending ferry-1-patch ferry-1-patch-sending; do
  [[ -n "${times[$ours]:-}" ]] || continue
  for peer in curl tus-js; do
    [[ -n "${times[$peer]:-}" ]] || continue
    echo "- $ours/$peer: throughput $(round_ratios "$ours" "$peer")"
  done
done
echo
echo "curl's time is its single PATCH (the creation POST before it is left out); the other"
echo "clients include their creation request. MB/s is 10^6 bytes per second. Peak RSS is"
echo "the highest of the rounds."
