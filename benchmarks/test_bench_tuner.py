"""The tuner against the defaults across logs and seeds (issue 18: "tuned never significantly
below defaults").

    pytest benchmarks/test_bench_tuner.py --benchmark-only -s

Per log (those of ``test_bench_next_item.py``: Online Retail customers and baskets, the
300 / 1,000-customer and 2,000-basket subsamples, the planted-graph walks) and seed:
``tune(log, budget_seconds=BUDGET, seed=seed, test_defaults=True)`` with its default space,
guard and ranking, on the previous-item protocol. Recorded per run: whether the guard kept
the defaults, its confirmation comparison (tuned and defaults, the paired lower bound), the
winner's selection score, and the test HR@10 / NDCG@10 of the choice and of the defaults
(the same refit when the defaults were chosen). Summary per log: the paired difference
choice minus defaults on the test split, mean over seeds with its 95% t interval.

Runs are seed-major (every log at seed 0, then every log at seed 1, ...), so a run cut short
covers each log evenly, and each finished run is appended at once to
``ITEM2VEC_BENCH_OUT`` [``.benchmarks/tuner``]``/runs.jsonl``: a later run skips the
(log, seed, budget) pairs already there, so the benchmark can be stopped and resumed.
``summary.md`` beside it is rewritten after every run.

Knobs: ``ITEM2VEC_BENCH_SEEDS`` [10] seeds from ``ITEM2VEC_BENCH_SEED_FROM`` [0] (two
processes can share one output file on disjoint seeds; the summary counts a (log, seed,
budget) once), ``ITEM2VEC_BENCH_LOGS`` [all six, comma-separated],
``ITEM2VEC_BENCH_TUNE_BUDGET`` [180] seconds per run. The budget is wall-clock: on a busy
machine the search runs fewer trials (``trials`` is recorded), which changes what it finds
but not what the guard tests. About ``BUDGET + 30`` s per run: 3.5 h for 6 logs x 10 seeds.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np
from test_bench_next_item import LOGS, make_log

from item2vec.evaluation.metrics import t_interval
from item2vec.tuning.search import tune

SEED_FROM = int(os.environ.get("ITEM2VEC_BENCH_SEED_FROM", 0))
SEEDS = tuple(range(SEED_FROM, SEED_FROM + int(os.environ.get("ITEM2VEC_BENCH_SEEDS", 10))))
BUDGET = float(os.environ.get("ITEM2VEC_BENCH_TUNE_BUDGET", 180))
OUT = Path(os.environ.get("ITEM2VEC_BENCH_OUT", ".benchmarks/tuner"))  # git-ignored
METRICS = ("HR@10", "NDCG@10")


def _done(path: Path) -> list[dict]:
    """The runs recorded in ``path``, each (log, seed, budget) once (the first)."""
    if not path.exists():
        return []
    runs: dict[tuple, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            runs.setdefault((row["log"], row["seed"], row["budget"]), row)
    return list(runs.values())


def run_one(name: str, seed: int, cache: dict) -> dict:
    result = tune(make_log(name, seed, cache), budget_seconds=BUDGET, seed=seed,
                  test_defaults=True, progress=False)  # fmt: skip
    g = result.guard
    return {
        "log": name, "seed": seed, "budget": BUDGET,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load": os.getloadavg()[0], "elapsed": result.elapsed, "trials": len(result.trials),
        "chose_defaults": result.chose_defaults, "best_params": result.best_params,
        "selection": result.best_validation, "confirm_tuned": g.get("tuned"),
        "confirm_defaults": g.get("defaults"), "lower": g.get("lower"),
        "n_confirm": g.get("n_cases"),
        "test": {m: result.test_metrics[m] for m in METRICS},
        "test_defaults": {m: result.defaults_test_metrics[m] for m in METRICS},
    }  # fmt: skip


def summarise(runs: list[dict]) -> list[str]:
    lines = [
        f"tune(budget_seconds={BUDGET:g}, test_defaults=True), previous item; "
        f"{platform.machine()}, {os.cpu_count()} cores",
        "",
        "| log | runs | defaults kept | trials (median) | test HR@10 choice vs defaults "
        "| choice minus defaults, HR@10 (95% t) | worst seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in LOGS:
        mine = [r for r in runs if r["log"] == name and r["budget"] == BUDGET]
        if not mine:
            continue
        choice = np.array([r["test"]["HR@10"] for r in mine])
        base = np.array([r["test_defaults"]["HR@10"] for r in mine])
        d = choice - base
        lo, hi = t_interval(d) if len(d) > 1 else (d[0], d[0])
        kept = sum(r["chose_defaults"] for r in mine)
        lines.append(
            f"| {name} | {len(mine)} | {kept} of {len(mine)} "
            f"| {np.median([r['trials'] for r in mine]):.0f} "
            f"| {choice.mean():.4f} vs {base.mean():.4f} "
            f"| {d.mean():+.4f} ({lo:+.4f} .. {hi:+.4f}) | {d.min():+.4f} |"
        )
    return lines


def test_tuner_never_hurts(benchmark):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "runs.jsonl"

    def run_all() -> list[dict]:
        cache: dict = {}
        runs = _done(path)
        have = {(r["log"], r["seed"], r["budget"]) for r in runs}
        for seed in SEEDS:
            for name in LOGS:
                if (name, seed, BUDGET) in have:
                    continue
                row = run_one(name, seed, cache)
                with path.open("a") as f:
                    f.write(json.dumps(row, default=float) + "\n")
                runs.append(row)
                (OUT / "summary.md").write_text("\n".join(summarise(runs)) + "\n")
                print(f"{name} seed {seed}: defaults kept {row['chose_defaults']}, test "
                      f"{row['test']['HR@10']:.4f} vs {row['test_defaults']['HR@10']:.4f}, "
                      f"{row['trials']} trials, {row['elapsed']:.0f} s", flush=True)  # fmt: skip
        return runs

    runs = benchmark.pedantic(run_all, rounds=1, iterations=1)
    text = "\n".join(summarise(runs))
    (OUT / "summary.md").write_text(text + "\n")
    print("\n" + text)
    mine = [r for r in runs if r["budget"] == BUDGET]
    assert mine, "no tuner run"
    if len(mine) > 1:  # tuned never significantly below the defaults, over every run
        d = np.array([r["test"]["HR@10"] - r["test_defaults"]["HR@10"] for r in mine])
        assert t_interval(d)[1] >= 0.0, f"tuned below the defaults: {d.mean():+.4f}"
