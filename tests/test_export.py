"""Exports for other tools: word2vec C format (text and binary, read back by gensim), projector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from item2vec.exceptions import ParameterError
from item2vec.export import export_projector, export_word2vec

N, DIM = 7, 5
STR_IDS = np.array(["85123A", "22423", "héllo", "a b", "", "POST", "x" * 40], dtype=object)
INT_IDS = np.array([5, -1, 10**12, 0, 7, 3, 42], dtype=np.int64)


def make_vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("ids", [STR_IDS, INT_IDS], ids=["str", "int"])
def test_word2vec_export_round_trips_through_gensim(
    tmp_path: Path, binary: bool, ids: np.ndarray
) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    ids = np.where(ids == "", "EMPTY", ids) if ids.dtype == object else ids
    vectors = make_vectors(len(ids))
    path = export_word2vec(tmp_path / "v.w2v", vectors, ids, binary=binary)
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    expected = [str(k).replace(" ", "_") for k in ids]
    assert kv.index_to_key == expected
    np.testing.assert_allclose(kv.vectors, vectors, rtol=0, atol=0)
    assert path.read_bytes().startswith(f"{N} {DIM}\n".encode())


def test_word2vec_export_whitespace_rules(tmp_path: Path) -> None:
    vec = np.ones((2, 3), np.float32)
    with pytest.raises(ParameterError, match="'a b' contains whitespace"):
        export_word2vec(tmp_path / "x", vec, ["a b", "c"], whitespace=None)
    with pytest.raises(ParameterError, match="collide"):
        export_word2vec(tmp_path / "x", vec, ["a b", "a_b"])
    with pytest.raises(ParameterError, match="empty item ids"):
        export_word2vec(tmp_path / "x", vec, ["", "c"])
    with pytest.raises(ParameterError, match="2 ids for 3 vectors"):
        export_word2vec(tmp_path / "x", np.ones((3, 3)), ["a", "b"])
    export_word2vec(tmp_path / "x", vec, ["a\tb\nc", "d"])
    assert (tmp_path / "x").read_text().splitlines()[1].startswith("a_b_c 1 1 1")


def test_projector_files(tmp_path: Path) -> None:
    ids = np.array(["85123A", "22423", "71053"], dtype=object)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    out = export_projector(tmp_path / "proj", vectors, ids)
    rows = (out / "vectors.tsv").read_text().splitlines()
    assert len(rows) == 3 and all(len(r.split("\t")) == 4 for r in rows)
    np.testing.assert_array_equal(np.loadtxt(out / "vectors.tsv", dtype=np.float32), vectors)
    assert (out / "metadata.tsv").read_text().splitlines() == ids.tolist()  # one column: no header
    config = (out / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "vectors.tsv"' in config and 'metadata_path: "metadata.tsv"' in config

    desc = pd.Series(["WHITE HEART", "RED\tRETRO", "dup"], index=["85123A", "22423", "85123A"])
    export_projector(tmp_path / "proj", vectors, ids, descriptions=desc)
    lines = (out / "metadata.tsv").read_text().splitlines()
    assert lines == ["id\tdescription", "85123A\tWHITE HEART", "22423\tRED RETRO", "71053\t"]

    export_projector(tmp_path / "p2", vectors, np.array([1, 2, 3]), descriptions={2: "two"})
    assert (tmp_path / "p2" / "metadata.tsv").read_text().splitlines()[1:] == [
        "1\t",
        "2\ttwo",
        "3\t",
    ]


def test_bad_output_paths_are_refused_before_writing(tmp_path: Path) -> None:
    vectors, ids = make_vectors(3), np.array(["a", "b", "c"], dtype=object)
    with pytest.raises(ParameterError, match="it is a directory; give a file name"):
        export_word2vec(tmp_path, vectors, ids)
    with pytest.raises(ParameterError, match="does not exist"):
        export_word2vec(tmp_path / "missing" / "v.txt", vectors, ids)
    existing = tmp_path / "v.txt"
    existing.write_text("keep")
    with pytest.raises(ParameterError, match="the file exists; pass overwrite=True"):
        export_word2vec(existing, vectors, ids, overwrite=False)
    assert existing.read_text() == "keep"
    export_word2vec(existing, vectors, ids)  # the default replaces it, as before
    assert existing.read_text().startswith("3 5\n")
    with pytest.raises(ParameterError, match="a file is in the way; give a folder name"):
        export_projector(existing, vectors, ids)
    with pytest.raises(ParameterError, match="does not exist"):
        export_projector(tmp_path / "missing" / "proj", vectors, ids)
