"""The demo (``item2vec.cli.demo.run_demo``, quick settings), its figures
(``item2vec.cli.plots``) and the progress bar's per-epoch lines
(``item2vec.training.monitor.progress_bar``)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pandas as pd
import pytest

from item2vec.cli.demo import DEMO_PARAMS, run_demo, verdict
from item2vec.cli.plots import (
    DPI,
    cluster_words,
    discriminant_plane,
    plot_loss,
    plot_map,
    plot_quality,
)
from item2vec.training.monitor import progress_bar

FIGURES = ("loss.png", "hr.png", "map.png")


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, from its header; fails on anything that is not one."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    capture = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(capture):
        assert run_demo(out=out, quick=True, progress=False) == 0
    return out, capture.getvalue()


def test_demo_writes_the_report(demo):
    out, _ = demo
    for name in ("neighbours.csv", "metrics.csv", "summary.json", "history.json", *FIGURES):
        assert (out / name).stat().st_size > 0, name
    assert (out / "model" / "meta.json").exists()


def test_demo_table_holds_both_protocols_against_every_baseline(demo):
    out, text = demo
    table = pd.read_csv(out / "metrics.csv", index_col=[0, 1])
    assert set(table.index.get_level_values(0)) == {"previous purchase", "last 5 purchases"}
    for protocol in ("previous purchase", "last 5 purchases"):
        methods = set(table.loc[protocol].index)
        assert {"item2vec (blend)", "item2vec (log_prob)", "transitions", "co-occurrence",
                "sknn", "popularity"} <= methods  # fmt: skip
        assert table.loc[protocol]["HR@10"].between(0, 1).all()
    assert "after the previous purchase" in text and "after the last 5 purchases" in text


def test_demo_says_where_the_model_stands(demo):
    out, text = demo
    summary = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "metrics.csv", index_col=[0, 1])
    assert set(summary) == {"previous purchase", "last 5 purchases"}
    for protocol, s in summary.items():
        baselines = table.loc[protocol].drop(["item2vec (blend)", "item2vec (log_prob)"])
        assert s["best baseline"] == baselines["HR@10"].idxmax()
        assert s["difference"] == pytest.approx(s["model value"] - s["baseline value"])
        assert s["low"] <= s["difference"] <= s["high"]
    assert text.count("HR@10 minus the best baseline's") == 2


def test_demo_figures_are_pngs_of_a_readable_size(demo):
    out, _ = demo
    for name in FIGURES:
        width, height = png_size(out / name)
        assert 700 <= width <= 2600 and 450 <= height <= 2000, (name, width, height)


def test_demo_prints_one_line_per_epoch_and_is_deterministic(demo, tmp_path):
    _, text = demo
    history = json.loads((demo[0] / "history.json").read_text())
    assert len(history) == 1 and [ln for ln in text.splitlines() if ln.startswith("  epoch")]
    again = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(again):
        run_demo(out=tmp_path / "again", quick=True, progress=False)
    assert json.loads((tmp_path / "again" / "summary.json").read_text()) == json.loads(
        (demo[0] / "summary.json").read_text()
    )


def test_demo_params_are_deterministic():
    assert DEMO_PARAMS["workers"] == 1  # Hogwild threads would race: numbers would vary


def test_verdict_names_the_best_baseline_and_the_side():
    results = {"m": {"HR@10": 0.6}, "a": {"HR@10": 0.3}, "b": {"HR@10": 0.4}}
    hits = {"m": np.r_[np.ones(60), np.zeros(40)], "a": np.r_[np.ones(30), np.zeros(70)],
            "b": np.r_[np.ones(40), np.zeros(60)]}  # fmt: skip
    v = verdict(results, {k: {"HR@10": h} for k, h in hits.items()}, ["a", "b"], model="m")
    assert v["best baseline"] == "b" and v["difference"] == pytest.approx(0.2)
    assert v["low"] > 0 and "ahead of it" in v["text"]
    tie = verdict(results, {k: {"HR@10": hits["b"]} for k in hits}, ["a", "b"], model="m")
    assert tie["difference"] == 0 and "spans 0" in tie["text"]


# ----------------------------------------------------------------------------- figures
@pytest.fixture(scope="module")
def planted():
    """Unit vectors around 4 planted centres, with item texts that name their group."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 16))
    group = np.repeat(np.arange(4), 60)
    vectors = centres[group] + 0.3 * rng.standard_normal((240, 16))
    words = np.array(["candle holder", "jumbo bag", "christmas star", "tea cup"])
    texts = [f"{words[g]} model {i}" for i, g in enumerate(group)]
    counts = rng.integers(1, 500, 240)
    return vectors.astype(np.float32), counts, texts, group


def test_map_finds_the_groups_and_labels_without_overlap(planted, tmp_path):
    vectors, counts, texts, group = planted
    drawn = plot_map(vectors, counts, texts, tmp_path / "map.png", min_count=1, n_clusters=4)
    assert len(drawn["rows"]) == 240
    # each k-means cluster is one planted group, named by the group's words
    clusters = drawn["clusters"]
    for c in range(4):
        assert len(set(group[drawn["rows"][clusters == c]])) == 1
    names = {frozenset(n[:2]) for n in drawn["names"]}
    assert names == {frozenset(p.split()) for p in ("candle holder", "jumbo bag",
                                                     "christmas star", "tea cup")}  # fmt: skip
    boxes = [box for _, box in drawn["labelled"]]
    assert 3 <= len(boxes) <= 9
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])
    width, height = png_size(tmp_path / "map.png")
    assert width > 6 * DPI and height > 5 * DPI


def test_discriminant_plane_separates_planted_groups(planted):
    vectors, _, _, group = planted
    xy = discriminant_plane(vectors, group)
    centres = np.stack([xy[group == g].mean(axis=0) for g in range(4)])
    spread = np.mean([xy[group == g].std(axis=0).mean() for g in range(4)])
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(4) for b in range(a + 1, 4)]
    assert min(gaps) > 2 * spread


def test_cluster_words_prefer_what_sets_a_cluster_apart():
    texts = ["red jumbo bag", "blue jumbo bag", "green jumbo bag", "red tea cup",
             "blue tea cup", "green tea cup"]  # fmt: skip
    names = cluster_words(texts, np.array([0, 0, 0, 1, 1, 1]), n_words=2)
    assert names == [["bag", "jumbo"], ["cup", "tea"]]


def test_quality_and_loss_figures(tmp_path):
    history = [{"epoch": e, "loss": 2.5 - 0.1 * e, "HR@10": 0.2 + 0.02 * e,
                "NDCG@10": 0.1 + 0.01 * e} for e in range(1, 6)]  # fmt: skip
    reference = {"co-occurrence": {"HR@10": 0.298, "NDCG@10": 0.2},
                 "transitions": {"HR@10": 0.293, "NDCG@10": 0.198},
                 "popularity": {"HR@10": 0.045, "NDCG@10": 0.024}}  # fmt: skip
    drawn = plot_quality(history, reference, tmp_path / "hr.png", title="t",
                         final={"HR@10": 0.3, "NDCG@10": 0.201})  # fmt: skip
    for metric in ("HR@10", "NDCG@10"):
        assert any(t.startswith("co-occurrence") for t in drawn[metric])
        assert any(t.startswith("item2vec blend") for t in drawn[metric])
    plot_loss(history, tmp_path / "loss.png", negatives=5)
    for name in ("hr.png", "loss.png"):
        assert png_size(tmp_path / name)[0] > 4 * DPI


def test_progress_bar_leaves_one_line_per_epoch():
    out = io.StringIO()
    bar = progress_bar(True, 6, file=out, disable=False)
    bar.set_description("epoch 1/2")  # as the trainer does: at the start,
    for epoch in (1, 2):
        bar.update(3)
        bar.set_postfix(loss=f"{2.5 - epoch / 10:.4f}", couples_s="1e+06", refresh=False)
        bar.set_description(f"epoch {min(epoch + 1, 2)}/2")  # and at each epoch's end
    bar.close()
    lines = [ln.strip("\r ") for ln in out.getvalue().replace("\r", "\n").splitlines()]
    done = [ln for ln in lines if " done: " in ln]
    assert [ln.split(" done")[0] for ln in done] == ["epoch 1/2", "epoch 2/2"]
    assert "loss=2.4000" in done[0] and "couples/s=1e+06" in done[0]
    assert "loss=2.3000" in done[1]


def test_progress_bar_is_quiet_off_a_terminal(capsys):
    bar = progress_bar(True, 4)  # pytest's captured streams are not terminals
    bar.set_description("epoch 1/1")
    bar.update(4)
    bar.set_description("epoch 1/1")
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert progress_bar(False, 4) is None
