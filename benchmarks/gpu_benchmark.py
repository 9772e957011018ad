"""item2vec on a GPU (``device="gpu"``) against gensim ``Word2Vec(sg=1)`` on every core.

    python benchmarks/gpu_benchmark.py --out DIR            # on a machine with a GPU
    python benchmarks/gpu_benchmark.py --out DIR --smoke    # a seconds-long run of the code

One prepared run, sized for under 8 minutes on one H200 and 16 cores (estimated 4-6 from
runs of the parts at smaller sizes on 2 cores; not yet measured on a GPU): the same dim,
window, negatives, sample, ns_exponent and epochs for both, gensim with
``workers=os.cpu_count()``, item2vec with its default 2 workers on the GPU.

(a) the bundled Online Retail customer histories with the split and hyperparameters of
    ``benchmarks/test_bench_training.py`` (``PARAMS``, imported from it; next-event split of
    2,000 held-out customers, seed 0): wall time of the whole fit, median of ``--rounds``
    alternating rounds, and HR@10 / NDCG@10 of cosine neighbours, as that benchmark scores
    them;
(b) a synthetic planted-cluster log (``item2vec.data.datasets.synthetic``): 1M items in clusters
    of 1,000, 5M sessions of 10 events on average (about 50M events), ``--synthetic-epochs``
    epochs (default 2): wall time of the fit and of its epochs, and same-cluster precision@10
    of the exact cosine neighbours of 2,000 seeded query items (random neighbours: 0.001);
(c) a probe of the step alone on each log's table: groups sampled once, then trained on
    the GPU with dense updates and with a row scatter (``GPU_DENSE_FLOATS`` in
    :mod:`item2vec.training.train` picks one by table size; this measures both), beside the
    sampler's own rate (one thread): whether the GPU waits for the sampler.

GPU utilisation is sampled every 500 ms with ``nvidia-smi --query-gpu=utilization.gpu`` in a
subprocess during each timed phase (when ``nvidia-smi`` exists). Everything goes to
``DIR/results.json``, and a table is printed. Without a visible GPU the script stops with a
message, except with ``--smoke`` (a small synthetic log, one round, and the CPU allowed),
which only exercises the code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # item2vec from this checkout; test_bench_*

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

#: Held-out customers of the Online Retail split (benchmarks/test_bench_training.py's).
RETAIL_TEST = 2000
#: Query items of the synthetic log's precision@10.
QUERIES = 2000


def retail_params() -> dict[str, Any]:
    """``PARAMS`` of benchmarks/test_bench_training.py (``ITEM2VEC_BENCH_PARAMS`` applies)."""
    import importlib.util

    if importlib.util.find_spec("gensim") is None:  # that module skips itself without it
        return dict(dim=64, window=3, negatives=5, ns_exponent=0.75, sample=1e-3, epochs=10)
    from test_bench_training import PARAMS

    return dict(PARAMS)


# ----------------------------------------------------------------------------- GPU use
class Utilisation:
    """``nvidia-smi`` sampling GPU utilisation every 500 ms while the block runs."""

    def __init__(self) -> None:
        self.command = shutil.which("nvidia-smi")
        self.samples: list[float] = []

    def __enter__(self) -> Utilisation:
        if self.command is None:
            return self
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
        index = visible if visible.isdigit() else "0"  # the GPU TensorFlow calls /GPU:0
        self.proc = subprocess.Popen(
            [self.command, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
             "-lms", "500", "-i", index],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.strip().split(",")[0]))
            except ValueError:
                pass

    def __exit__(self, *exc: Any) -> None:
        if self.command is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.reader.join(timeout=5)

    def summary(self) -> dict[str, Any] | None:
        if self.command is None:
            return None
        s = self.samples
        if not s:
            return {"samples": 0}
        return {"samples": len(s), "mean": round(statistics.fmean(s), 1),
                "median": statistics.median(s), "max": max(s)}  # fmt: skip


def timed(fn: Any) -> tuple[Any, float, dict[str, Any] | None]:
    """``fn()``, its wall time and the GPU's utilisation meanwhile."""
    with Utilisation() as use:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
    return out, seconds, use.summary()


# ----------------------------------------------------------------------------- training
def fit_item2vec(sessions: Any, params: dict, device: str, workers: int, seed: int = 0):
    from item2vec import Item2Vec

    model = Item2Vec(**params, workers=workers, device=device, progress=False, seed=seed)
    return model.fit(sessions)


def fit_gensim(sessions: Any, params: dict, seed: int = 0):
    from item2vec.evaluation.recommenders import gensim_recommender

    return gensim_recommender(sessions, **params, workers=os.cpu_count() or 1, seed=seed)


def item2vec_figures(model: Any, seconds: float) -> dict[str, Any]:
    couples = sum(h["couples"] for h in model.history_)
    train = sum(h["seconds"] for h in model.history_)
    return {"seconds": round(seconds, 2), "epoch_seconds": round(train, 2),
            "device": model.device_, "couples": couples,
            "couples_per_s": round(couples / max(train, 1e-9))}  # fmt: skip


def retail(params: dict, device: str, workers: int, rounds: int) -> dict[str, Any]:
    """(a): the Online Retail split of benchmarks/test_bench_training.py."""
    from item2vec import datasets
    from item2vec.evaluation.protocols import evaluate, next_event_split, vector_recommender

    split = next_event_split(datasets.online_retail("customers").sessions, n_test=RETAIL_TEST,
                             seed=0)  # fmt: skip
    known = split.train.vocabulary.counts > 0
    ours, theirs = [], []
    for r in range(rounds):
        if have_gensim():
            (rec, _), sec, use = timed(lambda r=r: fit_gensim(split.train, params, r))
            m = evaluate(rec, split, ks=(10,))
            theirs.append({"seconds": round(sec, 2), "HR@10": m["HR@10"],
                           "NDCG@10": m["NDCG@10"], "gpu_utilisation": use})  # fmt: skip
        model, sec, use = timed(lambda r=r: fit_item2vec(split.train, params, device, workers, r))
        m = evaluate(vector_recommender(model.item_vectors_, known=known), split, ks=(10,))
        ours.append({**item2vec_figures(model, sec), "HR@10": m["HR@10"],
                     "NDCG@10": m["NDCG@10"], "gpu_utilisation": use})  # fmt: skip
    return {"events": split.train.n_events, "items": len(split.train.vocabulary),
            "params": params, "item2vec": summarise(ours), "gensim": summarise(theirs)}  # fmt: skip


def synthetic_log(n_items: int, n_events: int, seed: int = 0) -> Any:
    from item2vec import datasets

    clusters = max(1, min(n_items // 1000, n_items // 2))
    return datasets.synthetic(
        n_items=n_items, n_clusters=clusters, n_sessions=max(1, n_events // 10), mean_length=10,
        seed=seed,
    )  # fmt: skip


def precision_at_10(
    data: Any, vectors: np.ndarray, known: np.ndarray, queries: np.ndarray
) -> float:
    """Same-cluster precision@10 of the exact cosine neighbours of ``queries``."""
    from item2vec.evaluation.protocols import vector_recommender

    rec = vector_recommender(vectors, known=known)
    return data.same_cluster_precision(np.asarray(rec(queries, 10)), queries)


def synthetic(params: dict, data: Any, device: str, workers: int) -> dict[str, Any]:
    """(b): the planted-cluster log."""
    sessions = data.sessions
    n = len(sessions.vocabulary)
    queries = np.random.default_rng(0).choice(n, size=min(QUERIES, n), replace=False)
    out: dict[str, Any] = {"events": sessions.n_events, "items": n, "params": params}
    model, sec, use = timed(lambda: fit_item2vec(sessions, params, device, workers))
    known = np.ones(n, bool)
    out["item2vec"] = {**item2vec_figures(model, sec), "gpu_utilisation": use,
                       "precision@10": precision_at_10(data, model.item_vectors_, known,
                                                       queries)}  # fmt: skip
    del model
    if have_gensim():
        (_, w2v), sec, use = timed(lambda: fit_gensim(sessions, params))
        rows = np.asarray([int(w) for w in w2v.wv.index_to_key], np.int64)
        vectors = np.zeros((n, w2v.wv.vector_size), np.float32)
        vectors[rows] = w2v.wv.vectors
        known = np.zeros(n, bool)
        known[rows] = True
        precision = precision_at_10(data, vectors, known, queries)
        out["gensim"] = {"seconds": round(sec, 2), "gpu_utilisation": use,
                         "precision@10": precision}  # fmt: skip
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Median wall time, mean quality, and every round."""
    if not runs:
        return None
    out: dict[str, Any] = {"seconds": statistics.median(r["seconds"] for r in runs)}
    for key in ("HR@10", "NDCG@10"):
        out[key] = round(statistics.fmean(r[key] for r in runs), 4)
    return {**out, "rounds": runs}


def have_gensim() -> bool:
    import importlib.util

    return importlib.util.find_spec("gensim") is not None


# ----------------------------------------------------------------------------- step probe
def step_probe(sessions: Any, params: dict, device: str, batches: int) -> dict[str, Any]:
    """(c): ``batches`` batches of the first epoch sampled once (timed: the sampler's rate
    on one thread), then trained by the compiled step on ``device`` with dense updates and
    with a row scatter (each timed over the same groups, after a warm-up call)."""
    import tensorflow as tf

    from item2vec.config import Config
    from item2vec.training.model import Item2VecModel
    from item2vec.training.step import bind_step
    from item2vec.training.train import Trainer, device_name, device_scope

    config = Config(**params, device=device)
    with device_scope(device):
        model = Item2VecModel(len(sessions.vocabulary), config.dim, seed=0)
    trainer = Trainer(model, sessions, config, progress=False)
    t0 = time.perf_counter()
    groups, units = [], 0
    for group in trainer.groups(0):  # units or spans, as the trainer feeds them
        groups.append(group)
        units += int((group[1] >= 0).sum())  # the targets (padding is -1)
        if sum(len(g[1]) for g in groups) >= batches:
            break
    sampler = time.perf_counter() - t0
    dtype = tf.int64 if trainer.device == "gpu" else tf.int32
    with tf.device(device_name(trainer.device)):
        fed = [tuple(tf.constant(a, dtype) for a in g) for g in groups]
    out: dict[str, Any] = {"batches": sum(len(g[1]) for g in groups), "units": units,
                           "sampler_units_per_s": round(units / sampler)}  # fmt: skip
    lrs = [tf.constant([0.001] * int(g[1].shape[0]), tf.float32) for g in fed]
    place = device_name(trainer.device)
    for dense in (True, False):
        step = bind_step(trainer.variables(), [], mode=model.mode, negatives=config.negatives,
                         dense=dense, device=place, indices=dtype, block=trainer.block,
                         spans=trainer.spans)  # fmt: skip
        float(step(*fed[0], lrs[0])[0])  # warm-up: tracing, kernels

        def run(step: Any = step) -> int:
            results = [step(*g, lr) for g, lr in zip(fed, lrs, strict=True)]
            return sum(int(r[2]) for r in results)  # reading them waits for the steps

        couples, sec, use = timed(run)
        out["dense" if dense else "scatter"] = {
            "seconds": round(sec, 3), "units_per_s": round(units / sec),
            "couples_per_s": round(couples / sec), "gpu_utilisation": use,
        }  # fmt: skip
    return out


# ----------------------------------------------------------------------------- report
def table(results: dict[str, Any]) -> str:
    lines = [f"{'log':<22} {'method':<22} {'wall s':>8} {'epochs s':>9} {'quality':>22} "
             f"{'GPU util % (mean/max)':>22}"]  # fmt: skip

    def util(u: dict | None) -> str:
        if not u or not u.get("samples"):
            return "n/a"
        return f"{u['mean']:.0f} / {u['max']:.0f}"

    r = results.get("retail")
    if r:
        for name in ("item2vec", "gensim"):
            m = r.get(name)
            if not m:
                continue
            last = m["rounds"][-1]
            label = f"{name} ({last.get('device', 'cpu x' + str(os.cpu_count()))})"
            ep = f"{statistics.median(x['epoch_seconds'] for x in m['rounds']):.2f}" \
                if name == "item2vec" else ""  # fmt: skip
            q = f"HR@10 {m['HR@10']:.4f}"
            lines.append(f"{'online retail':<22} {label:<22} {m['seconds']:>8.2f} {ep:>9} "
                         f"{q:>22} {util(last['gpu_utilisation']):>22}")  # fmt: skip
    s = results.get("synthetic")
    if s:
        what = f"synthetic {s['events'] / 1e6:.1f}M ev"
        for name in ("item2vec", "gensim"):
            m = s.get(name)
            if not m:
                continue
            label = f"{name} ({m.get('device', 'cpu x' + str(os.cpu_count()))})"
            ep = f"{m['epoch_seconds']:.2f}" if "epoch_seconds" in m else ""
            q = f"precision@10 {m['precision@10']:.4f}"
            lines.append(f"{what:<22} {label:<22} {m['seconds']:>8.2f} {ep:>9} {q:>22} "
                         f"{util(m['gpu_utilisation']):>22}")  # fmt: skip
    for log, p in results.get("step_probe", {}).items():
        lines.append(f"step probe, {log}: sampler {p['sampler_units_per_s'] / 1e6:.2f} M units/s "
                     f"(one thread); step dense {p['dense']['units_per_s'] / 1e6:.2f} M units/s, "
                     f"scatter {p['scatter']['units_per_s'] / 1e6:.2f} M units/s")  # fmt: skip
    return "\n".join(lines)


def environment(device: str) -> dict[str, Any]:
    import tensorflow as tf

    import item2vec
    from item2vec.training.train import GPU_DENSE_FLOATS

    env: dict[str, Any] = {
        "python": platform.python_version(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
        "item2vec": item2vec.__version__, "device": device,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "GPU_DENSE_FLOATS": GPU_DENSE_FLOATS,
    }  # fmt: skip
    if have_gensim():
        import gensim

        env["gensim"] = gensim.__version__
    smi = shutil.which("nvidia-smi")
    if smi:
        q = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total",
                            "--format=csv,noheader"], capture_output=True, text=True)  # fmt: skip
        env["nvidia_smi"] = q.stdout.strip().splitlines()
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.add_argument("--out", required=True, help="folder for results.json (created)")
    p.add_argument("--smoke", action="store_true",
                   help="a small synthetic log and one round; the CPU is allowed")  # fmt: skip
    p.add_argument("--items", type=int, default=1_000_000, help="items of the synthetic log")
    p.add_argument("--events", type=int, default=50_000_000, help="events of the synthetic log")
    p.add_argument("--synthetic-epochs", type=int, default=2, help="epochs on the synthetic log")
    p.add_argument("--rounds", type=int, default=3, help="rounds on Online Retail")
    p.add_argument("--workers", type=int, default=2, help="item2vec's training threads")
    p.add_argument("--probe-batches", type=int, default=400, help="batches of the step probe")
    p.add_argument("--skip", nargs="*", default=[], choices=["retail", "synthetic", "probe"],
                   help="parts to leave out")  # fmt: skip
    args = p.parse_args(argv)
    import warnings

    # the epochs are chosen (the smoke run is short on purpose): no "likely too short" note
    warnings.filterwarnings("ignore", message=r"epochs=.*likely too short")

    import tensorflow as tf

    from item2vec.training.train import configure_threads

    configure_threads()  # as the CLI: one thread per op, the workers are the parallelism
    if tf.config.list_physical_devices("GPU"):
        device = "gpu"
    elif args.smoke:
        device = "cpu"
    else:
        print("gpu_benchmark: TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') "
              "is empty: a CPU-only TensorFlow, or no CUDA driver); run it on a machine with "
              "a GPU and a CUDA build of TensorFlow (pip install 'tensorflow[and-cuda]'), or "
              "add --smoke to exercise the code on the CPU", file=sys.stderr)  # fmt: skip
        return 2
    if args.smoke:
        args.items, args.events = min(args.items, 5_000), min(args.events, 200_000)
        args.synthetic_epochs, args.rounds = min(args.synthetic_epochs, 2), 1
        args.probe_batches = min(args.probe_batches, 40)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"environment": environment(device), "smoke": args.smoke,
                               "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}  # fmt: skip
    t_all = time.perf_counter()

    def save() -> None:
        results["total_seconds"] = round(time.perf_counter() - t_all, 1)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))

    from item2vec import datasets

    # warm-up: TensorFlow's start on the device and the first tracing, paid once
    warm = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=500, seed=0).sessions
    _, results["warmup_seconds"], _ = timed(
        lambda: fit_item2vec(warm, dict(dim=8, epochs=1), device, args.workers)
    )
    params = retail_params()
    if args.smoke:
        params["epochs"] = 1
    if "retail" not in args.skip:
        print(f"(a) Online Retail, {args.rounds} round(s) ...", flush=True)
        results["retail"] = retail(params, device, args.workers, args.rounds)
        save()
        print(f"    done, {results['total_seconds']:.0f} s so far", flush=True)
    big = {**params, "epochs": args.synthetic_epochs}
    data = None
    if "synthetic" not in args.skip or "probe" not in args.skip:
        print(f"(b) synthetic log: {args.items:,} items, ~{args.events:,} events ...", flush=True)
        data, results["synthetic_generation_seconds"], _ = timed(
            lambda: synthetic_log(args.items, args.events)
        )
    if "synthetic" not in args.skip:
        results["synthetic"] = synthetic(big, data, device, args.workers)
        save()
        print(f"    done, {results['total_seconds']:.0f} s so far", flush=True)
    if "probe" not in args.skip:
        print("(c) step probe ...", flush=True)
        probe = {"synthetic": step_probe(data.sessions, big, device, args.probe_batches)}
        if "retail" not in args.skip:
            sessions = datasets.online_retail("customers").sessions
            probe["online retail"] = step_probe(sessions, params, device, args.probe_batches)
        results["step_probe"] = probe
    save()
    print()
    print(table(results))
    print(f"\nwrote {out / 'results.json'} ({results['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
