"""The command line, run in-process through ``item2vec.cli.main.main``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from item2vec import Item2Vec, datasets
from item2vec.cli.main import main


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    data = datasets.synthetic(n_items=60, n_clusters=6, n_sessions=600, mean_length=6, seed=2)
    rows = [(f"s{s}", f"item{it}") for s, items in enumerate(data.sessions.to_lists())
            for it in items]  # fmt: skip
    path = tmp_path_factory.mktemp("log") / "log.csv"
    pd.DataFrame(rows, columns=["basket", "product"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(log_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--dim", "8", "--epochs", "2", "--batch-size", "128", "--out", str(out),
               "--quiet"])  # fmt: skip
    assert rc == 0
    return out


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("data", "demo", "train", "similar", "recommend", "export"):
        assert cmd in out


def test_describe_bundled_data(capsys):
    assert main(["data", "describe", "online-retail", "--kind", "baskets"]) == 0
    out = capsys.readouterr().out
    assert "rows of cancelled invoices" in out and "9,288" in out
    assert "sessions" in out and "session length" in out


def test_describe_csv(log_csv, capsys):
    assert main(["data", "describe", str(log_csv), "--session-col", "basket",
                 "--item-col", "product"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "sessions        600" in out


def test_describe_misspelled_column(log_csv, capsys):
    rc = main(["data", "describe", str(log_csv), "--session-col", "baskt", "--item-col", "product"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "session column 'baskt' not found" in err and "basket, product" in err


def test_describe_unsupported_file(tmp_path, capsys):
    bad = tmp_path / "log.xlsx"
    bad.write_bytes(b"not a spreadsheet")
    assert main(["data", "describe", str(bad), "--session-col", "a", "--item-col", "b"]) == 2
    assert "unsupported file type" in capsys.readouterr().err


def test_train_saves_a_loadable_model_and_removes_its_checkpoint(model_dir):
    model = Item2Vec.load(model_dir)
    assert model.item_vectors_.shape[1] == 8 and len(model.history_) == 2
    assert not model_dir.with_name("model.checkpoint").exists()


def test_similar_table_and_json(model_dir, capsys):
    assert main(["similar", str(model_dir), "item0", "item1", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("similar to") == 2
    assert main(["similar", str(model_dir), "item0", "-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    model = Item2Vec.load(model_dir)
    ids, scores = model.similar("item0", 3)
    assert [r["item"] for r in result[0]["results"]] == list(ids)
    np.testing.assert_allclose([r["score"] for r in result[0]["results"]], scores, rtol=1e-6)


def test_recommend_json_matches_the_api(model_dir, capsys):
    assert main(["recommend", str(model_dir), "item0", "item6", "-k", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ids, _ = Item2Vec.load(model_dir).recommend(["item0", "item6"], 4)
    assert [r["item"] for r in result[0]["results"]] == list(ids)


def test_unknown_item_exit_code_and_message(model_dir, capsys):
    assert main(["similar", str(model_dir), "item9999"]) == 2
    assert "unknown item 'item9999'" in capsys.readouterr().err


def test_not_a_model_directory(tmp_path, capsys):
    assert main(["similar", str(tmp_path), "x"]) == 2
    assert "meta.json" in capsys.readouterr().err


def test_export_word2vec_and_projector(model_dir, tmp_path):
    w2v = tmp_path / "vectors.txt"
    assert main(["export", str(model_dir), "--format", "word2vec", "--out", str(w2v)]) == 0
    n, dim = map(int, w2v.read_text().splitlines()[0].split())
    assert dim == 8 and n == len(Item2Vec.load(model_dir).vocabulary_)
    proj = tmp_path / "proj"
    assert main(["export", str(model_dir), "--format", "projector", "--out", str(proj)]) == 0
    assert len((proj / "vectors.tsv").read_text().splitlines()) == n


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "WHITE HANGING HEART T-LIGHT HOLDER" in out and "transitions" in out
    for name in ("neighbours.csv", "metrics.csv", "loss.png", "hr.png", "map.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert Item2Vec.load(tmp_path / "demo" / "model").item_vectors_.shape[1] == 16


def test_evaluate_prints_one_table_and_writes_json(log_csv, tmp_path, capsys):
    out = tmp_path / "table.json"
    rc = main(["evaluate", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--dim", "8", "--epochs", "2", "--batch-size", "128", "--n-test", "100",
               "--no-gensim", "--json", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    for method in ("item2vec", "transitions", "co-occurrence", "popularity"):
        assert method in text
    table = json.loads(out.read_text())
    assert table["popularity"]["n_cases"] == 100 and 0 <= table["item2vec"]["HR@10"] <= 1
    assert "each method minus item2vec on the same splits" in text and "HR@10 diff" in text
    diff = table["popularity"]["HR@10 diff"]
    assert diff == pytest.approx(table["popularity"]["HR@10"] - table["item2vec"]["HR@10"])


def test_evaluate_in_the_full_ranking_protocol(log_csv, tmp_path, capsys):
    out = tmp_path / "full.json"
    common = ["evaluate", str(log_csv), "--session-col", "basket", "--item-col", "product",
              "--dim", "8", "--epochs", "1", "--batch-size", "128", "--no-gensim"]  # fmt: skip
    assert main([*common, "--protocol", "full-ranking", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test set (full ranking): the last item of all" in text
    assert "history protocol: all (up to 40) items before each held-out one" in text
    table = json.loads(out.read_text())
    sessions = datasets.synthetic(n_items=60, n_clusters=6, n_sessions=600, mean_length=6,
                                  seed=2).sessions  # fmt: skip
    eligible = int((sessions.lengths >= 3).sum())
    pop = table["popularity"]
    assert pop["n_cases"] + pop["answer in history"] == eligible
    assert main([*common, "--protocol", "full-ranking", "--history", "5"]) == 2
    err = capsys.readouterr().err
    assert "--protocol full-ranking tests every session with 3 items or more" in err, err
    assert "leave out --history (got 5)" in err
    with pytest.raises(SystemExit):
        main([*common, "--protocol", "loo"])
    assert "invalid choice: 'loo'" in capsys.readouterr().err


@pytest.mark.parametrize("score", ["log_prob", "cosine"])
def test_evaluate_a_saved_model(log_csv, model_dir, capsys, score):
    rc = main(["evaluate", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--model", str(model_dir), "--n-test", "100", "--no-gensim",
               "--score", score])  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    assert f"item2vec ({model_dir})" in captured.out and "optimistic" in captured.err


def test_evaluate_rejects_an_unknown_score(log_csv, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", str(log_csv), "--score", "dot"])
    assert "invalid choice: 'dot'" in capsys.readouterr().err


def test_ranking_is_a_deprecated_alias_of_score(log_csv, model_dir, tmp_path, capsys):
    common = ["evaluate", str(log_csv), "--session-col", "basket", "--item-col", "product",
              "--model", str(model_dir), "--n-test", "100", "--no-gensim"]  # fmt: skip
    assert main([*common, "--score", "cosine", "--json", str(tmp_path / "new.json")]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main([*common, "--ranking", "cosine", "--json", str(tmp_path / "old.json")]) == 0
    assert "note: --ranking is deprecated: use --score" in capsys.readouterr().err
    new, old = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("new", "old"))
    assert old == new
    for command in (common, ["tune", *common[1:6]]):
        assert main([*command, "--score", "cosine", "--ranking", "log_prob"]) == 2
        err = capsys.readouterr().err
        assert "got both --score cosine and --ranking log_prob" in err, err


def test_recommend_log_prob_matches_the_api(model_dir, capsys):
    rc = main(["recommend", str(model_dir), "item0", "-k", "4", "--score", "log_prob", "--json"])
    assert rc == 0
    ids, _ = Item2Vec.load(model_dir).recommend(["item0"], 4, score="log_prob")
    assert [r["item"] for r in json.loads(capsys.readouterr().out)[0]["results"]] == ids.tolist()


def test_train_refuses_an_unwritable_output_before_training(log_csv, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--out", str(blocker / "model"), "--quiet"])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "cannot save model to" in err and "does not exist" in err
    assert "sessions" not in err  # refused before the log was read


def test_train_refuses_when_the_disk_is_too_full(log_csv, tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(100, 100, 0))
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--out", str(tmp_path / "model"), "--quiet"])  # fmt: skip
    assert rc == 2
    assert "bytes free on the device" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_train_bad_hyperparameter_is_named(log_csv, tmp_path, capsys):
    rc = main(["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--dim", "0", "--out", str(tmp_path / "m")])  # fmt: skip
    assert rc == 2
    assert "dim must be an integer >= 1, got 0" in capsys.readouterr().err


def test_tune_reports_trials_best_settings_and_test_scores(log_csv, tmp_path, capsys):
    out = tmp_path / "tune.json"
    rc = main(["tune", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--space", "window=1,2", "--space", "dim=8", "--space", "ns_exponent=0.75",
               "--space", "sample=0", "--space", "mode=skipgram", "--min-epochs", "1",
               "--max-epochs", "1", "--budget", "300", "--n-test", "60", "--n-valid", "60",
               "--quiet", "--json", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "best HR@10 on validation" in text and "transitions" in text
    result = json.loads(out.read_text())
    assert result["best_params"]["window"] in (1, 2) and result["best_params"]["dim"] == 8
    assert len(result["trials"]) >= 2 and result["test_metrics"]["n_cases"] == 60
    assert result["score"] == "blend"


def test_tune_empty_space_dimension_is_named(log_csv, capsys):
    rc = main(["tune", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--space", "window=", "--quiet"])  # fmt: skip
    assert rc == 2
    assert "window" in capsys.readouterr().err
    rc = main(["tune", str(log_csv), "--session-col", "basket", "--item-col", "product",
               "--valid-events", "0", "--quiet"])  # fmt: skip
    assert rc == 2
    assert "--valid-events must be an integer >= 1, got 0" in capsys.readouterr().err


def test_train_distributed_is_wired_to_the_worker(log_csv, tmp_path, capsys):
    rc = main(["train", str(log_csv), "--user-col", "basket", "--item-col", "product",
               "--distributed", "--out", str(tmp_path / "m")])  # fmt: skip
    assert rc == 2
    assert "distributed training needs --session-col" in capsys.readouterr().err


def test_choices_are_the_lists_of_checks():
    import argparse

    from item2vec.checks import EXPORT_FORMATS, MODES, OPTIMIZERS, RETAIL_KINDS, SCORES
    from item2vec.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))

    def choices(command: str, dest: str) -> tuple:
        action = next(a for a in sub.choices[command]._actions if a.dest == dest)
        return tuple(action.choices)

    assert choices("train", "mode") == MODES and choices("train", "optimizer") == OPTIMIZERS
    assert choices("train", "kind") == RETAIL_KINDS
    assert choices("export", "format") == EXPORT_FORMATS
    assert choices("evaluate", "score") == SCORES and choices("tune", "score") == SCORES
    assert choices("evaluate", "ranking") == SCORES  # the deprecated former name of --score
    assert choices("recommend", "score") == SCORES  # what recommend accepts


def test_negative_block_flag_reaches_the_model_and_a_bad_one_is_named(log_csv, tmp_path, capsys):
    from item2vec import Item2Vec

    base = ["train", str(log_csv), "--session-col", "basket", "--item-col", "product",
            "--dim", "8", "--epochs", "1", "--batch-size", "128", "--quiet"]  # fmt: skip
    assert main([*base, "--negative-block", "1", "--out", str(tmp_path / "m")]) == 0
    assert Item2Vec.load(tmp_path / "m").negative_block == 1
    rc = main([*base, "--negative-block", "3", "--out", str(tmp_path / "bad")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--negative-block must divide --batch-size (128), got 3" in err
    assert not (tmp_path / "bad").exists()
