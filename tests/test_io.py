"""Model persistence: atomic save, verified load, no pickle."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from item2vec import Vocabulary
from item2vec.exceptions import ModelFormatError, ParameterError
from item2vec.io import (
    LoadedModel,
    ModelSaveError,
    load_model,
    save_model,
)
from item2vec.io import save as io_save

N, DIM = 7, 5
FILES = ["meta.json", "vectors.npy", "biases.npy", "vocabulary.parquet"]


def make_parts(ids: np.ndarray, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = len(ids)
    return dict(
        vectors=rng.standard_normal((n, DIM)).astype(np.float32),
        biases=rng.standard_normal(n).astype(np.float32),
        vocabulary=Vocabulary(ids, np.arange(n, 0, -1, dtype=np.int64) * 3, 2, 11),
        config={"dim": DIM, "window": 3, "ns_exponent": np.float64(0.75), "mode": "skipgram"},
        history=[{"epoch": 1, "loss": 0.69}, {"epoch": 2, "loss": np.float32(0.5)}],
    )


STR_IDS = np.array(["85123A", "22423", "héllo", "a b", "", "POST", "x" * 40], dtype=object)
INT_IDS = np.array([5, -1, 10**12, 0, 7, 3, 42], dtype=np.int64)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    save_model(path, **make_parts(STR_IDS))
    return path


def rewrite(path: Path, name: str, data: bytes | None = None, *, fix_checksum: bool = True) -> None:
    """Replace one file of a model (optionally) and re-record its size and sha256 in meta."""
    if data is not None:
        (path / name).write_bytes(data)
    if fix_checksum:
        meta = json.loads((path / "meta.json").read_text())
        blob = (path / name).read_bytes()
        meta["files"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)}
        (path / "meta.json").write_text(json.dumps(meta))


def npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def edit_meta(path: Path, fn) -> None:
    meta = json.loads((path / "meta.json").read_text())
    fn(meta)
    (path / "meta.json").write_text(json.dumps(meta))


# ---------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("ids", [STR_IDS, INT_IDS], ids=["str", "int"])
def test_round_trip_is_exact(tmp_path: Path, ids: np.ndarray) -> None:
    parts = make_parts(ids)
    out = save_model(tmp_path / "m", **parts, extra_arrays={"out": parts["vectors"] * 2})
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + ["extra_out.npy"])
    m = load_model(tmp_path / "m")
    assert isinstance(m, LoadedModel)
    np.testing.assert_array_equal(m.vectors, parts["vectors"])
    np.testing.assert_array_equal(m.biases, parts["biases"])
    np.testing.assert_array_equal(m.extra_arrays["out"], parts["vectors"] * 2)
    assert m.vectors.dtype == np.float32 and m.biases.dtype == np.float32
    assert m.vocabulary.ids.dtype == ids.dtype
    assert m.vocabulary.ids.tolist() == ids.tolist()
    assert all(type(a) is type(b) for a, b in zip(m.vocabulary.ids, ids, strict=True))
    np.testing.assert_array_equal(m.vocabulary.counts, parts["vocabulary"].counts)
    assert (m.vocabulary.dropped_items, m.vocabulary.dropped_events) == (2, 11)
    assert m.vocabulary.index(ids[3]) == 3
    assert m.config == {"dim": DIM, "window": 3, "ns_exponent": 0.75, "mode": "skipgram"}
    assert m.history == [{"epoch": 1, "loss": 0.69}, {"epoch": 2, "loss": 0.5}]
    import item2vec

    assert m.meta["format"] == "item2vec" and m.meta["format_version"] == 1
    assert m.meta["library_version"] == item2vec.__version__
    assert (m.meta["n_items"], m.meta["dim"]) == (N, DIM)
    assert "T" in m.meta["created"]
    (tmp_path / "plain").mkdir()
    assert out.stat().st_mode == (tmp_path / "plain").stat().st_mode  # umask, not 0700


def test_history_none_and_no_extras(tmp_path: Path) -> None:
    parts = make_parts(INT_IDS) | {"history": None}
    save_model(tmp_path / "m", **parts)
    m = load_model(str(tmp_path / "m"))
    assert m.history is None and m.extra_arrays == {}


def test_save_rejects_bad_inputs_before_touching_disk(tmp_path: Path) -> None:
    parts = make_parts(STR_IDS)
    bad = [
        {"vectors": parts["vectors"][:, 0]},
        {"biases": parts["biases"][:-1]},
        {"vectors": np.where(np.eye(N, DIM) > 0, np.nan, parts["vectors"])},
        {"config": {"fn": object()}},
    ]
    for change in bad:
        with pytest.raises(ParameterError):
            save_model(tmp_path / "m", **(parts | change))
    with pytest.raises(ParameterError, match="extra array"):
        save_model(tmp_path / "m", **parts, extra_arrays={"../x": parts["biases"]})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- atomic save


def test_save_over_existing_replaces_it(saved: Path) -> None:
    new = make_parts(INT_IDS, seed=1)
    save_model(saved, **new)
    m = load_model(saved)
    np.testing.assert_array_equal(m.vectors, new["vectors"])
    assert m.vocabulary.ids.tolist() == INT_IDS.tolist()
    assert [p.name for p in saved.parent.iterdir()] == ["model"]  # no tmp/old leftovers


def test_save_refuses_to_replace_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(ModelSaveError, match="not an item2vec model"):
        save_model(tmp_path / "photos", **make_parts(STR_IDS))
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"meow"
    (tmp_path / "empty").mkdir()
    save_model(tmp_path / "empty", **make_parts(STR_IDS))  # an empty directory is fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelSaveError, match="not a directory"):
        save_model(tmp_path / "file", **make_parts(STR_IDS))


@pytest.mark.parametrize("fail_after", FILES[1:] + ["meta.json"])
def test_failure_between_writes_keeps_previous_model(
    saved: Path, monkeypatch: pytest.MonkeyPatch, fail_after: str
) -> None:
    before = {p.name: p.read_bytes() for p in saved.iterdir()}

    def boom(name: str) -> None:
        if name == fail_after:
            raise RuntimeError("injected failure")

    monkeypatch.setattr(io_save, "_after_file_written", boom)
    with pytest.raises(RuntimeError, match="injected"):
        save_model(saved, **make_parts(INT_IDS, seed=1))
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    assert [p.name for p in saved.parent.iterdir()] == ["model"]
    assert load_model(saved).vocabulary.ids.tolist() == STR_IDS.tolist()


def test_failure_in_swap_restores_previous_model(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):  # the new model cannot be moved into place
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(ModelSaveError, match="cannot save model"):
        save_model(saved, **make_parts(INT_IDS, seed=1))
    monkeypatch.undo()
    assert load_model(saved).vocabulary.ids.tolist() == STR_IDS.tolist()
    assert [p.name for p in saved.parent.iterdir()] == ["model"]


def test_interrupted_swap_is_reported_with_the_old_location(saved: Path) -> None:
    os.rename(saved, saved.with_name(".model.old-1234abcd"))  # crash between the two renames
    with pytest.raises(ModelFormatError, match=r"does not exist.*\.model\.old-1234abcd"):
        load_model(saved)


def test_directory_without_complete_meta_is_refused(saved: Path) -> None:
    text = (saved / "meta.json").read_text()
    (saved / "meta.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFormatError, match="meta.json: not valid JSON"):
        load_model(saved)
    (saved / "meta.json").unlink()
    with pytest.raises(ModelFormatError, match="not an item2vec model directory: meta.json"):
        load_model(saved)


@pytest.mark.parametrize(
    "code, reason",
    [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied"), (errno.ENOSPC, "no space")],
)
def test_os_errors_during_save_are_clear_and_keep_previous_model(
    saved: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    def fail(name: str) -> None:
        if name == "biases.npy":
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(io_save, "_after_file_written", fail)
    with pytest.raises(ModelSaveError, match=reason) as info:
        save_model(saved, **make_parts(INT_IDS, seed=1))
    assert isinstance(info.value, OSError) and info.value.errno == code
    assert str(saved) in str(info.value)
    assert [p.name for p in saved.parent.iterdir()] == ["model"]
    assert load_model(saved).vocabulary.ids.tolist() == STR_IDS.tolist()


def test_read_only_parent_directory(saved: Path) -> None:
    parent = saved.parent
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("chmod does not restrict this user (root); covered by the EROFS test")
        with pytest.raises(ModelSaveError, match="not writable"):
            save_model(saved, **make_parts(INT_IDS, seed=1))
    finally:
        parent.chmod(stat.S_IRWXU)
    assert load_model(saved).vocabulary.ids.tolist() == STR_IDS.tolist()


def test_missing_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelSaveError, match="does not exist"):
        save_model(tmp_path / "nope" / "model", **make_parts(STR_IDS))


# ---------------------------------------------------------------------------- hostile input


def test_missing_or_non_directory_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match="does not exist"):
        load_model(tmp_path / "absent")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelFormatError, match="is not a directory"):
        load_model(tmp_path / "f")


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", ["truncated", "emptied", "random"])
@pytest.mark.parametrize("fix_checksum", [False, True], ids=["raw", "checksum-fixed"])
def test_damaged_files_are_refused(saved: Path, name: str, damage: str, fix_checksum: bool) -> None:
    blob = (saved / name).read_bytes()
    data = {
        "truncated": blob[: len(blob) // 2],
        "emptied": b"",
        "random": np.random.default_rng(0).bytes(len(blob)),
    }[damage]
    (saved / name).write_bytes(data)
    if fix_checksum and name != "meta.json":
        rewrite(saved, name)
    if name == "meta.json":
        reason = "not valid JSON"
    elif not fix_checksum:
        reason = "size is|sha256 checksum mismatch"
    else:
        reason = "not a .npy file|not a valid .npy|cannot be read as a .npy|not a readable Parquet"
    with pytest.raises(ModelFormatError, match=rf"{re.escape(name)}: ({reason})"):
        load_model(saved)


def test_checksum_mismatch_with_same_size(saved: Path) -> None:
    arr = np.load(saved / "biases.npy")
    (saved / "biases.npy").write_bytes(npy_bytes(arr + 1))
    with pytest.raises(ModelFormatError, match=r"biases\.npy: sha256 checksum mismatch"):
        load_model(saved)


def test_missing_data_file(saved: Path) -> None:
    (saved / "vocabulary.parquet").unlink()
    with pytest.raises(ModelFormatError, match=r"vocabulary\.parquet: file is missing"):
        load_model(saved)


BAD_META = {
    "no format": (lambda m: m.pop("format"), "format is None, expected 'item2vec'"),
    "format name": (lambda m: m.update(format="word2vec"), "format is 'word2vec'"),
    "version str": (lambda m: m.update(format_version="1"), "format_version must be"),
    "version bool": (lambda m: m.update(format_version=True), "format_version must be"),
    "version 0": (lambda m: m.update(format_version=0), "format_version must be"),
    "n_items str": (lambda m: m.update(n_items="7"), "'n_items' has the wrong type"),
    "n_items neg": (lambda m: m.update(n_items=-1), "invalid n_items"),
    "dim float": (lambda m: m.update(dim=5.0), "'dim' has the wrong type"),
    "dim wrong": (lambda m: m.update(dim=4), r"shape \(7, 5\) but meta.json says"),
    "n_items wrong": (lambda m: m.update(n_items=8), "but meta.json says n_items=8"),
    "config list": (lambda m: m.update(config=[1]), "'config' has the wrong type"),
    "history dict": (lambda m: m.update(history={}), "'history' has the wrong type"),
    "history items": (lambda m: m.update(history=[1]), "'history' must be a list of objects"),
    "no files": (lambda m: m.pop("files"), "missing key 'files'"),
    "no config": (lambda m: m.pop("config"), "missing key 'config'"),
    "files list": (lambda m: m.update(files=[]), "'files' has the wrong type"),
    "files no vectors": (lambda m: m["files"].pop("vectors.npy"), "no checksum entry for vec"),
    "bad sha": (lambda m: m["files"]["biases.npy"].update(sha256="zz"), "bad 'files' entry"),
    "size str": (lambda m: m["files"]["biases.npy"].update(size="1"), "bad 'files' entry"),
    "traversal": (lambda m: m["files"].update({"../x": m["files"]["biases.npy"]}), "bad 'files'"),
    "id_type": (lambda m: m["vocabulary"].update(id_type="float"), "'vocabulary' must give"),
    "id_type swap": (lambda m: m["vocabulary"].update(id_type="int64"), "'id' column is string"),
    "extras": (lambda m: m.update(extra_arrays=["../../etc"]), "'extra_arrays' must be"),
    "extra absent": (lambda m: m.update(extra_arrays=["out"]), "no checksum entry for extra_out"),
}


@pytest.mark.parametrize("case", list(BAD_META))
def test_bad_meta_is_refused(saved: Path, case: str) -> None:
    mutate, reason = BAD_META[case]
    edit_meta(saved, mutate)
    with pytest.raises(ModelFormatError, match=reason) as info:
        load_model(saved)
    assert re.search(r"(meta\.json|vectors\.npy|vocabulary\.parquet):", str(info.value))


def test_meta_json_array_and_bad_utf8(saved: Path) -> None:
    (saved / "meta.json").write_text("[1, 2]")
    with pytest.raises(ModelFormatError, match="meta.json: expected a JSON object"):
        load_model(saved)
    (saved / "meta.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ModelFormatError, match="meta.json: not valid JSON"):
        load_model(saved)


def test_newer_format_version_asks_to_upgrade(saved: Path) -> None:
    edit_meta(saved, lambda m: m.update(format_version=2, library_version="9.0", files=None))
    msg = r"written by a newer item2vec 9\.0 \(format 2\); this version reads up to 1: upgrade"
    with pytest.raises(ModelFormatError, match=msg):
        load_model(saved)


@pytest.mark.parametrize(
    "name, arr, reason",
    [
        ("vectors.npy", np.zeros((N, DIM), np.float64), "dtype is float64, expected float32"),
        ("vectors.npy", np.zeros(N * DIM, np.float32), "expected a 2-D array"),
        ("vectors.npy", np.full((N, DIM), np.inf, np.float32), "NaN or inf"),
        ("vectors.npy", np.zeros((N - 1, DIM), np.float32), r"shape \(6, 5\)"),
        ("biases.npy", np.zeros(N - 1, np.float32), "6 biases for 7 item vectors"),
        ("biases.npy", np.zeros((N, 1), np.float32), "expected a 1-D array"),
        ("biases.npy", np.zeros(N, np.int32), "dtype is int32"),
    ],
)
def test_bad_arrays_with_valid_checksums(saved: Path, name: str, arr: np.ndarray, reason: str):
    rewrite(saved, name, npy_bytes(arr))
    with pytest.raises(ModelFormatError, match=rf"{re.escape(name)}: .*{reason}"):
        load_model(saved)


def test_big_endian_float32_is_accepted(saved: Path) -> None:
    arr = np.load(saved / "vectors.npy")
    rewrite(saved, "vectors.npy", npy_bytes(arr.astype(">f4")))
    m = load_model(saved)
    np.testing.assert_array_equal(m.vectors, arr)
    assert m.vectors.dtype == np.dtype("=f4")


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize(
    "frame, reason",
    [
        (pd.DataFrame({"id": list(STR_IDS[:-1]), "count": np.ones(N - 1, np.int64)}), "6 items"),
        (pd.DataFrame({"id": list(STR_IDS), "n": np.ones(N, np.int64)}), "columns are"),
        (pd.DataFrame({"id": list(STR_IDS), "count": np.ones(N)}), "'count' column is double"),
        (pd.DataFrame({"id": ["a"] * N, "count": np.ones(N, np.int64)}), "not unique"),
        (pd.DataFrame({"id": list(STR_IDS), "count": -np.ones(N, np.int64)}), "negative"),
        (pd.DataFrame({"id": list(range(N)), "count": np.ones(N, np.int64)}), "'id' column is"),
    ],
)
def test_bad_vocabulary_with_valid_checksum(saved: Path, frame: pd.DataFrame, reason: str) -> None:
    rewrite(saved, "vocabulary.parquet", _parquet_bytes(frame))
    with pytest.raises(ModelFormatError, match=rf"vocabulary\.parquet: .*{reason}"):
        load_model(saved)


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("name", ["vectors.npy", "biases.npy"])
def test_pickle_smuggled_into_npy_is_never_executed(saved: Path, tmp_path: Path, name: str):
    marker = tmp_path / "pwned"
    evil = np.array([Payload(str(marker))] * N, dtype=object)
    rewrite(saved, name, npy_bytes(evil, allow_pickle=True))
    with pytest.raises(ModelFormatError, match=rf"{re.escape(name)}: .*pickle"):
        load_model(saved)
    assert not marker.exists()
    np.load(saved / name, allow_pickle=True)  # the payload is live: unpickling runs it
    assert marker.exists()


def test_pickled_meta_json_is_just_invalid_json(saved: Path) -> None:
    # meta.json is parsed as JSON only: a pickle there is just invalid JSON
    (saved / "meta.json").write_bytes(pickle.dumps({"format": "item2vec"}))
    with pytest.raises(ModelFormatError, match="meta.json: not valid JSON"):
        load_model(saved)


# ------------------------------------------------------------------------- descriptions


@pytest.mark.parametrize("ids", [STR_IDS, INT_IDS], ids=["str", "int"])
def test_descriptions_round_trip_for_the_vocabulary_items(tmp_path: Path, ids: np.ndarray) -> None:
    keys = ids.tolist()
    given = {keys[0]: "first", keys[2]: 3.5, keys[3]: None, "not an item": "dropped"}
    if ids.dtype.kind == "i":  # numeric ids may come keyed by their text, as read from a CSV
        given[str(keys[1])] = "second"
    else:
        given[keys[1]] = "second"
    save_model(tmp_path / "m", **make_parts(ids), descriptions=given)
    loaded = load_model(tmp_path / "m")
    assert loaded.descriptions == {keys[0]: "first", keys[1]: "second", keys[2]: "3.5"}
    assert "descriptions.parquet" in loaded.meta["files"]


def test_descriptions_from_a_series_keep_the_first_of_repeated_ids(tmp_path: Path) -> None:
    desc = pd.Series(["heart", "dup", "retro"], index=["85123A", "85123A", "22423"])
    save_model(tmp_path / "m", **make_parts(STR_IDS), descriptions=desc)
    assert load_model(tmp_path / "m").descriptions == {"85123A": "heart", "22423": "retro"}


def test_a_model_without_descriptions_loads_none(saved: Path) -> None:
    assert load_model(saved).descriptions is None
    assert not (saved / "descriptions.parquet").exists()


def test_bad_descriptions_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="descriptions must map item ids to text"):
        save_model(tmp_path / "m", **make_parts(STR_IDS), descriptions=["a", "b"])
    path = tmp_path / "m"
    save_model(path, **make_parts(STR_IDS), descriptions={"85123A": "heart"})
    good = (path / "descriptions.parquet").read_bytes()
    (path / "descriptions.parquet").write_bytes(good[:-5])
    with pytest.raises(ModelFormatError, match="descriptions.parquet: size is"):
        load_model(path)
    buf = tmp_path / "other.parquet"
    pd.DataFrame({"id": ["nope"], "description": ["x"]}).to_parquet(buf)
    rewrite(path, "descriptions.parquet", buf.read_bytes())
    with pytest.raises(ModelFormatError, match="describes an item not in the model"):
        load_model(path)
    pd.DataFrame({"id": [1], "description": ["x"]}).to_parquet(buf)
    rewrite(path, "descriptions.parquet", buf.read_bytes())
    with pytest.raises(ModelFormatError, match="expected an id column as the vocabulary's"):
        load_model(path)


# ------------------------------------------------------------------------- output paths


def test_check_output_refuses_what_cannot_be_written(tmp_path: Path) -> None:
    from item2vec.io import check_output

    f = tmp_path / "out.txt"
    assert check_output(f) == f  # a new file in an existing directory
    f.write_text("x")
    with pytest.raises(ParameterError, match=r"^output .*out.txt: the file exists; pass overwri"):
        check_output(f)
    assert check_output(f, overwrite=True) == f
    with pytest.raises(ParameterError, match="it is a directory; give a file name"):
        check_output(tmp_path)
    with pytest.raises(ParameterError, match=r"--out .*: the directory .*missing does not exist"):
        check_output(tmp_path / "missing" / "x.txt", name="--out")
    with pytest.raises(ParameterError, match="a file is in the way; give a folder name"):
        check_output(f, directory=True)
    (tmp_path / "folder").mkdir()
    assert check_output(tmp_path / "folder", directory=True) == tmp_path / "folder"  # empty
    (tmp_path / "folder" / "a").write_text("a")
    with pytest.raises(ParameterError, match="the folder exists and is not empty"):
        check_output(tmp_path / "folder", directory=True)
    check_output(tmp_path / "folder", directory=True, overwrite=True)
