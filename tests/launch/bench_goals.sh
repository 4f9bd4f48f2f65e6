#!/usr/bin/env bash
# The benchmarks' records and goals: a small real part (`launch/bench.sh evaluate` on a 2048²
# scene) and `satunet bench predict` write valid JSON lines with the expected names; then
# launch/bench/compare.py against launch/bench/goals.json exits 0 on records that meet every
# goal they measure, 1 naming the goal on records that miss one, lists an absent part's goals
# as not measured, refuses a line that is not JSON (2), and measures every goal of goals.json
# when each record it names is there. Exit 77 (skipped) without GNU time or python3
# (launch/setup.sh --bench installs them).
#   usage: bench_goals.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail

binary=$(realpath "${1:?usage: bench_goals.sh SATUNET_BINARY SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: bench_goals.sh SATUNET_BINARY SOURCE_DIR}")
build_dir=$(dirname "$binary")
cd "$source_dir"
# shellcheck source=tests/launch/lib.sh
source tests/launch/lib.sh
[[ -x /usr/bin/time ]] || skip "no /usr/bin/time (Debian package time; launch/setup.sh --bench installs it)"
command -v python3 >/dev/null || skip "no python3"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/satunet-bench-goals.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
compare=(python3 launch/bench/compare.py)

# names FILE: "bench/name" of each record, sorted and unique (the lines checked as records).
names() {
  python3 -B - "$1" <<'EOF'
import sys
sys.path.insert(0, "launch/bench")
import records
print("\n".join(sorted({r["bench"] + "/" + r["name"] for r in records.read(sys.argv[1])})))
EOF
}
expect_names() {  # expect_names FILE NAME...
  local file=$1 found name
  shift
  found=$(names "$file") || fail "$file: not valid records"
  for name in "$@"; do
    grep -qx "$name" <<<"$found" || fail "$file: no record $name (has: $(paste -sd ' ' <<<"$found"))"
  done
}

step "launch/bench.sh evaluate, 2048² (the build as it is, nothing installed)"
if ! SATUNET_BENCH_NO_SETUP=1 SATUNET_BUILD_DIR=$build_dir SATUNET_BENCH_DIR=$tmp/bench \
  SATUNET_BENCH_SIZE=2048 launch/bench.sh evaluate >"$tmp/evaluate.out" 2>&1; then
  cat "$tmp/evaluate.out"
  fail "launch/bench.sh evaluate exited non-zero (it states no goal of its own)"
fi
cat "$tmp/evaluate.out"
results=$tmp/bench/results.jsonl
expect_names "$results" machine/cores machine/memory evaluate/wall evaluate/peak_rss \
  evaluate/buildings evaluate/apls evaluate/mean_foreground_iou evaluate/pixel_accuracy
while IFS= read -r line; do
  python3 -c 'import json, sys; json.loads(sys.argv[1])' "$line" || fail "not a JSON line: $line"
done <"$results"
grep -q '"side":2048' "$results" || fail "evaluate's records lack their scene's side"
grep -q "2048 px a side: APLS *1.0000" "$tmp/evaluate.out" ||
  fail "the driver's table lacks evaluate's APLS (a scene's truth against itself: 1)"
grep -q "not measured" "$tmp/evaluate.out" || fail "the other parts' goals are not listed as not measured"

step "satunet bench predict --jsonl, a 512² scene"
"$binary" synth --out "$tmp/scene" --size 512 --seed 3 -q >/dev/null
"$binary" bench predict --image "$tmp/scene/scene.tif" --tile 128 --overlap 32 --batch 4 \
  --stitch-to "$tmp/mask.tif" --overwrite -q --jsonl "$tmp/predict.jsonl" >"$tmp/predict.out"
grep -q "^predicted .* windows" "$tmp/predict.out" || fail "bench predict's text is gone"
expect_names "$tmp/predict.jsonl" predict/pipeline.seconds predict/pipeline.rate
for field in '"tile":128' '"overlap":32' '"batch":4' '"megapixels":0.262144' '"unit":"Mpx/s"'; do
  grep -qF "$field" "$tmp/predict.jsonl" || fail "bench predict's records lack $field"
done
if "$binary" bench allreduce --jsonl >/dev/null 2>&1; then
  fail "bench allreduce --jsonl without a FILE was accepted"
fi

step "the driver: every goal met"
# The infer and train parts' records, each goal met (predict + stitch 0.9 of the bare
# forward; memory growth 1.1; scaling 1.9; loader 0.97 of memory; synchronisation 0.5).
met=$tmp/met.jsonl
cat >"$met" <<'EOF'
{"bench":"machine","name":"cores","value":2,"unit":"cores","arch":"x86_64","commit":"test"}
{"bench":"infer","name":"forward.seconds","value":9.5,"unit":"s","megapixels":16.8,"windows":441}
{"bench":"infer","name":"forward.seconds","value":9.0,"unit":"s","megapixels":16.8,"windows":441}
{"bench":"infer","name":"wall","value":8.0,"unit":"s","run":"predict1"}
{"bench":"infer","name":"wall","value":2.0,"unit":"s","run":"stitch1"}
{"bench":"infer","name":"wall","value":7.0,"unit":"s","run":"predict2"}
{"bench":"infer","name":"peak_rss","value":500,"unit":"MB","run":"predict1"}
{"bench":"infer","name":"peak_rss","value":550,"unit":"MB","run":"predict-big"}
{"bench":"infer","name":"peak_rss","value":200,"unit":"MB","run":"stitch1"}
{"bench":"infer","name":"peak_rss","value":220,"unit":"MB","run":"stitch-big"}
{"bench":"train","name":"samples_per_s","value":100,"unit":"samples/s","ranks":1}
{"bench":"train","name":"samples_per_s","value":190,"unit":"samples/s","ranks":2}
{"bench":"train","name":"loader.rate","value":97,"unit":"samples/s","ranks":2}
{"bench":"train","name":"memory.rate","value":100,"unit":"samples/s","ranks":2}
{"bench":"train","name":"synchronisation.cost","value":0.05,"unit":"ms","ranks":2}
{"bench":"train","name":"flat_allreduce.time","value":0.1,"unit":"ms","ranks":2}
EOF
status=0
"${compare[@]}" "$met" >"$tmp/met.out" || status=$?
cat "$tmp/met.out"
((status == 0)) || fail "the driver exited $status on records that meet every goal"
grep -q "^goals: 6 met, 0 missed" "$tmp/met.out" || fail "the driver did not count 6 goals met"
# The bare forward is the best of its 2 records: 9.0 / (8 + 2) = 0.90.
grep -Eq "predict \+ stitch, to the bare forward +0\.90 x +>= 0\.85 +met" "$tmp/met.out" ||
  fail "predict + stitch against the best bare forward is not 0.90, met"
for part in tile predict python-train; do
  grep -q "^  $part: " "$tmp/met.out" || fail "absent part $part's goals are not listed as not measured"
done

step "the driver: one goal missed"
# predict's memory grows 1.5x for 4x the pixels (goal <= 1.25).
sed 's/"value":550,"unit":"MB","run":"predict-big"/"value":750,"unit":"MB","run":"predict-big"/' \
  "$met" >"$tmp/missed.jsonl"
status=0
"${compare[@]}" "$tmp/missed.jsonl" >"$tmp/missed.out" || status=$?
cat "$tmp/missed.out"
((status == 1)) || fail "the driver exited $status, not 1, on a missed goal"
grep -q "^MISSED infer: peak RSS predict: growth for 4x the pixels: 1.50, goal <= 1.25" \
  "$tmp/missed.out" || fail "the driver did not name the missed goal"
grep -q "^goals: 5 met, 1 missed" "$tmp/missed.out" || fail "the driver did not count 1 missed"
# A record the results run without: the goal is not measured, not failed.
grep -v '"name":"flat_allreduce.time"' "$met" >"$tmp/partial.jsonl"
"${compare[@]}" "$tmp/partial.jsonl" >"$tmp/partial.out" ||
  fail "a goal without its records failed the run"
grep -q "^  train: synchronisation cost / one flat all-reduce$" "$tmp/partial.out" ||
  fail "a goal without its records is not listed as not measured"

step "the driver: a line that is not a record"
{ cat "$met"; echo '{"bench":"infer","name":"wall","value":1.0'; } >"$tmp/bad.jsonl"
status=0
"${compare[@]}" "$tmp/bad.jsonl" >"$tmp/bad.out" 2>&1 || status=$?
((status == 2)) || fail "the driver exited $status, not 2, on a line that is not JSON"
grep -q "bad.jsonl:17: not JSON" "$tmp/bad.out" || fail "the driver did not name the bad line"

step "every goal of goals.json is measured when the records it names are there"
# A record for each selector of every part (values 1; each group's variable one value), so that
# a goal whose expression or selectors name no record the benchmarks could write shows here.
python3 -B - "$tmp/all.jsonl" <<'EOF'
import json, re, sys
sys.path.insert(0, "launch/bench")
import compare
with open("launch/bench/goals.json", encoding="utf-8") as file:
    goals = json.load(file)
variables = {"scene": "scene", "side": 2048}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    for part in goals["parts"]:
        for selector in part["records"].values():
            bench, name, where, field = compare.parse_selector(compare.substitute(selector, variables))
            record = {"bench": bench, "name": name, "value": 1.0, "unit": "",
                      **{k: (int(v) if v.isdigit() else v) for k, v in where.items()}}
            if field != "value":
                record[field] = 1.0
            out.write(json.dumps(record) + "\n")
EOF
status=0
"${compare[@]}" "$tmp/all.jsonl" >"$tmp/all.out" || status=$?
((status == 1)) || fail "with every record at 1, the driver exited $status (some goals must miss)"
grep -Eq "^goals: [0-9]+ met, [0-9]+ missed, 0 not measured$" "$tmp/all.out" || {
  cat "$tmp/all.out"
  fail "some goal of goals.json is not measured with every record it names present"
}
goals=$(python3 -c 'import json; print(sum(json.dumps(p).count("\"goal\"") for p in json.load(open("launch/bench/goals.json"))["parts"]))')
counted=$(sed -n 's/^goals: \([0-9]*\) met, \([0-9]*\) missed.*/\1 \2/p' "$tmp/all.out" |
  awk '{print $1 + $2}')
# The predict part's goal stands once in the file and is judged for each scene (one here).
((counted == goals)) || fail "goals.json states $goals goals, the driver judged $counted"
tail -1 "$tmp/all.out"
echo "bench goals: records, driver and goals file pass"
