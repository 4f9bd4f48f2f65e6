#!/usr/bin/env bash
# Every key of every configs/*.ini and datasets/*.ini is one its stage accepts:
#   - a section that names a subcommand satunet has is parsed and validated by satunet itself:
#     the command runs with the file and inputs that do not exist, so it must get past the
#     options (exit 2 would be a bad key or value) and fail on the missing input (exit 1);
#     synth sections run for real;
#   - predict and stitch sections, while satunet has no such command yet, are checked
#     against the interface those commands are being written to (names and value kinds);
#   - keys outside any section, or sections that name no subcommand, are refused (satunet
#     would silently ignore them);
#   - a bad key in a copy of a file must be caught (the check can fail);
#   - the dataset recipes' [tile] sections tile the real samples in tests/data/real.
#   usage: configs.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail

binary=$(realpath "${1:?usage: configs.sh SATUNET_BINARY SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: configs.sh SATUNET_BINARY SOURCE_DIR}")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/satunet-configs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
failures=0
fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

# The interface of the commands being written (options besides --config, -v, -q, --help).
planned_predict="checkpoint:path image:path out:path stitch-to:path tile:int overlap:int
  batch:int blend:gaussian|cosine|uniform tta:none|flips threads:int"
planned_stitch="pred:path out:path probabilities:path polygons:path polygon-classes:list
  simplify:number min-area:number format:GTiff|COG"

commands=$("$binary" --help | sed -n 's/^  \([a-z]\{1,\}\) .*/\1/p' | tr '\n' ' ')
echo "satunet has: $commands"
has_command() {
  [[ " $commands " == *" $1 "* ]]
}

# "section key value" lines of an INI file; keys before any section get section "-".
ini_entries() {
  awk '
    /^[[:space:]]*([#;]|$)/ { next }
    /^[[:space:]]*\[/ { s = $0; gsub(/[[:space:]\[\]]/, "", s); print "section", s; next }
    {
      i = index($0, "="); k = substr($0, 1, i - 1); v = substr($0, i + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", k); gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
      print "key", (s == "" ? "-" : s), k, v
    }' "$1"
}

# Runs satunet CMD with the file and missing inputs: exit 1 naming a missing input is a pass.
validate_by_satunet() {  # validate_by_satunet FILE COMMAND
  local file=$1 command=$2 missing=$tmp/missing-input args status=0
  case $command in
    synth) args=(--out "$tmp/synth-$(basename "$file" .ini)") ;;
    tile) args=(--out "$tmp/tile-out" --image "$missing.tif") ;;
    train) args=(--data "$missing" --out "$tmp/train-out") ;;
    predict) args=(--checkpoint "$missing.pt" --image "$missing.tif" --out "$tmp/pred-out") ;;
    # with --polygons: the polygon options of a [stitch] section are refused without it
    stitch) args=(--pred "$missing" --out "$tmp/stitch-out.tif" --polygons "$tmp/p.geojson") ;;
    evaluate) args=(--pred "$missing.tif" --truth "$missing.tif") ;;
    *) fail "$file: no way to check a [$command] section"; return ;;
  esac
  "$binary" "$command" --config "$file" "${args[@]}" -q >"$tmp/out" 2>"$tmp/err" || status=$?
  if [[ $command == synth ]]; then
    ((status == 0)) || fail "$file [synth]: exit $status: $(cat "$tmp/err")"
  elif ((status != 1)) || ! grep -q "missing-input" "$tmp/err"; then
    fail "$file [$command]: expected exit 1 on the missing input, got $status: $(cat "$tmp/err")"
  fi
}

check_planned_value() {  # check_planned_value FILE SECTION KEY VALUE KIND
  local file=$1 section=$2 key=$3 value=$4 kind=$5
  case $kind in
    int) [[ $value =~ ^[0-9]+$ ]] ;;
    number) [[ $value =~ ^[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] ;;
    path | list) [[ -n $value ]] ;;
    *) [[ "|$kind|" == *"|$value|"* ]] ;;
  esac || fail "$file [$section] $key = '$value': not a valid value ($kind)"
}

validate_by_interface() {  # validate_by_interface FILE SECTION ENTRIES-FILE
  local file=$1 section=$2 spec=$planned_predict key value pair found kind
  [[ $section == stitch ]] && spec=$planned_stitch
  while read -r _ _ key value; do
    found=""
    for pair in $spec; do
      if [[ ${pair%%:*} == "$key" ]]; then
        found=1
        kind=${pair#*:}
      fi
    done
    if [[ -z $found ]]; then
      fail "$file [$section]: '$key' is not an option of satunet $section"
    else
      check_planned_value "$file" "$section" "$key" "$value" "$kind"
    fi
  done < <(awk -v s="$section" '$1 == "key" && $2 == s' "$3")
}

checked_satunet=0
checked_interface=0
check_file() {  # check_file FILE: returns the number of failures it added
  local file=$1 before=$failures section
  ini_entries "$file" >"$tmp/entries"
  if grep -q '^key - ' "$tmp/entries"; then
    fail "$file: keys outside a section ($(awk '$2 == "-" {print $3}' "$tmp/entries" | tr '\n' ' '))"
  fi
  while read -r _ section; do
    if has_command "$section"; then
      validate_by_satunet "$file" "$section"
      checked_satunet=$((checked_satunet + 1))
    elif [[ $section == predict || $section == stitch ]]; then
      validate_by_interface "$file" "$section" "$tmp/entries"
      checked_interface=$((checked_interface + 1))
    else
      fail "$file: [$section] is no satunet subcommand"
    fi
  done < <(awk '$1 == "section"' "$tmp/entries")
  return $((failures - before))
}

files=("$source_dir"/configs/*.ini "$source_dir"/datasets/*.ini)
for file in "${files[@]}"; do
  if check_file "$file"; then
    echo "ok: ${file#"$source_dir"/}: [$(grep -o '^\[[a-z]*\]' "$file" | tr -d '[]' | tr '\n' ' ' | sed 's/ $//')]"
  fi
done
echo "${#files[@]} files: $checked_satunet sections validated by satunet," \
  "$checked_interface against the planned predict/stitch interface"

# The check must be able to fail: a bad key in each kind of section is caught.
echo "-- negative controls"
# expect_caught FILE WHAT: check_file must fail on FILE (its own failures do not count).
expect_caught() {
  local saved=$failures
  if check_file "$1" 2>/dev/null; then
    fail "$2 was not caught"
  else
    failures=$saved
    echo "ok: $2 is caught"
  fi
}
for section in train tile predict stitch; do
  printf '[%s]\nno-such-option = 1\n' "$section" >"$tmp/bad-$section.ini"
  expect_caught "$tmp/bad-$section.ini" "a bad key in [$section]"
done
printf 'tile = 64\n' >"$tmp/bad-top.ini"
expect_caught "$tmp/bad-top.ini" "a key outside any section"

# The recipes on real data.
real=$source_dir/tests/data/real
echo "-- dataset recipes on the real samples in $real"
recipe() {  # recipe NAME ARGS...
  local name=$1
  shift
  if "$binary" tile --config "$source_dir/datasets/$name.ini" --out "$tmp/real-$name" "$@" \
    -q >"$tmp/out" 2>&1; then
    echo "ok: datasets/$name.ini: $(grep -m 1 '^tiles:' "$tmp/out")"
  else
    fail "datasets/$name.ini on real data: $(cat "$tmp/out")"
  fi
}
for name in spacenet-roads roads; do
  recipe "$name" --image "$real/spacenet3_vegas_roads/image.tif" \
    --labels "road=$real/spacenet3_vegas_roads/roads.geojson"
done
recipe spacenet-buildings --image "$real/spacenet4_atlanta_buildings/image.tif" \
  --labels "building=$real/spacenet4_atlanta_buildings/buildings.geojson"
for name in inria-buildings massachusetts-buildings kampala; do
  recipe "$name" --image "$real/kampala_buildings/image.tif" \
    --mask "$real/kampala_buildings/mask.tif"
done

if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "all configuration keys accepted"
