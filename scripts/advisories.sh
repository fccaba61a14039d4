#!/usr/bin/env bash
# The dependency advisory check: cargo-deny against a copy of the RustSec advisory
# database. The database is a git repository; where the network does not reach it (the
# CI machines here), pass a local copy: ADVISORY_DB=/path/to/advisory-db.
#
#   ADVISORY_DB=/path/to/advisory-db scripts/advisories.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deny=${CARGO_DENY:-target/ci-tools/bin/cargo-deny}
if [ ! -x "$deny" ]; then
  cargo install --locked --quiet cargo-deny --version 0.20.2 --root target/ci-tools
fi
if [ -n "${ADVISORY_DB:-}" ]; then
  db_root=$(mktemp -d)
  trap 'rm -rf "$db_root"' EXIT
  # cargo-deny looks for the database under <db-path>/<name>-<hash>; point it at the copy.
  cfg=$(mktemp)
  trap 'rm -rf "$db_root" "$cfg"' EXIT
  sed "s|^\[advisories\]|[advisories]\ndb-path = \"$db_root\"\ndb-urls = [\"$ADVISORY_DB\"]|" deny.toml > "$cfg"
  "$deny" --locked check --config "$cfg" advisories
else
  "$deny" --locked check advisories
fi
