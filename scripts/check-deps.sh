#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database offline: the copy in ../shared/data
# (a snapshot; advisories published after it are not known here). Fails on any vulnerability and on
# any warning (unmaintained, unsound, yanked) not listed with its reason in .cargo/audit.toml.
# First proves the check can fail: a lockfile holding a crate with a known vulnerability must be
# refused. Installs cargo-audit (pinned) under the target directory when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
tools=$target_dir/tools
audit=$tools/bin/cargo-audit
if [ ! -x "$audit" ]; then
  cargo install cargo-audit --version 0.22.2 --locked --root "$tools" --target-dir "$target_dir/tools-build" --quiet
fi
snapshot=../shared/data/rustsec-advisory-db
[ -d "$snapshot/crates" ] || { echo "the advisory database copy is missing: $snapshot" >&2; exit 1; }
db=$(mktemp -d)
known_bad=$(mktemp -d)
trap 'rm -rf "$db" "$known_bad"' EXIT
# cargo-audit reads the database as a git repository.
cp -r "$snapshot/." "$db"
git -C "$db" init -q
git -C "$db" add -A
git -C "$db" -c user.name=glasshouse -c user.email=ci@localhost commit -qm "advisory snapshot $(cut -c1-12 "$snapshot/SNAPSHOT")"

# smallvec 1.6.0 has RUSTSEC-2021-0003 (a buffer overflow): the check must refuse it.
printf 'version = 4\n\n[[package]]\nname = "smallvec"\nversion = "1.6.0"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\n' > "$known_bad/Cargo.lock"
if "$audit" audit --no-fetch --db "$db" --file "$known_bad/Cargo.lock" >/dev/null 2>&1; then
  echo "the dependency check passed a lockfile with a known vulnerability: it is not working" >&2
  exit 1
fi
"$audit" audit --no-fetch --db "$db" --file Cargo.lock
echo "dependency check: no advisory against Cargo.lock beyond those allowed in .cargo/audit.toml (database $(cat "$snapshot/SNAPSHOT"))"
