"""The command line's plumbing, in-process: messages in flags, TensorFlow's log level, the
gensim note, descriptions from a Parquet log, the CSV separator of the Python API."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from item2vec import Item2Vec, Sessions
from item2vec.cli.main import main
from item2vec.cli.measure import default_n_test
from item2vec.exceptions import DataError, ParameterError
from item2vec.flags import cli_message


@pytest.mark.parametrize(
    "library, cli",
    [
        ("min_count must be an integer >= 1, got 0", "--min-count must be an integer >= 1, got 0"),
        ("gap='30min' needs a time column (time=...)",
         "--gap '30min' needs a time column (--time-col ...)"),
        ("loss is nan at epoch 2 (step 10); lower learning_rate or batch_size",
         "loss is nan at epoch 2 (step 10); lower --learning-rate or --batch-size"),
        ("n_test=2000 exceeds the 300 sessions available for it",
         "--n-test 2000 exceeds the 300 sessions available for it"),
        ("k=50 is more than the 9 eligible rows; returning 9",
         "-k 50 is more than the 9 eligible items; returning 9"),
        ("epochs=1 over a log of 10 events (epochs=None would use 100)",
         "--epochs 1 over a log of 10 events (leaving --epochs out would use 100)"),
        ("window must be an integer >= 1 or 'session', got 0",
         "--window must be an integer >= 1 or 'session', got 0"),
        ("see Sessions.from_csv", "see a .csv file"),
        ("the header looks ';'-separated: pass sep=';'",
         "the header looks ';'-separated: pass --sep ';'"),
        ("--out x: the file exists; pass overwrite=True to replace it",
         "--out x: the file exists; pass --overwrite to replace it"),
    ],
)  # fmt: skip
def test_library_messages_speak_in_flags(library, cli):
    assert cli_message(library) == cli


@pytest.mark.parametrize(
    "text",
    [
        "unknown item 'item9999': not in the vocabulary of 60 items",
        "time column 't' has values that are not timestamps",
        "session column 'baskt' not found; columns present: basket, product",
        "file not found: /data/min_count/log.csv",
        "item column 'min_count' not found",
    ],
)
def test_words_that_are_only_words_are_left_alone(text):
    assert cli_message(text) == text


def test_tensorflow_logs_are_hidden_unless_asked(monkeypatch):
    from item2vec.training import startup as options

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(options, "_hiding", False)
    assert options.quiet_tensorflow() is True
    assert options.os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert options.quiet_tensorflow(verbose=True) is False  # --verbose undoes our own setting
    assert "TF_CPP_MIN_LOG_LEVEL" not in options.os.environ
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")  # the user's own choice wins
    assert options.quiet_tensorflow() is False
    assert options.os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_the_noise_filter_keeps_real_errors():
    from item2vec.training.startup import _TF_NOISE

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796173522.331973    3744 port.cc:153] oneDNN custom operations are on.",
        "W0000 00:00:1796173522.331973    3744 cpu_feature_guard.cc:227] This TensorFlow ...",
    ]
    kept = ["E0000 00:00:17.1    3744 cuda.cc:1] failed to initialise", "UserWarning: x", ""]
    assert all(_TF_NOISE.match(line) for line in noise)
    assert not any(_TF_NOISE.match(line) for line in kept)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A Parquet log with descriptions and a tiny model trained on it by the CLI."""
    d = tmp_path_factory.mktemp("msg")
    rows = [(s, 100 + (s % 4) * 5 + (s + j) % 5, f"name {100 + (s % 4) * 5 + (s + j) % 5}")
            for s in range(80) for j in range(2 + s % 3)]  # fmt: skip
    log = d / "log.parquet"
    pd.DataFrame(rows, columns=["basket", "sku", "title"]).to_parquet(log)
    out = d / "model"
    assert main(["train", str(log), "--session-col", "basket", "--item-col", "sku",
                 "--desc-col", "title", "--dim", "8", "--epochs", "1", "--batch-size", "64",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    return log, out


def test_descriptions_of_a_parquet_log_with_integer_ids(small, capsys):
    _, out = small
    model = Item2Vec.load(out)
    assert model.vocabulary_.is_numeric and model.descriptions[105] == "name 105"
    capsys.readouterr()
    assert main(["similar", str(out), "105", "-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert result["description"] == "name 105"
    assert all(r["description"] == f"name {r['item']}" for r in result["results"])


def test_a_missing_description_column_is_named(small, tmp_path, capsys):
    log, _ = small
    rc = main(["train", str(log), "--session-col", "basket", "--item-col", "sku",
               "--desc-col", "Title", "--epochs", "1", "--out", str(tmp_path / "m")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err
    assert "description column 'Title' not found; columns present: basket, sku, title" in err
    assert "did you mean 'title'?" in err and not (tmp_path / "m").exists()


def test_evaluate_says_when_gensim_is_missing(small, capsys, monkeypatch):
    import item2vec.cli.measure as commands

    log, out = small
    monkeypatch.setattr(commands, "_gensim_installed", lambda: False)
    rc = main(["evaluate", str(log), "--session-col", "basket", "--item-col", "sku",
               "--model", str(out), "--quiet"])  # fmt: skip
    assert rc == 0
    captured = capsys.readouterr()
    assert (
        "item2vec: note: gensim is not installed, so the gensim peer is left out "
        "(pip install gensim, or pass --no-gensim" in captured.err
    )
    assert "gensim" not in captured.out
    # the test set was chosen from the log and said so: 53 of 80 baskets have >= 3 items
    assert "test set: the last item of 26 sessions, half of the 53 with 3 items or more" in (
        captured.out
    )
    rc = main(["evaluate", str(log), "--session-col", "basket", "--item-col", "sku",
               "--model", str(out), "--no-gensim", "--quiet"])  # fmt: skip
    assert rc == 0 and "gensim" not in capsys.readouterr().err


def test_default_n_test_follows_the_log():
    few = Sessions.from_lists([["a", "b", "c"], ["a", "b"], ["b", "c", "a"], ["c", "a", "b"]])
    assert default_n_test(few) == (1, 3)
    many = Sessions.from_lists([["a", "b", "c"]] * 5000)
    assert default_n_test(many) == (2000, 5000)


def test_evaluate_n_test_above_the_log_is_named_as_a_flag(small, capsys):
    log, out = small
    rc = main(["evaluate", str(log), "--session-col", "basket", "--item-col", "sku",
               "--model", str(out), "--n-test", "2000", "--no-gensim", "--quiet"])  # fmt: skip
    assert rc == 2
    assert "--n-test 2000 exceeds the 53 sessions available" in capsys.readouterr().err


def test_from_csv_sep_and_its_hint(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("s;i\n1;a\n1;b\n2;a\n2;c\n")
    with pytest.raises(DataError, match=r"the header looks ';'-separated: pass sep=';'"):
        Sessions.from_csv(log, session="s", item="i")
    s = Sessions.from_csv(log, session="s", item="i", sep=";")
    assert s.to_lists() == [["a", "b"], ["a", "c"]]
    with pytest.raises(ParameterError, match="give the separator once"):
        Sessions.from_csv(log, session="s", item="i", sep=";", read_csv_kwargs={"sep": ","})


def test_from_csv_trims_header_names_and_warns(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("s , i\n1, a\n1, b\n")
    with pytest.warns(UserWarning, match=r"column names with spaces around them were trimmed"):
        s = Sessions.from_csv(log, session="s", item="i")
    assert s.to_lists() == [["a", "b"]]
    clean = tmp_path / "clean.csv"
    clean.write_text("s,i\n1, a\n1,b\n")  # no padded names: the ids are read verbatim
    assert Sessions.from_csv(clean, session="s", item="i").to_lists() == [[" a", "b"]]


def test_a_model_of_the_bundled_data_keeps_its_descriptions(tmp_path, capsys):
    out = tmp_path / "retail"
    assert main(["train", "online-retail", "--kind", "baskets", "--min-count", "200",
                 "--dim", "4", "--epochs", "1", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    assert "with descriptions" in capsys.readouterr().out
    assert main(["similar", str(out), "85123A", "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith(
        "similar to 85123A  (WHITE HANGING HEART T-LIGHT HOLDER)\n  rank  item"
    )
