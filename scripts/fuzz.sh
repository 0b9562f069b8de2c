#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for SECONDS each, from the corpus in
# fuzz/corpus/TARGET. New inputs the fuzzer finds go to a scratch folder, not the repository; a
# crash stops the run with the input saved under fuzz/artifacts/TARGET/ (make it a regression
# test, then fix it).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # default: 15 s each, every target
#   FUZZ_SEED=1 scripts/fuzz.sh 10            # the test command's run: a fixed seed, so a failure
#                                             # there is one anyone can run again
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-15}
shift || true
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "the fuzz targets need the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "corpus/$target"
  printf '==> fuzz %s for %ss: ' "$target" "$seconds"
  # -rss_limit_mb: a decoder that allocates by a length it read is a finding, not a slow run.
  if ! cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
      >"$scratch/$target.log" 2>&1; then
    echo "FAILED"
    tail -40 "$scratch/$target.log" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$scratch/$target.log" | awk '{print $2 " runs"}'
done
