#!/usr/bin/env python3
"""The benchmarks' records: JSON lines, one measurement each (Python 3 standard library only).

The format is the one src/common/bench_record.hpp defines and the C++ benchmarks write with
--jsonl FILE:

    {"bench": "tile", "name": "wall", "value": 5.31, "unit": "s", "run": "tile1", "size": 16384}

bench, name, value (a number, or null where none was measured) and unit, then the
configuration as flat fields. launch/bench.sh writes its own measurements (wall time and peak
memory from /usr/bin/time, evaluate's scores, the machine) through the commands below, and
launch/bench/compare.py reads every record back against launch/bench/goals.json.

    records.py add RESULTS BENCH NAME VALUE UNIT [KEY=VALUE...]
    records.py time RESULTS TIME_FILE BENCH RUN [KEY=VALUE...]
        /usr/bin/time -f "%M %e"'s file: "wall" (s) and "peak_rss" (MB) of run RUN
    records.py evaluate RESULTS EVALUATE.json BENCH [KEY=VALUE...]
        `satunet evaluate --json`'s test-set figures: mean_foreground_iou, pixel_accuracy,
        buildings (true positives + false negatives) and apls where scored
    records.py append RESULTS FROM.jsonl [KEY=VALUE...]
        FROM's records (checked), each with the fields given added
    records.py machine RESULTS
        the machine: "cores" and "memory" (GiB) with its architecture and the git commit
    records.py get FILE BENCH NAME [KEY=VALUE...] [--field FIELD]
        prints the value (or FIELD) of the last record of FILE that matches; exit 1 if none

KEY=VALUE fields are numbers where VALUE reads as one, text otherwise.
"""

import json
import math
import os
import platform
import subprocess
import sys

OWN_KEYS = ("bench", "name", "value", "unit")


class RecordError(Exception):
    pass


def parse_field(text):
    """KEY=VALUE -> (key, value), value a number where it reads as one."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise RecordError(f"expected KEY=VALUE, got '{text}'")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def make(bench, name, value, unit, fields=None):
    """One record, its own keys first."""
    if isinstance(value, float) and not math.isfinite(value):
        value = None  # as the C++ writer: JSON has no NaN
    record = {"bench": str(bench), "name": str(name), "value": value, "unit": str(unit)}
    for key, field in (fields or {}).items():
        if key in OWN_KEYS:
            raise RecordError(f"field '{key}' is one of the record's own keys")
        record[key] = field
    check(record, "a new record")
    return record


def check(record, where):
    """Raises RecordError unless `record` is a record of this format."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: not a JSON object")
    for key in OWN_KEYS:
        if key not in record:
            raise RecordError(f"{where}: no \"{key}\"")
    for key in ("bench", "name", "unit"):
        if not isinstance(record[key], str):
            raise RecordError(f"{where}: \"{key}\" is not text")
    if not record["bench"] or not record["name"]:
        raise RecordError(f"{where}: empty \"bench\" or \"name\"")
    value = record["value"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise RecordError(f"{where}: \"value\" is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"{where}: \"value\" is not finite (null where nothing was measured)")
    for key, field in record.items():
        if isinstance(field, (dict, list)):
            raise RecordError(f"{where}: field \"{key}\" is not flat")


def read(path):
    """The records of a JSON-lines file, each checked; RecordError names the line."""
    records = []
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise RecordError(f"{where}: not JSON ({error})") from None
                check(record, where)
                records.append(record)
    except OSError as error:
        raise RecordError(f"{path}: {error.strerror}") from None
    return records


def write(path, records):
    with open(path, "a", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":")) + "\n")


def fields_of(texts):
    return dict(parse_field(text) for text in texts)


def text_of(value):
    """A field's value as the text KEY=VALUE selectors compare with."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def matches(record, bench, name, where):
    return (record["bench"] == bench and record["name"] == name and
            all(key in record and text_of(record[key]) == text_of(value)
                for key, value in where.items()))


def time_records(path, bench, run, fields):
    """/usr/bin/time -f "%M %e": peak resident KiB and wall seconds."""
    try:
        with open(path, encoding="utf-8") as log:
            words = log.read().split()
        peak_kib, wall = float(words[-2]), float(words[-1])
    except (OSError, ValueError, IndexError):
        raise RecordError(f"{path}: not a /usr/bin/time -f \"%M %e\" file") from None
    fields = {"run": run, **fields}
    return [make(bench, "wall", wall, "s", fields),
            make(bench, "peak_rss", peak_kib / 1024, "MB", fields)]


def evaluate_records(path, bench, fields):
    """The test set's figures of `satunet evaluate --json` (its top level)."""
    try:
        with open(path, encoding="utf-8") as file:
            scores = json.load(file)
    except (OSError, json.JSONDecodeError) as error:
        raise RecordError(f"{path}: {error}") from None
    records = []
    for key in ("mean_foreground_iou", "pixel_accuracy"):
        if key in scores:
            records.append(make(bench, key, scores[key], "", fields))
    objects = scores.get("objects")
    if isinstance(objects, dict) and "true_positives" in objects:
        records.append(make(bench, "buildings",
                            objects["true_positives"] + objects["false_negatives"], "", fields))
    roads = scores.get("roads")
    if isinstance(roads, dict) and "apls" in roads:
        records.append(make(bench, "apls", roads["apls"], "", fields))
    if not records:
        raise RecordError(f"{path}: no scores")
    return records


def machine_records():
    memory_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    memory_gib = round(int(line.split()[1]) / 1048576, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True,
                               cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        if dirty:
            commit += "+changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    fields = {"arch": platform.machine(), "commit": commit}
    return [make("machine", "cores", os.cpu_count(), "cores", fields),
            make("machine", "memory", memory_gib, "GiB", fields)]


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[1], argv[2:]
    try:
        if command == "add" and len(rest) >= 5:
            value = float(rest[3]) if rest[3] not in ("", "null") else None
            write(rest[0], [make(rest[1], rest[2], value, rest[4], fields_of(rest[5:]))])
        elif command == "time" and len(rest) >= 4:
            write(rest[0], time_records(rest[1], rest[2], rest[3], fields_of(rest[4:])))
        elif command == "evaluate" and len(rest) >= 3:
            write(rest[0], evaluate_records(rest[1], rest[2], fields_of(rest[3:])))
        elif command == "append" and len(rest) >= 2:
            extra = fields_of(rest[2:])
            write(rest[0], [make(r["bench"], r["name"], r["value"], r["unit"],
                                 {**{k: v for k, v in r.items() if k not in OWN_KEYS}, **extra})
                            for r in read(rest[1])])
        elif command == "machine" and len(rest) == 1:
            write(rest[0], machine_records())
        elif command == "get" and len(rest) >= 3:
            field = "value"
            if "--field" in rest:
                at = rest.index("--field")
                if at + 1 >= len(rest):
                    raise RecordError("--field needs a FIELD")
                field = rest[at + 1]
                rest = rest[:at] + rest[at + 2:]
            found = [r for r in read(rest[0]) if matches(r, rest[1], rest[2], fields_of(rest[3:]))]
            if not found or field not in found[-1]:
                print(f"records.py: no record {rest[1]}/{rest[2]} {' '.join(rest[3:])} with "
                      f"\"{field}\" in {rest[0]}", file=sys.stderr)
                return 1
            print(text_of(found[-1][field]) if found[-1][field] is not None else "null")
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (RecordError, ValueError) as error:
        print(f"records.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
