"""Choosing where training runs: ``Item2Vec(device="auto" | "cpu" | "gpu")`` and
``--device``. Checks of the values and of a GPU that is not there, placement on the CPU,
CPU runs unchanged whichever setting chose them, the setting saved, resumed and updated;
and, where TensorFlow sees a GPU, a fit on it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from item2vec import Item2Vec, datasets
from item2vec.checks import DEVICES
from item2vec.cli.main import main
from item2vec.config import Config
from item2vec.exceptions import ParameterError
from item2vec.flags import cli_message
from item2vec.training.train import device_name, resolve_device

GPU = bool(tf.config.list_physical_devices("GPU"))
FAST = dict(dim=8, window=2, epochs=2, batch_size=128, workers=1, progress=False, seed=3)
NO_GPU = "device='gpu' but TensorFlow sees no GPU (tf.config.list_physical_devices('GPU') is empty"


@pytest.fixture(scope="module")
def planted():
    return datasets.synthetic(n_items=80, n_clusters=8, n_sessions=600, mean_length=6, seed=4)


@pytest.fixture(scope="module")
def on_cpu(planted):
    return Item2Vec(**FAST, device="cpu").fit(planted.sessions)


def _neighbour_rows(model: Item2Vec) -> np.ndarray:
    ids, _ = model.similar(list(model.vocabulary_.ids), 10)
    return model.vocabulary_.encode(ids.ravel()).reshape(ids.shape)


def _device_type(variable: tf.Variable) -> str:
    return tf.DeviceSpec.from_string(variable.device).device_type


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("bad", ["tpu", "GPU", 3, None])
def test_bad_values_are_named_with_the_choices(planted, bad):
    want = f"device must be one of 'auto', 'cpu', 'gpu', got {bad!r}"
    with pytest.raises(ParameterError, match=want):
        Config(device=bad).validate()
    with pytest.raises(ParameterError, match=want):
        Item2Vec(**{**FAST, "device": bad}).fit(planted.sessions)
    with pytest.raises(ParameterError, match=want):
        resolve_device(bad)


def test_the_cli_speaks_of_the_flag():
    assert cli_message("device must be one of 'auto', 'cpu', 'gpu', got 'tpu'") == (
        "--device must be one of 'auto', 'cpu', 'gpu', got 'tpu'"
    )
    assert cli_message(f"{NO_GPU}); use device='cpu' or 'auto'").startswith("--device 'gpu' but")
    assert cli_message("x; use device='cpu' or 'auto'") == "x; use --device 'cpu' or 'auto'"


def test_resolution_rules(monkeypatch):
    from item2vec.training import train

    assert resolve_device("cpu") == "cpu"
    assert device_name("cpu") == "/CPU:0" and device_name("gpu") == "/GPU:0"
    monkeypatch.setattr(train, "visible_gpus", lambda: ["a GPU"])
    assert resolve_device("auto") == "gpu" and resolve_device("gpu") == "gpu"
    assert resolve_device("cpu") == "cpu"  # "cpu" is the CPU even beside a GPU
    monkeypatch.setattr(train, "visible_gpus", lambda: [])
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(train.tf.test, "is_built_with_cuda", lambda: True)
    with pytest.raises(ParameterError, match="built with CUDA but found no GPU"):
        resolve_device("gpu")
    monkeypatch.setattr(train.tf.test, "is_built_with_cuda", lambda: False)
    with pytest.raises(ParameterError, match="built without CUDA"):
        resolve_device("gpu")


def test_resolving_leaves_the_threads_to_be_set():
    """``resolve_device`` only lists devices: TensorFlow's threads can be set afterwards (a
    fresh process, as a user's: this one configured them at start)."""
    import subprocess
    import sys

    code = ("from item2vec.training.train import configure_threads, resolve_device\n"
            "resolve_device('auto')\n"
            "assert configure_threads(), 'too late to set the threads'\n")  # fmt: skip
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, **env})  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]


# ----------------------------------------------------------------------------- no GPU here
@pytest.mark.skipif(GPU, reason="TensorFlow sees a GPU")
def test_gpu_without_a_gpu_fails_before_any_work(planted, monkeypatch):
    import item2vec.training.model
    import item2vec.training.train

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the device was checked")

    monkeypatch.setattr(item2vec.training.model, "Item2VecModel", no_work)
    monkeypatch.setattr(item2vec.training.train, "Trainer", no_work)
    model = Item2Vec(**FAST, device="gpu")
    with pytest.raises(ParameterError) as e:
        model.fit(planted.sessions)
    assert str(e.value).startswith(NO_GPU) and "use device='cpu' or 'auto'" in str(e.value)
    assert not hasattr(model, "item_vectors_")


@pytest.mark.skipif(GPU, reason="TensorFlow sees a GPU")
def test_gpu_without_a_gpu_fails_an_update_and_leaves_the_model(planted, on_cpu, tmp_path):
    on_cpu.save(tmp_path / "m")
    model = Item2Vec.load(tmp_path / "m")
    before = model.item_vectors_.copy()
    model.set_params(device="gpu")
    with pytest.raises(ParameterError, match="TensorFlow sees no GPU"):
        model.update(planted.sessions, epochs=1)
    np.testing.assert_array_equal(model.item_vectors_, before)
    assert model.history_ == on_cpu.history_


@pytest.mark.skipif(GPU, reason="TensorFlow sees a GPU")
def test_auto_is_the_cpu_here(on_cpu, planted):
    assert resolve_device("auto") == "cpu"
    model = Item2Vec(**FAST).fit(planted.sessions)
    assert model.device == "auto" and model.device_ == "cpu"
    assert [h["device"] for h in model.history_] == ["cpu", "cpu"]


# ----------------------------------------------------------------------------- the CPU
def test_tables_and_accumulators_live_on_the_cpu(planted, on_cpu):
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer, device_scope

    assert on_cpu.device_ == "cpu" and _device_type(on_cpu.model_.E) == "CPU"
    assert _device_type(on_cpu.model_.b) == "CPU"
    config = Config(**{k: FAST[k] for k in ("dim", "epochs", "batch_size")}, optimizer="adagrad",
                    separate_output=True, device="cpu")  # fmt: skip
    with device_scope("cpu"):
        model = Item2VecModel(len(planted.sessions.vocabulary), 8, separate_output=True)
    trainer = Trainer(model, planted.sessions, config, progress=False)
    assert trainer.device == "cpu"
    assert {_device_type(v) for v in trainer.variables() + trainer._accumulators} == {"CPU"}


def test_cpu_and_auto_give_the_same_vectors(planted, on_cpu):
    # on a machine without a GPU "auto" is the CPU, and the CPU path is one path: the same
    # arithmetic, whichever setting chose it
    if GPU:
        pytest.skip("TensorFlow sees a GPU: 'auto' trains there")
    auto = Item2Vec(**FAST).fit(planted.sessions)
    np.testing.assert_array_equal(auto.item_vectors_, on_cpu.item_vectors_)
    np.testing.assert_array_equal(auto.item_biases_, on_cpu.item_biases_)
    assert [h["loss"] for h in auto.history_] == [h["loss"] for h in on_cpu.history_]


@pytest.mark.parametrize(
    "optimizer, dense, cbow, rates",
    [("sgd", True, False, False), ("sgd", False, True, False), ("adagrad", False, False, True),
     ("sgd", True, False, True)],
)  # fmt: skip
def test_the_gpu_steps_int64_rows_train_as_int32_rows(optimizer, dense, cbow, rates):
    """The GPU path feeds int64 rows to a step placed on a device; on the CPU that step
    trains exactly as the CPU path's int32 one (only the dtype and the placement differ)."""
    from item2vec.training.model import Item2VecModel
    from item2vec.training.step import bind_step
    from item2vec.training.updates import new_accumulators

    rng = np.random.default_rng(1)
    ctx = rng.integers(-1, 30, (3, 16, 4))
    tgt = rng.integers(0, 30, (3, 16))
    neg = rng.integers(0, 30, (3, 16, 2))
    per_row = rng.random((30, 1)).astype(np.float32) * (rng.random((30, 1)) > 0.3)
    lr = tf.constant([0.1, 0.05, 0.02], tf.float32)
    runs = []
    for dtype, device in ((tf.int32, ""), (tf.int64, "/CPU:0")):
        model = Item2VecModel(30, 4, seed=3, mode="cbow" if cbow else "skipgram")
        tables = [model.E, model.b]
        accs = new_accumulators(tables) if optimizer == "adagrad" else []
        row_rates = tf.Variable(per_row, trainable=False) if rates else None
        step = bind_step(tables, accs, mode=model.mode, negatives=2, dense=dense,
                         rates=row_rates, device=device, indices=dtype)  # fmt: skip
        out = step(*(tf.constant(a, dtype) for a in (ctx, tgt, neg)), lr)
        runs.append([float(out[0]), model.E.numpy(), model.b.numpy()])
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


@pytest.mark.filterwarnings("ignore:the model's table")
@pytest.mark.parametrize("dense_floats", [1 << 22, 0])
def test_the_gpu_code_path_runs_with_the_cpu_standing_in(planted, monkeypatch, dense_floats):
    """The trainer's GPU path (int64 groups made on the sampler's thread, the GPU's update
    rule, the recorded device) end to end, with "/CPU:0" as the device it places things on."""
    from item2vec.training import train

    monkeypatch.setattr(train, "resolve_device", lambda device: "gpu")
    monkeypatch.setattr(train, "device_name", lambda device: "/CPU:0")
    monkeypatch.setattr(train, "GPU_DENSE_FLOATS", dense_floats)  # dense, then row scatter
    params = {**FAST, "epochs": 6, "dim": 16, "workers": 2}
    model = Item2Vec(**params, device="gpu").fit(planted.sessions)
    assert model.device_ == "gpu" and {h["device"] for h in model.history_} == {"gpu"}
    assert planted.same_cluster_precision(_neighbour_rows(model)) >= 0.8


def test_the_step_cache_tells_devices_apart(on_cpu):
    from item2vec.training.step import compiled_step

    tables = (on_cpu.model_.E, on_cpu.model_.b)
    args = dict(mode="skipgram", negatives=5, dense=True)
    placed = compiled_step(tables, (), **args, device="/CPU:0")
    assert compiled_step(tables, (), **args, device="/CPU:0") is placed
    assert compiled_step(tables, (), **args) is not placed


# ----------------------------------------------------------------------------- carried
def test_params_carry_the_device():
    from sklearn.base import clone

    model = Item2Vec(device="cpu")
    assert model.get_params()["device"] == "cpu" and clone(model).device == "cpu"
    assert model.set_params(device="gpu").device == "gpu"
    assert Item2Vec().device == "auto" and Config().device == "auto"


def test_saved_models_keep_the_setting_and_old_ones_load(on_cpu, tmp_path):
    on_cpu.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["device"] == "cpu" and meta["history"][-1]["device"] == "cpu"
    loaded = Item2Vec.load(tmp_path / "m")
    assert loaded.device == "cpu" and loaded.device_ == "cpu"
    # a model saved before devices could be chosen: no "device" anywhere
    del meta["config"]["device"]
    for h in meta["history"]:
        del h["device"]
    meta_path.write_text(json.dumps(meta))
    old = Item2Vec.load(tmp_path / "m")
    assert old.device == "auto" and old.device_ is None
    np.testing.assert_array_equal(old.item_vectors_, on_cpu.item_vectors_)


def test_a_checkpoint_resumes_on_another_device_setting(planted, on_cpu, tmp_path):
    ckpt = tmp_path / "ckpt"
    first = Item2Vec(**FAST, device="cpu", checkpoint_dir=ckpt).fit(planted.sessions)
    meta_path = ckpt / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["config"]["device"] == "cpu"
    # where it runs is not what it trains: "auto" resumes a "cpu" checkpoint ...
    again = Item2Vec(**FAST, checkpoint_dir=ckpt).fit(planted.sessions, resume=True)
    np.testing.assert_array_equal(again.item_vectors_, first.item_vectors_)
    # ... and a checkpoint written before devices could be chosen resumes too
    del meta["config"]["device"]
    meta_path.write_text(json.dumps(meta))
    old = Item2Vec(**FAST, checkpoint_dir=ckpt).fit(planted.sessions, resume=True)
    np.testing.assert_array_equal(old.item_vectors_, first.item_vectors_)
    with pytest.raises(Exception, match="different settings"):  # other settings still count
        Item2Vec(**{**FAST, "dim": 4}, checkpoint_dir=ckpt).fit(planted.sessions, resume=True)


def test_an_update_trains_on_the_models_device(planted, on_cpu, tmp_path):
    on_cpu.save(tmp_path / "m")
    model = Item2Vec.load(tmp_path / "m").update(planted.sessions, epochs=1)
    assert model.device == "cpu" and model.device_ == "cpu"
    assert model.history_[-1]["device"] == "cpu" and model.history_[-1]["update"] == 1


# ----------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def log_csv(tmp_path_factory, planted):
    import pandas as pd

    rows = [(f"s{s}", f"item{it}") for s, items in enumerate(planted.sessions.to_lists())
            for it in items]  # fmt: skip
    path = tmp_path_factory.mktemp("log") / "log.csv"
    pd.DataFrame(rows, columns=["basket", "product"]).to_csv(path, index=False)
    return path


def test_help_shows_the_flag_and_its_default(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--device {" + ",".join(DEVICES) + "}" in text
    start = text.index("--device {auto,cpu,gpu} where")  # its line, not the usage's
    assert "(default: auto)" in text[start : text.index("--seed", start)]


@pytest.mark.skipif(GPU, reason="TensorFlow sees a GPU")
def test_cli_device_gpu_without_a_gpu_is_a_one_line_error(log_csv, tmp_path, capsys):
    out = tmp_path / "m"
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--device", "gpu", "--out", str(out)])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("item2vec: error: --device 'gpu' but ")
    assert "use --device 'cpu' or 'auto'" in err
    assert "sessions" not in err and not out.exists()  # refused before the log was read


def test_cli_device_choices_and_distributed(log_csv, tmp_path, capsys):
    base = ["train", str(log_csv), "--session-col", "basket", "--item-col", "product"]
    with pytest.raises(SystemExit) as e:
        main([*base, "--device", "tpu", "--out", str(tmp_path / "m")])
    assert e.value.code == 2 and "invalid choice: 'tpu'" in capsys.readouterr().err
    rc = main([*base, "--device", "gpu", "--distributed", "--out", str(tmp_path / "m")])
    assert rc == 2
    assert "--device gpu applies to training in one process" in capsys.readouterr().err


def test_the_distributed_trainer_refuses_the_gpu_before_starting(tmp_path):
    from item2vec.distributed import train_distributed

    with pytest.raises(ParameterError, match="applies to training in one process") as e:
        train_distributed(
            tmp_path / "log.parquet", session="s", item="i", out=tmp_path / "m",
            config=Config(device="gpu"),
        )  # fmt: skip
    assert "use device='auto' or 'cpu'" in str(e.value)


def test_cli_train_reports_and_saves_the_device(log_csv, tmp_path, capsys):
    out = tmp_path / "m"
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--dim", "8", "--epochs", "1", "--batch-size", "128", "--device", "cpu",
               "--out", str(out), "--quiet"])  # fmt: skip
    assert rc == 0
    assert capsys.readouterr().out.rstrip().endswith("couples/s on the CPU")
    assert Item2Vec.load(out).device == "cpu"


# ----------------------------------------------------------------------------- a GPU
@pytest.mark.skipif(not GPU, reason="TensorFlow sees no GPU")
class TestOnAGPU:
    """A fit on the GPU: tables there, planted clusters recovered, saved like any model."""

    @pytest.fixture(scope="class")
    def big_planted(self):
        return datasets.synthetic(n_items=300, n_clusters=10, n_sessions=3000, mean_length=8,
                                  seed=1)  # fmt: skip

    @pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
    def test_fit_on_the_gpu_recovers_planted_clusters(self, big_planted, optimizer):
        params = dict(dim=16, window=3, epochs=4, batch_size=256, progress=False, seed=0)
        if optimizer == "adagrad":
            params["learning_rate"] = 0.2
        model = Item2Vec(**params, optimizer=optimizer, device="gpu").fit(big_planted.sessions)
        assert model.device_ == "gpu" and all(h["device"] == "gpu" for h in model.history_)
        assert _device_type(model.model_.E) == "GPU" and _device_type(model.model_.b) == "GPU"
        assert np.all(np.isfinite(model.item_vectors_))
        assert big_planted.same_cluster_precision(_neighbour_rows(model)) >= 0.9

    def test_auto_is_the_gpu(self, planted):
        model = Item2Vec(**FAST).fit(planted.sessions)
        assert model.device_ == "gpu" and _device_type(model.model_.E) == "GPU"

    def test_cpu_stays_on_the_cpu_beside_a_gpu(self, planted):
        model = Item2Vec(**FAST, device="cpu").fit(planted.sessions)
        assert model.device_ == "cpu" and _device_type(model.model_.E) == "CPU"

    def test_accumulators_and_an_update_on_the_gpu(self, planted, tmp_path):
        from item2vec.training.model import Item2VecModel
        from item2vec.training.train import Trainer, device_scope

        config = Config(dim=8, epochs=1, batch_size=128, optimizer="adagrad", device="gpu")
        with device_scope("gpu"):
            model = Item2VecModel(len(planted.sessions.vocabulary), 8)
        trainer = Trainer(model, planted.sessions, config, progress=False)
        assert {_device_type(v) for v in trainer._accumulators} == {"GPU"}
        fitted = Item2Vec(**FAST, device="gpu").fit(planted.sessions)
        fitted.update(planted.sessions, epochs=1)
        assert fitted.device_ == "gpu" and _device_type(fitted.model_.E) == "GPU"
        fitted.save(tmp_path / "m")
        assert Item2Vec.load(tmp_path / "m").device == "gpu"


def test_the_distributed_trainer_refuses_shared_negatives_before_starting(tmp_path):
    from item2vec.distributed import train_distributed

    with pytest.raises(ParameterError, match="draws negatives per unit") as e:
        train_distributed(
            tmp_path / "log.parquet", session="s", item="i", out=tmp_path / "m",
            config=Config(negative_block=8),
        )  # fmt: skip
    assert "leave negative_block unset or use negative_block=1, got 8" in str(e.value)
