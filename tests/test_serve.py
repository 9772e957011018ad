"""``item2vec serve`` as a client meets it: the real server (``python -m item2vec.serving``)
in a subprocess on a free loopback port, asked over HTTP.

Every route against the estimator's own answers; every bad input of issue 33 answered 4xx
with a message naming the problem; reloads under 8 concurrent clients with zero failed
requests; refused reloads of corrupt models (the old model keeps serving); ``--watch``;
shutdown on SIGTERM. Models: tiny planted logs (5 groups of 10 items) trained for a few
epochs, once per module.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import item2vec as i2v
from item2vec.serving.client import Client, ServerProcess

LIMITS = ("--max-k", "50", "--max-history", "5", "--max-batch", "4", "--max-filter", "8")
LIMITS += ("--max-body-bytes", "4096", "--read-timeout", "1")


def _sessions(prefix: str | None, groups: int, seed: int) -> i2v.Sessions:
    """Sessions that walk within one of ``groups`` groups of 10 items (ids ``prefix + n``,
    or integers ``100 + n`` when ``prefix`` is None)."""
    rng = np.random.default_rng(seed)
    name = (lambda n: 100 + n) if prefix is None else (lambda n: f"{prefix}{n}")
    lists = [[name(g * 10 + j) for j in rng.choice(10, 6)] for g in rng.integers(0, groups, 400)]
    return i2v.Sessions.from_lists(lists)


def _fit(sessions: i2v.Sessions, seed: int, descriptions=None) -> i2v.Item2Vec:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a deliberately short fit
        model = i2v.Item2Vec(dim=8, epochs=2, progress=False, seed=seed, descriptions=descriptions)
        return model.fit(sessions)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Model ``a`` (50 items i0..i49, descriptions for the even ones), model ``b`` (the same
    items and 10 more, another seed), a numeric-id model, and their directories."""
    root = tmp_path_factory.mktemp("serve")
    a = _fit(_sessions("i", 5, 0), 0, {f"i{n}": f"item {n}" for n in range(0, 50, 2)})
    rng = np.random.default_rng(1)
    lists = [[f"i{g * 10 + j}" for j in rng.choice(10, 6)] for g in rng.integers(0, 5, 400)]
    lists += [[f"i{n % 50}", f"n{n % 10}", f"n{(n + 1) % 10}"] for n in range(100)]
    b_sessions = i2v.Sessions.from_lists(lists)
    b = _fit(b_sessions, 1)
    numeric = _fit(_sessions(None, 4, 2), 2)
    dirs = {name: root / name for name in ("a", "b", "numeric")}
    for name, model in (("a", a), ("b", b), ("numeric", numeric)):
        model.save(dirs[name])
    return {"a": a, "b": b, "numeric": numeric, "dirs": dirs, "root": root}


@pytest.fixture(scope="module")
def server(models):
    with ServerProcess(models["dirs"]["a"], *LIMITS) as proc:
        yield proc


@pytest.fixture()
def client(server) -> Client:
    c = Client(server.url)
    yield c
    c.close()


def _corrupt(src: Path, dst: Path, how: str) -> Path:
    """A copy of the model ``src`` at ``dst``, damaged: a flipped byte, a truncated file, no
    meta.json."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    if how == "flipped":
        data = bytearray((dst / "vectors.npy").read_bytes())
        data[-3] ^= 0xFF
        (dst / "vectors.npy").write_bytes(bytes(data))
    elif how == "truncated":
        data = (dst / "biases.npy").read_bytes()
        (dst / "biases.npy").write_bytes(data[: len(data) // 2])
    elif how == "no manifest":
        (dst / "meta.json").unlink()
    return dst


def _replace(dst: Path, src: Path) -> None:
    """Put the directory ``src`` at ``dst`` (as a copy)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


# ---------------------------------------------------------------------------- the routes
def test_health(client, models):
    status, health = client.get("/health")
    assert status == 200 and health["status"] == "ok"
    assert health["items"] == 50 and health["dim"] == 8
    assert health["model_id"].startswith(health["manifest_sha256"][:12])
    assert health["load_seconds"] > 0 and health["loaded_at"].endswith("+00:00")
    assert health["descriptions"] is True and health["default_score"] == "blend"
    assert health["limits"]["max_k"] == 50 and health["limits"]["max_history"] == 5
    assert health["reloads"] == 0 and health["version"] == i2v.__version__


def test_similar_answers_as_the_estimator(client, models):
    model = i2v.Item2Vec.load(models["dirs"]["a"])
    ids, scores = model.similar("i3", k=5)
    status, answer = client.get("/similar?item=i3&k=5")
    assert status == 200
    assert answer["items"] == ids.tolist()
    np.testing.assert_allclose(answer["scores"], scores, rtol=1e-6)
    descriptions = [model.descriptions.get(i) for i in ids.tolist()]
    assert answer["descriptions"] == descriptions and any(descriptions)
    _, health = client.get("/health")
    assert answer["model_id"] == health["model_id"]


def test_similar_batch_answers_as_the_estimator(client, models):
    model = i2v.Item2Vec.load(models["dirs"]["a"])
    ids, scores = model.similar(["i3", "i17", "i40"], k=4, exclude=["i4", "i18"])
    body = {"items": ["i3", "i17", "i40"], "k": 4, "exclude": ["i4", "i18"]}
    status, answer = client.post("/similar/batch", body)
    assert status == 200
    assert answer["items"] == ids.tolist()
    np.testing.assert_allclose(answer["scores"], scores, rtol=1e-6)
    assert len(answer["descriptions"]) == 3 and len(answer["descriptions"][0]) == 4


@pytest.mark.parametrize(
    "options",
    [{}, {"score": "log_prob"}, {"score": "cosine", "exclude": ["i5"]}, {"allowed": ["i1", "i2"]}],
)
def test_recommend_answers_as_the_estimator(client, models, options):
    model = i2v.Item2Vec.load(models["dirs"]["a"])
    history = ["i10", "i12", "i11", "i15", "i13"]
    ids, scores = model.recommend(history, k=2 if "allowed" in options else 6, **options)
    body = {"history": history, "k": 2 if "allowed" in options else 6, **options}
    status, answer = client.post("/recommend", body)
    assert status == 200, answer
    assert answer["items"] == ids.tolist()
    np.testing.assert_allclose(answer["scores"], scores, rtol=1e-5)


def test_recommend_batch_answers_as_the_estimator(client, models):
    model = i2v.Item2Vec.load(models["dirs"]["a"])
    histories = [["i1", "i2"], ["i30", "i31", "i32"], ["i49"]]
    for options in ({}, {"score": "logit", "exclude": ["i3"]}):
        ids, scores = model.recommend_batch(histories, k=3, **options)
        status, answer = client.post(
            "/recommend/batch", {"histories": histories, "k": 3, **options}
        )
        assert status == 200, answer
        assert answer["items"] == ids.tolist()
        np.testing.assert_allclose(answer["scores"], scores, rtol=1e-5)
        assert len(answer["descriptions"]) == 3


# ---------------------------------------------------------------------------- bad input
H = ["i1", "i2"]
BAD = [  # method, path, body (dict, or bytes sent as is), status, words the message must hold
    ("GET", "/similar?item=zz&k=3", None, 404, ["unknown item", "'zz'"]),
    ("GET", "/similar?k=3", None, 400, ["item is required"]),
    ("GET", "/similar?item=i1", None, 400, ["k is required"]),
    ("GET", "/similar?item=i1&k=abc", None, 400, ["k must be an integer", '"abc"']),
    ("GET", "/similar?item=i1&k=2.5", None, 400, ["k must be an integer", "2.5"]),
    ("GET", "/similar?item=i1&k=0", None, 400, ["k must be an integer in [1, 50]", "got 0"]),
    ("GET", "/similar?item=i1&k=-3", None, 400, ["k must be", "got -3"]),
    ("GET", "/similar?item=i1&k=51", None, 400, ["k=51", "limit of 50", "--max-k"]),
    ("GET", "/similar?item=i1&k=3&k=4", None, 400, ["k is given 2 times"]),
    ("GET", "/similar?item=i1&k=3&n=4", None, 400, ["unknown field 'n'"]),
    ("POST", "/recommend", b'{"history": ["i1", ', 400, ["malformed JSON"]),
    ("POST", "/recommend", b"", 400, ["empty body"]),
    ("POST", "/recommend", b"\xff\xfe", 400, ["malformed JSON"]),
    ("POST", "/recommend", b"[1, 2]", 400, ["JSON object", "list"]),
    ("POST", "/recommend", {"k": 3}, 400, ["history is required"]),
    ("POST", "/recommend", {"history": "i1", "k": 3}, 400, ["history must be a list", "str"]),
    ("POST", "/recommend", {"history": {"a": 1}, "k": 3}, 400, ["history must be a list"]),
    ("POST", "/recommend", {"history": [], "k": 3}, 400, ["history is empty"]),
    ("POST", "/recommend", {"history": H * 3, "k": 3}, 400, ["6 items", "--max-history"]),
    ("POST", "/recommend", {"history": ["i1", "zz"], "k": 3}, 404, ["history[1]", "'zz'"]),
    ("POST", "/recommend", {"history": [True], "k": 3}, 400, ["history[0]", "true"]),
    ("POST", "/recommend", {"history": [["i1"]], "k": 3}, 400, ["history[0]", "item id"]),
    ("POST", "/recommend", {"history": H}, 400, ["k is required"]),
    ("POST", "/recommend", {"history": H, "k": "3"}, 400, ["k must be an integer", '"3"']),
    ("POST", "/recommend", {"history": H, "k": 3.0}, 400, ["k must be an integer", "3.0"]),
    ("POST", "/recommend", {"history": H, "k": True}, 400, ["k must be an integer", "true"]),
    ("POST", "/recommend", {"history": H, "k": 0}, 400, ["k must be", "got 0"]),
    ("POST", "/recommend", {"history": H, "k": 500}, 400, ["k=500", "--max-k"]),
    ("POST", "/recommend", {"history": H, "k": 3, "score": "best"}, 400, ["score", "'best'"]),
    ("POST", "/recommend", {"history": H, "k": 3, "score": 1}, 400, ["score must be", "1"]),
    ("POST", "/recommend", {"histroy": H, "k": 3}, 400, ["unknown field 'histroy'"]),
    ("POST", "/recommend", {"history": H, "k": 3, "exclude": "i3"}, 400, ["exclude must be"]),
    ("POST", "/recommend", {"history": H, "k": 3, "exclude": ["zz"]}, 404, ["exclude[0]", "zz"]),
    ("POST", "/recommend", {"history": H, "k": 3, "allowed": []}, 400, ["allowed is empty"]),
    ("POST", "/recommend", {"history": H, "k": 3, "allowed": H * 5}, 400, ["--max-filter"]),
    ("POST", "/recommend", {"history": H, "k": 3, "exclude_context": 1}, 400, ["true or false"]),
    ("POST", "/similar/batch", {"k": 3}, 400, ["items is required"]),
    ("POST", "/similar/batch", {"items": "i1", "k": 3}, 400, ["items must be a list"]),
    ("POST", "/similar/batch", {"items": [], "k": 3}, 400, ["items is empty"]),
    ("POST", "/similar/batch", {"items": ["i1"] * 5, "k": 3}, 400, ["5 items", "--max-batch"]),
    ("POST", "/similar/batch", {"items": ["i1", "zz"], "k": 3}, 404, ["items[1]", "'zz'"]),
    ("POST", "/similar/batch", {"items": ["i1"], "k": 0}, 400, ["k must be"]),
    ("POST", "/recommend/batch", {"histories": H, "k": 3}, 400, ["histories[0] must be a list"]),
    ("POST", "/recommend/batch", {"histories": [], "k": 3}, 400, ["histories is empty"]),
    ("POST", "/recommend/batch", {"histories": [H, []], "k": 3}, 400, ["histories[1] is empty"]),
    ("POST", "/recommend/batch", {"histories": [H] * 5, "k": 3}, 400, ["5 histories"]),
    ("POST", "/recommend/batch", {"histories": [H, ["zz"]], "k": 3}, 404, ["histories[1][0]"]),
    ("POST", "/recommend/batch", {"histories": [H], "k": 3, "score": "x"}, 400, ["score"]),
    ("POST", "/recommend", {"history": ["i1"] * 1000, "k": 3}, 413, ["--max-body-bytes"]),
    ("GET", "/nowhere", None, 404, ["no route /nowhere", "GET /similar"]),
    ("GET", "/recommend", None, 405, ["GET is not allowed on /recommend"]),
    ("POST", "/similar", {"item": "i1"}, 405, ["POST is not allowed"]),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), BAD)
def test_bad_input_is_a_4xx_naming_the_problem(client, method, path, body, status, words):
    raw = body if isinstance(body, bytes) else None
    got, answer = client.request(method, path, None if raw is not None else body, raw=raw)
    assert got == status, answer
    assert set(answer) == {"error"} and isinstance(answer["error"], str)
    for word in words:
        assert word in answer["error"], answer["error"]
    assert client.get("/health")[0] == 200  # the connection and the server are still fine


def test_oversized_body_without_content_length_is_413(server):
    """A chunked body is counted as it arrives."""
    import http.client

    conn = http.client.HTTPConnection(*server.url.split("//")[1].split(":"), timeout=30)
    chunks = (b'{"history": [' + b'"i1", ' * 200 for _ in range(10))
    conn.request("POST", "/recommend", body=chunks, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert "--max-body-bytes" in json.loads(response.read())["error"]
    conn.close()


def _read_response(sock: socket.socket) -> str:
    """One whole HTTP response: the head, then Content-Length bytes of body (the two may
    come in separate segments, or the server may close the connection)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_a_body_that_never_arrives_is_408_not_a_hang(server):
    host, port = server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        answer = _read_response(sock)
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "--read-timeout" in answer


# ---------------------------------------------------------------------------- reloads
def _hammer(url: str, stop: threading.Event, log: list, errors: list, seed: int) -> None:
    """Similar and recommend requests on items both models know, until ``stop``."""
    client, rng = Client(url), np.random.default_rng(seed)
    try:
        while not stop.is_set():
            items = [f"i{n}" for n in rng.choice(50, 5, replace=False)]
            if rng.random() < 0.5:
                status, answer = client.get(f"/similar?item={items[0]}&k=5")
            else:
                status, answer = client.post("/recommend", {"history": items, "k": 5})
            if status != 200 or len(answer["items"]) != 5:
                errors.append((status, answer))
            log.append(answer.get("model_id"))
    except Exception as e:  # a dropped connection counts as a failed request
        errors.append(repr(e))
    finally:
        errors.extend(["retried"] * client.retries)
        client.close()


def test_reload_under_8_concurrent_clients_fails_no_request(models, tmp_path):
    live = tmp_path / "live"
    models["a"].save(live)
    with ServerProcess(live) as proc:
        stop, log, errors = threading.Event(), [], []
        threads = [
            threading.Thread(target=_hammer, args=(proc.url, stop, log, errors, s))
            for s in range(8)
        ]
        for t in threads:
            t.start()
        control, reloaded = Client(proc.url), []
        try:
            for r in range(4):
                time.sleep(0.5)
                models["b" if r % 2 == 0 else "a"].save(live)  # as `train --overwrite` does
                status, answer = control.post("/reload")
                assert status == 200, answer
                assert answer["items"] == (60 if r % 2 == 0 else 50)
                reloaded.append(answer["model_id"])
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert errors == []
        assert len(log) > 40
        assert len(set(log) & set(reloaded)) >= 2  # answers came from the reloaded models
        status, health = control.get("/health")
        assert health["model_id"] == reloaded[-1] and health["reloads"] == 4
        control.close()


def test_a_corrupt_model_is_refused_and_the_old_keeps_serving(models, tmp_path):
    live = tmp_path / "live"
    models["a"].save(live)
    with ServerProcess(live) as proc:
        client = Client(proc.url)
        _, before = client.get("/health")
        for how, words in (
            ("flipped", ["vectors.npy", "sha256"]),
            ("truncated", ["biases.npy", "size"]),
            ("no manifest", ["meta.json"]),
        ):
            _replace(live, _corrupt(models["dirs"]["b"], tmp_path / "bad", how))
            status, answer = client.post("/reload")
            assert status == 409, answer
            assert "reload refused, still serving " + before["model_id"] in answer["error"]
            for word in words:
                assert word in answer["error"], answer["error"]
            assert answer["model_id"] == before["model_id"]
            status, answer = client.get("/similar?item=i1&k=3")
            assert status == 200 and answer["model_id"] == before["model_id"]
            _, health = client.get("/health")
            assert health["model_id"] == before["model_id"] and health["last_error"]
        shutil.rmtree(live)
        status, answer = client.post("/reload")
        assert status == 409 and "does not exist" in answer["error"]
        models["b"].save(live)
        status, answer = client.post("/reload")
        assert status == 200 and answer["items"] == 60
        _, health = client.get("/health")
        assert health["refused"] == 4 and health["reloads"] == 1 and health["last_error"] is None
        client.close()


def test_watch_reloads_when_the_model_directory_changes(models, tmp_path):
    live = tmp_path / "live"
    models["a"].save(live)
    with ServerProcess(live, "--watch", "--watch-interval", "0.2") as proc:
        client = Client(proc.url)

        def wait_for(check) -> dict:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                _, health = client.get("/health")
                if check(health):
                    return health
                time.sleep(0.1)
            raise AssertionError(f"no reload seen: {health}\n{proc.output}")

        models["b"].save(live)
        health = wait_for(lambda h: h["items"] == 60)
        assert health["reloads"] == 1 and health["watch"] == 0.2
        _replace(live, _corrupt(models["dirs"]["a"], tmp_path / "bad", "flipped"))
        health = wait_for(lambda h: h["refused"] == 1)
        assert health["items"] == 60 and "vectors.npy" in health["last_error"]
        time.sleep(1)  # a refused model is not tried again until it changes
        assert client.get("/health")[1]["refused"] == 1
        client.close()


# ---------------------------------------------------------------------------- process
def test_numeric_ids_and_shutdown_on_sigterm(models):
    proc = ServerProcess(models["dirs"]["numeric"]).start()
    try:
        client = Client(proc.url)
        status, answer = client.get("/similar?item=103&k=3")  # a query string id is text
        assert status == 200 and all(isinstance(i, int) for i in answer["items"])
        assert "descriptions" not in answer
        status, answer = client.post("/recommend", {"history": [101, "102"], "k": 3})
        assert status == 200 and len(answer["items"]) == 3
        assert client.get("/similar?item=999&k=3")[0] == 404
        start = time.monotonic()  # the client keeps its connection open
        rc = proc.terminate(timeout=30)
        elapsed = time.monotonic() - start
    finally:
        proc.stop()
    assert rc == 0, proc.output
    assert elapsed < 15, f"SIGTERM took {elapsed:.1f} s"
    assert "Shutting down" in proc.output


ENTRIES = {
    "python -m item2vec.serving": ("-m", "item2vec.serving"),
    "item2vec serve": ("-m", "item2vec", "serve"),
}


def _serve(entry: str, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, *ENTRIES[entry], *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_model_that_cannot_be_loaded_is_exit_1(models, tmp_path, entry):
    bad = _corrupt(models["dirs"]["a"], tmp_path / "bad", "flipped")
    done = _serve(entry, str(bad), "--port", "0")
    assert done.returncode == 1
    assert "cannot serve" in done.stderr and "vectors.npy" in done.stderr


@pytest.mark.parametrize("entry", ENTRIES)
def test_invalid_options_are_exit_2(models, entry):
    done = _serve(entry, str(models["dirs"]["a"]), "--max-k", "0")
    assert done.returncode == 2 and "--max-k must be >= 1, got 0" in done.stderr
    done = _serve(entry, "--help")
    assert done.returncode == 0
    for option in ("--host", "--port", "--watch", "--max-k", "--max-history", "--max-batch"):
        assert option in done.stdout
    assert "127.0.0.1" in done.stdout and "no authentication" in done.stdout
