#!/usr/bin/env bash
# The dependency advisory check: cargo-deny against the RustSec advisory database
# (deny.toml lists each ignored advisory with its reason). The database is a git
# repository; where the network does not reach it (the CI machines here), give a local
# clone of it: ADVISORY_DB=/path/to/advisory-db (it is copied, never changed).
#
#   scripts/advisories.sh                               # fetches the database
#   ADVISORY_DB=/path/to/advisory-db scripts/advisories.sh
set -euo pipefail
cd "$(dirname "$0")/.."
deny=${CARGO_DENY:-target/ci-tools/bin/cargo-deny}
if [ ! -x "$deny" ]; then
  cargo install --locked --quiet cargo-deny --version 0.20.2 --root target/ci-tools
fi
if [ -z "${ADVISORY_DB:-}" ]; then
  exec "$deny" --locked check advisories
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# cargo-deny keeps the default database under <db-path>/advisory-db-<hash of its URL>;
# with --offline it uses that copy as it is.
cp -r "$ADVISORY_DB" "$work/advisory-db-3157b0e258782691"
sed "s|^\[advisories\]|[advisories]\ndb-path = \"$work\"|" deny.toml > "$work/deny.toml"
echo "advisory database: $(git -C "$ADVISORY_DB" log -1 --format='%H of %cs' 2>/dev/null || echo "$ADVISORY_DB")"
"$deny" --offline --locked --config "$work/deny.toml" check advisories
