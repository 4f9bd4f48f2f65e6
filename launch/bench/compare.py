#!/usr/bin/env python3
"""Compares benchmark records with the goals stated for them (Python 3 standard library only).

    compare.py [--goals launch/bench/goals.json] RESULTS.jsonl...

Reads the records (JSON lines: launch/bench/records.py, src/common/bench_record.hpp) of one or
more results files and the goals file, and prints, part by part, each figure and ratio the
goals file lists with its goal and whether it was met. Exit status: 0 when every goal whose
records are present is met; 1 when one is missed (or its records give no value); 2 when a
results file or the goals file cannot be read. A goal whose records are absent (its part was
not run) is listed as not measured and fails nothing.

The goals file (launch/bench/goals.json) lists parts, each with
  "records": {ALIAS: SELECTOR}   SELECTOR is "bench/name", optionally "[key=value,...]" (the
                                 records whose fields have these values) and "@field" (that
                                 field of the record instead of its value); "{var}" stands for
                                 the value of an "each" group's variable
  "rows": [ROW]                  ROW is {"label", "value": EXPRESSION, "unit", "format"?,
                                 "goal"?: {"compare": ">=" | ">" | "<=" | "<" | "==",
                                 "bound": NUMBER, "sentence": TEXT}}, or a group
                                 {"each": VAR, "of": ALIAS, "rows": [ROW]} repeated for each
                                 value of field VAR among ALIAS's records
EXPRESSION is arithmetic (+ - * / and numbers) over aliases and "each" variables. An alias
stands for the value of its last record; min(A), max(A), median(A), mean(A) and count(A) take
all of A's records (a best of 2, a median of 3); least(X, Y, ...) and greatest(X, Y, ...)
compare values.
"""

import argparse
import ast
import json
import os
import re
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import records as records_module  # noqa: E402  (beside this file)

COMPARISONS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}
AGGREGATES = {
    "min": min,
    "max": max,
    "median": statistics.median,
    "mean": statistics.fmean,
    "count": len,
}
SELECTOR = re.compile(r"^([\w.-]+)/([\w.-]+)(?:\[([^\]]*)\])?(?:@([\w.-]+))?$")


class GoalsError(Exception):
    pass


class Missing(Exception):
    """An alias has no record: the row is not measured."""


class NoValue(Exception):
    """The records are there but give no number (a division by zero, a null value)."""


def parse_selector(text):
    match = SELECTOR.match(text)
    if not match:
        raise GoalsError(f"selector '{text}': expected bench/name[key=value,...]@field")
    bench, name, where_text, field = match.groups()
    where = {}
    for pair in filter(None, (where_text or "").split(",")):
        key, equals, value = pair.partition("=")
        if not equals:
            raise GoalsError(f"selector '{text}': '{pair}' is not key=value")
        where[key.strip()] = value.strip()
    return bench, name, where, field or "value"


def substitute(text, variables):
    for key, value in variables.items():
        text = text.replace("{" + key + "}", records_module.text_of(value))
    return text


class Part:
    def __init__(self, spec, records):
        self.name = spec["part"]
        self.title = spec.get("title", self.name)
        self.aliases = spec.get("records", {})
        self.rows = spec.get("rows", [])
        self.records = records
        for alias, selector in self.aliases.items():
            if not alias.isidentifier():
                raise GoalsError(f"{self.name}: alias '{alias}' is not a name")
            parse_selector(selector)
        self.benches = {parse_selector(s)[0] for s in self.aliases.values()}
        for row in goal_rows(self.rows):
            goal = row["goal"]
            if goal.get("compare") not in COMPARISONS or not isinstance(goal.get("bound"),
                                                                        (int, float)):
                raise GoalsError(f"{self.name}: '{row['label']}': a goal needs \"compare\" (one "
                                 f"of {' '.join(COMPARISONS)}) and a number \"bound\"")

    def present(self):
        return any(r["bench"] in self.benches for r in self.records)

    def values(self, alias, variables):
        """The values (or fields) of an alias's records, in the order they were written."""
        if alias not in self.aliases:
            raise GoalsError(f"{self.name}: no alias '{alias}' in its records")
        bench, name, where, field = parse_selector(substitute(self.aliases[alias], variables))
        found = [r for r in self.records if records_module.matches(r, bench, name, where)]
        if not found:
            raise Missing(alias)
        values = [r.get(field) for r in found]
        if any(v is None for v in values):
            raise NoValue(f"{alias}: a record without \"{field}\"")
        return values

    def evaluate(self, expression, variables):
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError:
            raise GoalsError(f"{self.name}: cannot read the expression '{expression}'") from None
        return self._node(tree.body, expression, variables)

    def _node(self, node, expression, variables):
        def sub(child):
            return self._node(child, expression, variables)

        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id in variables:
                value = variables[node.id]
                if isinstance(value, (int, float)):
                    return float(value)
                raise GoalsError(f"{self.name}: '{node.id}' is not a number in '{expression}'")
            return float(self.values(node.id, variables)[-1])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -sub(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            left, right = sub(node.left), sub(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if right == 0:
                raise NoValue(f"division by zero in '{expression}'")
            return left / right
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            function = node.func.id
            if function in AGGREGATES and len(node.args) == 1 and isinstance(node.args[0], ast.Name):
                return float(AGGREGATES[function](
                    [float(v) for v in self.values(node.args[0].id, variables)]))
            if function in ("least", "greatest") and node.args:
                values = [sub(arg) for arg in node.args]
                return min(values) if function == "least" else max(values)
        raise GoalsError(f"{self.name}: '{ast.unparse(node)}' is not allowed in '{expression}'")

    def each_values(self, group, variables):
        """The values of an "each" group's variable, numerically sorted where numbers."""
        alias = group["of"]
        bench, name, where, _ = parse_selector(substitute(self.aliases[alias], variables))
        where = {key: value for key, value in where.items() if "{" not in value}  # the variable's
        seen = []
        for record in self.records:
            if records_module.matches(record, bench, name, where) and group["each"] in record:
                if record[group["each"]] not in seen:
                    seen.append(record[group["each"]])
        if all(isinstance(v, (int, float)) for v in seen):
            seen.sort()
        return seen

    def lines(self, variables=None, rows=None):
        """(label, value, unit, format, goal, status) for each row, groups expanded."""
        variables = variables or {}
        for row in self.rows if rows is None else rows:
            if "each" in row:
                values = self.each_values(row, variables)
                for value in values:
                    yield from self.lines({**variables, row["each"]: value}, row["rows"])
                if not values:  # its goals, as they are written
                    for inner in goal_rows(row["rows"]):
                        yield (inner["label"], None, inner.get("unit", ""), ".2f", inner["goal"],
                               "not measured")
                continue
            label = substitute(row["label"], variables)
            goal = row.get("goal")
            try:
                value = self.evaluate(row["value"], variables)
                status = ""
                if goal:
                    status = "met" if COMPARISONS[goal["compare"]](value, goal["bound"]) else "MISSED"
            except Missing:
                value, status = None, "not measured" if goal else ""
            except NoValue:
                value, status = None, "MISSED (no value)" if goal else ""
            yield label, value, row.get("unit", ""), row.get("format", ".2f"), goal, status


def goal_rows(rows):
    """The rows with a goal, groups included ("{scene}" in their labels read "each scene")."""
    for row in rows:
        if "each" in row:
            yield from goal_rows(row["rows"])
        elif row.get("goal"):
            yield {**row, "label": re.sub(r"\{(\w+)\}", r"each \1", row["label"])}


def goal_text(goal):
    return f"{goal['compare']} {goal['bound']:g}" if goal else ""


def machine_line(records):
    machine = {r["name"]: r for r in records if r["bench"] == "machine"}
    if not machine:
        return None
    parts = []
    if "cores" in machine:
        parts.append(f"{machine['cores']['value']:g} cores")
    if "memory" in machine and machine["memory"]["value"] is not None:
        parts.append(f"{machine['memory']['value']:g} GiB")
    first = next(iter(machine.values()))
    for key in ("arch", "commit"):
        if key in first:
            parts.append(f"{key} {first[key]}")
    return "machine: " + ", ".join(parts)


def main(argv):
    parser = argparse.ArgumentParser(description="Compare benchmark records with their goals.")
    parser.add_argument("--goals", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "goals.json"))
    parser.add_argument("results", nargs="+", help="JSON-lines files of records")
    arguments = parser.parse_args(argv[1:])
    try:
        records = []
        for path in arguments.results:
            records.extend(records_module.read(path))
        try:
            with open(arguments.goals, encoding="utf-8") as file:
                goals = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            raise GoalsError(f"{arguments.goals}: {error}") from None
        parts = [Part(spec, records) for spec in goals["parts"]]
        machine = machine_line(records)
        if machine:
            print(machine)
        met, missed, not_measured = [], [], []
        for part in parts:
            if not part.present():
                not_measured += [(part.name, row["label"]) for row in goal_rows(part.rows)]
                continue
            print(f"\n== {part.name}: {part.title}")
            print(f"  {'':64} {'value':>10} {'unit':<9} {'goal':<10} {'status'}")
            for label, value, unit, form, goal, status in part.lines():
                shown = "-" if value is None else format(value, form)
                print(f"  {label:64.64} {shown:>10} {unit:<9} {goal_text(goal):<10} {status}".rstrip())
                if not goal:
                    continue
                if status == "met":
                    met.append((part.name, label))
                elif status == "not measured":
                    not_measured.append((part.name, label))
                else:
                    missed.append((part.name, label, shown, goal))
    except (records_module.RecordError, GoalsError, KeyError) as error:
        print(f"compare.py: {error}", file=sys.stderr)
        return 2
    print(f"\ngoals: {len(met)} met, {len(missed)} missed, {len(not_measured)} not measured")
    for name, label, shown, goal in missed:
        print(f"MISSED {name}: {label}: {shown}, goal {goal_text(goal)}. {goal.get('sentence', '')}")
    if not_measured:
        print("not measured (no records):")
        for name, label in not_measured:
            print(f"  {name}: {label}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
