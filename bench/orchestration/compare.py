"""Benchmark driver: one orchestration benchmark on two checkouts, interleaved, compared.

Usage: .venv/bin/python bench/orchestration/compare.py --base /path/to/other/worktree
       [--rounds 2] [--within 5] -- backfill.py --sources 20

Runs `bench/orchestration/<script> <args>` in the base checkout (with its own .venv) and in this one,
alternating (base, this, this, base, ...) so that the machine's load falls on both alike, and prints
each run's figures (the lines the benchmark prints with a mean or a value in seconds or per minute),
then the mean of each figure per checkout and this checkout's change against the base, flagged when
worse by more than --within percent. The load average is printed before every run.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
# "  total (GraphQL launch -> last run end)    79.2 s", "  runs per minute   15.2",
# "  overhead   mean   0.64 s   median ...": the figure's name and its (mean) value.
FIGURE = re.compile(
    r"^\s+(?P<name>[a-z_][\w ()>+\-.,/]*?)\s+(?:mean\s+)?(?P<value>-?\d+(?:\.\d+)?)"
)
HIGHER_IS_BETTER = ("per minute",)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _run(checkout: Path, script: list[str]) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 (a benchmark of this repository, our own arguments)
        [str(checkout / ".venv" / "bin" / "python"), script[0], *script[1:]],
        cwd=checkout / "bench" / "orchestration",
        capture_output=True,
        text=True,
    )
    print(done.stdout, flush=True)
    if done.returncode != 0:
        sys.exit(f"{checkout}: {script[0]} failed:\n{done.stderr[-3000:]}")
    figures = {}
    for line in done.stdout.splitlines():
        match = FIGURE.match(line)
        if match:
            figures[match["name"].strip()] = float(match["value"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=2, help="runs per checkout")
    parser.add_argument("--within", type=float, default=5.0, help="tolerated change, percent")
    parser.add_argument("script", nargs="+", help="the benchmark and its arguments")
    args = parser.parse_args()
    checkouts = {"base": args.base.resolve(), "this": HERE}
    order = [("base", "this"), ("this", "base")]
    results: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
    for index in range(args.rounds):
        for name in order[index % 2]:
            print(
                f"=== round {index + 1}: {name} ({checkouts[name]}), load {_loadavg()}", flush=True
            )
            results[name].append(_run(checkouts[name], args.script))
    print(f"=== load average at end: {_loadavg()}")
    names = [
        n for n in results["base"][0] if all(n in r for r in results["base"] + results["this"])
    ]
    print(f"\n{'figure':<42} {'base':>10} {'this':>10} {'change':>8}")
    for name in names:
        base = statistics.mean(r[name] for r in results["base"])
        this = statistics.mean(r[name] for r in results["this"])
        change = (this - base) / base * 100 if base else 0.0
        worse = -change if any(h in name for h in HIGHER_IS_BETTER) else change
        flag = "  WORSE" if worse > args.within else ""
        print(f"{name:<42} {base:>10.2f} {this:>10.2f} {change:>+7.1f}%{flag}")


if __name__ == "__main__":
    main()
