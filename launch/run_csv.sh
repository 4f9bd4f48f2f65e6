# shellcheck shell=bash
# The shell's reader of a training run's logs (metrics.csv, steps.csv; report/run_directory.hpp
# owns their columns): columns by name, never by position. Sourced by launch/bench.sh,
# launch/gpu/check.sh and the launch tests.

# csv_last FILE COLUMN: the last row's value in COLUMN; an error naming the file without it.
csv_last() {
  awk -F, -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i}
    END {if (!c) {print FILENAME ": no column " name > "/dev/stderr"; exit 1}; print $c}' "$1"
}
