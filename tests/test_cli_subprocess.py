"""The command line as a user meets it: the real ``python -m item2vec`` in a subprocess, its
exit codes and messages on bad outputs, bad inputs and small logs, its help, and what it
prints on stderr (no TensorFlow log lines, warnings as one-line notes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from item2vec import Item2Vec, __version__

TF_NOISE = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "I0000 ")


def item2vec(*args: str | os.PathLike, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m item2vec ARGS`` as a user runs it (stdout and stderr not a terminal)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as on a user's machine
    return subprocess.run(
        [sys.executable, "-m", "item2vec", *map(str, args)],
        capture_output=True, text=True, env=full_env,
    )  # fmt: skip


def write_log(path: Path, n_sessions: int = 120, sep: str = ",", header_pad: str = "") -> Path:
    """A hand-made log: user, item, time and description columns; 6 groups of 8 items."""
    names = ["user", "item", "time", "desc"]
    lines = [(sep + header_pad).join(names)]
    for s in range(n_sessions):
        group = s % 6
        for j in range(2 + s % 5):
            item = f"p{group * 8 + (s * 7 + j * 3) % 8}"
            lines.append(sep.join([f"u{s}", item, f"2024-01-01 10:{j:02d}:00", f"thing {item}"]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return {"dir": d, "log": write_log(d / "log.csv")}


@pytest.fixture(scope="module")
def trained(files):
    """A tiny model trained by the real command, with descriptions, and its run."""
    out = files["dir"] / "model"
    run = item2vec("train", files["log"], "--user-col", "user", "--item-col", "item",
                   "--time-col", "time", "--desc-col", "desc", "--dim", "8", "--epochs", "2",
                   "--batch-size", "64", "--out", out)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return out, run


def test_help_and_version_never_import_tensorflow():
    # nor pandas, scipy or FAISS: `import item2vec` loads them on first use (~0.2 s help)
    code = """
import sys
from item2vec.cli.main import build_parser, main
commands = [[], ["data", "describe"], ["train"], ["similar"], ["recommend"], ["export"],
            ["evaluate"], ["tune"], ["demo"]]
for argv in [["--version"]] + [c + ["--help"] for c in commands]:
    try:
        main(argv)
    except SystemExit as e:
        assert e.code == 0, (argv, e.code)
heavy = [m for m in ("tensorflow", "faiss", "pandas", "scipy") if m in sys.modules]
print("TENSORFLOW" if "tensorflow" in sys.modules else "NO TENSORFLOW", *heavy)
"""
    env = {**os.environ, "COLUMNS": "250"}  # no wrapping of the help texts
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("NO TENSORFLOW") and run.stderr == ""
    out = run.stdout
    assert f"item2vec {__version__}" in out and out.count("examples:") == 8
    # every hyperparameter has a help text and its default
    assert "embedding width (numbers per item) (default: 64)" in out
    for text in ("(default: 3)", "(default: 0.75)", "(default: 0.001)", "(default: skipgram)",
                 "(default: 2048)", "(default: 0.025)", "(default: sgd)", "(default: 0)",
                 "drop items seen fewer times (default: 1)", "(default: word2vec)",
                 "half of the sessions with 3 items or more"):  # fmt: skip
        assert text in out, text


def test_version_prints_only_the_version():
    run = item2vec("--version")
    assert (run.returncode, run.stdout, run.stderr) == (0, f"item2vec {__version__}\n", "")


def test_train_prints_no_tensorflow_lines_and_saves_descriptions(trained):
    out, run = trained
    assert not [line for line in run.stderr.splitlines() if any(n in line for n in TF_NOISE)]
    assert "\r" not in run.stderr and "batch/s" not in run.stderr  # no bars off a terminal
    assert "with descriptions" in run.stdout
    assert Item2Vec.load(out).descriptions["p3"] == "thing p3"


def test_train_refuses_to_replace_a_model_without_overwrite(files, trained):
    out, _ = trained
    before = (out / "meta.json").read_bytes()
    run = item2vec("train", files["log"], "--user-col", "user", "--item-col", "item",
                   "--epochs", "1", "--out", out)  # fmt: skip
    assert run.returncode == 2
    assert f"--out {out}: a model is already there (" in run.stderr
    assert "pass --overwrite to replace it" in run.stderr
    assert "sessions" not in run.stderr  # refused before the log was read
    assert (out / "meta.json").read_bytes() == before


def test_resume_without_a_checkpoint_is_an_error(files):
    out = files["dir"] / "fresh"
    run = item2vec("train", files["log"], "--user-col", "user", "--item-col", "item",
                   "--epochs", "1", "--out", out, "--resume")  # fmt: skip
    assert run.returncode == 2
    assert f"--resume: no checkpoint at {out}.checkpoint to resume from" in run.stderr
    assert "run without --resume to train from the start" in run.stderr
    assert not out.exists()


def test_export_refuses_bad_output_paths(files, trained):
    model, _ = trained
    d = files["dir"]
    existing = d / "vecs.txt"
    existing.write_text("keep me")
    folder = d / "proj"
    folder.mkdir()
    cases = [
        (["--format", "projector", "--out", existing], "a file is in the way; give a folder"),
        (["--format", "word2vec", "--out", folder], "it is a directory; give a file name"),
        (["--out", d / "nonexistent" / "v.txt"], f"the directory {d / 'nonexistent'} does not"),
        (["--out", existing], "the file exists; pass --overwrite to replace it"),
    ]
    for args, message in cases:
        run = item2vec("export", model, *args)
        assert run.returncode == 2, run.stderr
        assert run.stderr.startswith("item2vec: error: --out ") and message in run.stderr
        assert "Traceback" not in run.stderr
    assert existing.read_text() == "keep me"
    run = item2vec("export", model, "--out", existing, "--overwrite")
    assert run.returncode == 0 and existing.read_text().startswith("48 8\n")


def test_demo_refuses_a_file_as_its_report_folder(files):
    run = item2vec("demo", "--out", files["log"])
    assert run.returncode == 2
    assert f"--out {files['log']}: a file is in the way; give a folder name" in run.stderr


def test_evaluate_checks_its_output_paths_before_working(files):
    run = item2vec("evaluate", files["log"], "--user-col", "user", "--item-col", "item",
                   "--json", files["dir"] / "nowhere" / "x.json")  # fmt: skip
    assert run.returncode == 2
    assert "--json " in run.stderr and "does not exist" in run.stderr
    assert run.stdout == ""  # nothing was evaluated


def test_evaluate_a_small_log_with_default_settings(files):
    run = item2vec("evaluate", files["log"], "--user-col", "user", "--item-col", "item",
                   "--time-col", "time")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr and "run/s" not in run.stderr  # no bars off a terminal
    # 96 of the 120 sessions have 3 items or more: half of them are held out
    assert "test set: the last item of 48 sessions, half of the 96 with 3 items or more" in (
        run.stdout
    )
    for method in ("item2vec", "transitions", "co-occurrence", "sknn", "popularity"):
        assert f"\n{method} " in run.stdout
    assert not [line for line in run.stderr.splitlines() if any(n in line for n in TF_NOISE)]


def test_sep_reads_a_semicolon_log_and_the_hint_names_it(files):
    log = write_log(files["dir"] / "semi.csv", sep=";")
    run = item2vec("data", "describe", log, "--user-col", "user", "--item-col", "item")
    assert run.returncode == 2
    assert "columns present: user;item;time;desc" in run.stderr
    assert "the header looks ';'-separated: pass --sep ';'" in run.stderr
    run = item2vec("data", "describe", log, "--sep", ";", "--user-col", "user",
                   "--item-col", "item")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "sessions        120" in run.stdout


def test_header_names_with_spaces_are_trimmed_with_a_note(files):
    log = write_log(files["dir"] / "spaces.csv", sep=", ")  # "user, item, time, desc"
    run = item2vec("data", "describe", log, "--user-col", "user", "--item-col", "item",
                   "--time-col", "time")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == (
        "item2vec: note: column names with spaces around them were trimmed (' item', "
        "' time', ' desc' -> 'item', 'time', 'desc'); spaces after each separator are "
        "skipped in every field\n"
    )
    clean = item2vec("data", "describe", files["log"], "--user-col", "user", "--item-col",
                     "item", "--time-col", "time")  # fmt: skip
    assert run.stdout == clean.stdout  # the same sessions and items, ids without spaces


def test_k_above_the_catalogue_is_a_one_line_note(trained):
    model, _ = trained
    run = item2vec("similar", model, "p0", "-k", "100")
    assert run.returncode == 0
    assert run.stderr == "item2vec: note: -k 100 is more than the 47 eligible items; returning 47\n"
    assert run.stdout.count("thing p") == 48  # the query's description and 47 rows


def test_bad_inputs_get_messages_in_flags(files):
    log = files["log"]
    base = ["data", "describe", log, "--user-col", "user", "--item-col", "item"]
    empty = files["dir"] / "empty"
    empty.mkdir()
    cases = [
        (base + ["--min-length", "100"],
         "no sessions of length >= 100 left after cleaning (120 sessions before; the longest "
         "has 6 events): lower --min-length"),
        (base + ["--min-count", "0"], "--min-count must be an integer >= 1, got 0"),
        (base + ["--gap", "30min"], "--gap 30min needs --time-col, the column to measure it in"),
        (base + ["--time-col", "time", "--gap", "30"],
         "--gap must be a duration such as '30min' for the datetime column, got '30'"),
        (["data", "describe", log, "--item-col", "item"],
         "give --item-col, and --session-col or --user-col (with --time-col and --gap"),
        (["data", "describe", empty, "--session-col", "s", "--item-col", "i"],
         f"no Parquet files in the directory {empty}"),
        (["data", "describe", "online_retail"],
         "file not found: online_retail; did you mean 'online-retail' (the bundled data)?"),
    ]  # fmt: skip
    for args, message in cases:
        run = item2vec(*args)
        assert run.returncode == 2, (args, run.stderr)
        assert run.stderr.startswith("item2vec: error: ") and message in run.stderr, run.stderr
        assert "{" not in run.stderr and "Traceback" not in run.stderr


def test_query_tables_have_a_header_and_descriptions(trained):
    model, _ = trained
    run = item2vec("similar", model, "p0", "-k", "3")
    lines = run.stdout.splitlines()
    assert lines[0] == "similar to p0  (thing p0)"
    assert lines[1].split() == ["rank", "item", "score", "description"]
    assert len(lines) == 5 and all(line.split()[-2] == "thing" for line in lines[2:])
    run = item2vec("recommend", model, "p0", "p1", "-k", "2", "--json")
    result = json.loads(run.stdout)
    assert result[0]["query"] == "p0 + p1"
    assert [r["description"] for r in result[0]["results"]] == [
        f"thing {r['item']}" for r in result[0]["results"]
    ]


def test_train_update_grows_the_model_and_refuses_what_would_be_lost(files, trained):
    model_dir, _ = trained
    d = files["dir"]
    # a day of new sessions with two new items, p90 and p91, and known ones
    day = d / "day2.csv"
    rows = ["user,item,time,desc"] + [
        f"n{s},{item},2024-01-02 10:{j:02d}:00,thing {item}"
        for s in range(40) for j, item in enumerate(("p90", "p1", "p91", "p2"))
    ]  # fmt: skip
    day.write_text("\n".join(rows) + "\n")
    log = ("--user-col", "user", "--item-col", "item", "--time-col", "time", "--desc-col", "desc")
    out = d / "model2"
    run = item2vec("train", day, *log, "--update", model_dir, "--out", out, "--epochs", "1")
    assert run.returncode == 0, run.stderr
    before, after = Item2Vec.load(model_dir), Item2Vec.load(out)
    assert "(2 new)" in run.stdout and len(after.vocabulary_) == len(before.vocabulary_) + 2
    assert (
        after.vocabulary_.ids[: len(before.vocabulary_)].tolist() == before.vocabulary_.ids.tolist()
    )
    assert after.descriptions["p90"] == "thing p90"  # the log's descriptions join the model's
    query = item2vec("similar", out, "p91", "-k", "3")
    assert query.returncode == 0 and "p91" in query.stdout, query.stderr
    # what an update refuses, each before any work
    cases = [
        (("--out", out), "a model is already there"),
        (("--out", model_dir), "that is the model given to --update"),
        (
            ("--out", d / "model3", "--dim", "16"),
            "--dim 16: the model in --update was trained with --dim 8",
        ),
        (("--out", d / "model3", "--resume"), "--resume: no checkpoint at"),
        (("--out", d / "model3", "--distributed"), "--update runs in one process"),
    ]
    for extra, message in cases:
        run = item2vec("train", day, *log, "--update", model_dir, *extra)
        assert run.returncode == 2 and message in run.stderr, (extra, run.stderr)
    run = item2vec("train", day, *log, "--freeze-existing", "--out", d / "model3")
    assert run.returncode == 2 and "--freeze-existing applies to --update" in run.stderr
    assert not (d / "model3").exists()
