"""The demo's figures: training loss, next-item quality against the baselines, a map of the
item vectors. Each function writes one PNG (matplotlib's Agg backend, ``bbox_inches="tight"``
at :data:`DPI`) and returns what it drew, so that tests can check it.

- :func:`plot_loss`: the training loss per epoch.
- :func:`plot_quality`: HR@10 and NDCG@10 after each epoch, with a labelled horizontal line
  per baseline (and the model's final default score), so the model's number has context.
- :func:`plot_map`: the vectors of the frequent items on the plane that separates their
  k-means clusters best, coloured by cluster (named by the words that set its descriptions
  apart), a few well-separated items labelled with their descriptions; labels never overlap
  each other nor leave the axes.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DPI", "cluster_words", "discriminant_plane", "kmeans", "pca_2d", "plot_loss",
           "plot_map", "plot_quality"]  # fmt: skip

DPI = 150
"""Resolution of every figure: sharp in a report, a few hundred kB at most."""

#: Colours of the baselines, the same in every figure.
BASELINE_COLOURS = {"co-occurrence": "C2", "transitions": "C1", "sknn": "C4", "popularity": "C7"}
MODEL_COLOUR = "C0"
BLEND_COLOUR = "C3"

#: Words that say nothing about a product's kind, left out of the cluster names.
STOPWORDS = frozenset("SET PACK DESIGN THE AND WITH FOR OF SMALL LARGE MINI ASSORTED".split())


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _epoch_axis(ax: Any, epochs: Sequence[int]) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    lo, hi = min(epochs), max(epochs)
    if hi - lo < 12:
        ax.set_xticks(range(lo, hi + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(lo - 0.5, hi + 0.5)


def _save(fig: Any, path: str | Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)


def plot_loss(history: Sequence[Mapping[str, Any]], path: str | Path, negatives: int) -> None:
    """The mean training loss per epoch (``history``: ``Item2Vec.history_``)."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=DPI)
    ax.plot(epochs, [h["loss"] for h in history], marker="o", color=MODEL_COLOUR)
    ax.set_title("Training loss per epoch")
    ax.set_ylabel(f"cross-entropy per positive couple\nwith its {negatives} negatives (nats)")
    _epoch_axis(ax, epochs)
    ax.grid(alpha=0.3)
    _save(fig, path)


def _spread(values: Sequence[float], gap: float, lo: float, hi: float) -> list[float]:
    """Label heights near ``values`` but at least ``gap`` apart, inside ``[lo, hi]``: pushed
    up from the lowest, then down from ``hi`` if the top ones overflow."""
    order = np.argsort(values, kind="stable")
    ys = np.asarray(values, dtype=float)[order].copy()
    for i in range(len(ys)):
        ys[i] = max(ys[i], lo if i == 0 else ys[i - 1] + gap)
    for i in range(len(ys) - 1, -1, -1):
        ys[i] = min(ys[i], hi if i == len(ys) - 1 else ys[i + 1] - gap)
    out = np.empty_like(ys)
    out[order] = ys
    return out.tolist()


def plot_quality(
    history: Sequence[Mapping[str, Any]],
    reference: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    title: str,
    final: Mapping[str, float] | None = None,
    final_label: str = "item2vec, blend (default score), after training",
    curve_label: str = "item2vec, log_prob (the vectors alone), after each epoch",
) -> dict[str, list[str]]:
    """HR@10 and NDCG@10 after each epoch (``history``), a labelled horizontal line for
    each method of ``reference`` (name -> metrics, e.g. the baselines on the same split) and
    a star for ``final`` (the model's default score once trained). Returns the line labels
    drawn on each panel."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    metrics = {
        "HR@10": "HR@10\n(share of customers whose next\npurchase is in the top 10)",
        "NDCG@10": "NDCG@10\n(1 at rank 1, 1/log2(r+1) at rank r,\n0 beyond 10)",
    }
    fig, axes = plt.subplots(2, 1, figsize=(6.4, 6.6), dpi=DPI, sharex=True)
    drawn: dict[str, list[str]] = {}
    for ax, (metric, ylabel) in zip(axes, metrics.items(), strict=True):
        ax.plot(epochs, [h[metric] for h in history], marker="o", color=MODEL_COLOUR,
                label=curve_label, zorder=3)  # fmt: skip
        lines = [(v[metric], name, BASELINE_COLOURS.get(name, "0.4"), "--")
                 for name, v in reference.items()]  # fmt: skip
        if final is not None:
            ax.plot(epochs[-1], final[metric], marker="*", ms=13, color=BLEND_COLOUR,
                    ls="none", label=final_label, zorder=4)  # fmt: skip
            lines.append((final[metric], "item2vec blend", BLEND_COLOUR, None))
        top = max([v for v, *_ in lines] + [h[metric] for h in history])
        ax.set_ylim(0, top * 1.15)
        for value, _, colour, style in lines:
            if style is not None:
                ax.axhline(value, color=colour, ls=style, lw=1.2, zorder=2)
        # labels right of the axes, at the lines' heights, spread so that none overlap
        height_pt = ax.get_position().height * fig.get_figheight() * 72
        gap = 1.35 * 8 / height_pt * top * 1.15
        ys = _spread([v for v, *_ in lines], gap, 0, top * 1.15)
        to_axes = ax.get_yaxis_transform()  # x in axes fractions, y in data
        drawn[metric] = []
        for (value, name, colour, _), y in zip(lines, ys, strict=True):
            text = f"{name} {value:.3f}"
            ax.annotate(text, (1.0, value), xycoords=to_axes, xytext=(1.03, y),
                        textcoords=to_axes, va="center", fontsize=8, color=colour,
                        annotation_clip=False,
                        arrowprops=dict(arrowstyle="-", color=colour, lw=0.6,
                                        shrinkA=0, shrinkB=1))  # fmt: skip
            drawn[metric].append(text)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.grid(alpha=0.3)
    _epoch_axis(axes[-1], epochs)
    axes[0].set_title(title, fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="0.4", ls="--"))
    labels.append("baselines on the same split (labelled on the right)")
    axes[-1].legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                    fontsize=8, frameon=False)  # fmt: skip
    _save(fig, path)
    return drawn


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project normalised vectors (n, dim) on their first two principal components (n, 2)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def discriminant_plane(x: np.ndarray, labels: np.ndarray, shrink: float = 0.1) -> np.ndarray:
    """Coordinates (n, 2) of the rows of ``x`` (n, dim) on the plane that best separates the
    groups ``labels``: Fisher's linear discriminant axes (between-group scatter against
    within-group scatter), the within-group covariance shrunk towards its mean variance by
    ``shrink``. Units: within-group standard deviations."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    groups = np.unique(labels)
    centres = np.stack([x[labels == g].mean(axis=0) for g in groups])
    rank = {g: i for i, g in enumerate(groups)}
    within = x - centres[[rank[g] for g in labels]]
    cov = within.T @ within / len(x)
    cov += shrink * np.trace(cov) / len(cov) * np.eye(len(cov))
    sizes = np.array([(labels == g).sum() for g in groups], dtype=np.float64)
    between = (centres * sizes[:, None]).T @ centres / len(x)
    values, vectors = np.linalg.eigh(cov)
    whiten = vectors / np.sqrt(np.maximum(values, 1e-12))
    _, axes = np.linalg.eigh(whiten.T @ between @ whiten)  # ascending
    plane = whiten @ axes[:, ::-1][:, :2]
    xy = x @ plane
    return xy * np.where(np.median(xy, axis=0) < 0, -1.0, 1.0)  # a fixed orientation


def kmeans(unit: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Cluster of each row of ``unit`` (n, dim), unit vectors: spherical k-means with FAISS
    (seeded, 25 iterations)."""
    import faiss

    x = np.ascontiguousarray(unit, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False)
    km.train(x)
    return km.index.search(x, 1)[1][:, 0].astype(np.int64)


def cluster_words(texts: Sequence[str], labels: np.ndarray, n_words: int = 3) -> list[list[str]]:
    """The words that set each cluster's texts apart: a word's share of the cluster's texts
    ``p`` against its share of all texts ``q``, scored ``p log(p / q)`` (at least 3 texts)."""
    words = [set(re.findall(r"[A-Za-z][A-Za-z']{2,}", str(t).upper())) - STOPWORDS for t in texts]
    everywhere = Counter(w for ws in words for w in ws)
    out = []
    for c in range(int(labels.max(initial=-1)) + 1):
        inside = [words[i] for i in np.flatnonzero(labels == c)]
        counts = Counter(w for ws in inside for w in ws)
        score = {w: n / len(inside) * np.log(n / len(inside) * len(words) / everywhere[w])
                 for w, n in counts.items() if n >= 3}  # fmt: skip
        best = sorted(score, key=lambda w: (-score[w], w))[:n_words]
        out.append([w.lower() for w in best])
    return out


def _short(text: str, width: int = 36) -> str:
    return textwrap.shorten(" ".join(str(text).split()).capitalize(), width, placeholder="...")


def _place_labels(ax: Any, xy: np.ndarray, rows: Sequence[int], texts: Sequence[str],
                  colours: Sequence[str], max_labels: int) -> list[tuple[int, Any]]:  # fmt: skip
    """Label points ``rows`` of ``xy`` (in order of preference) with ``texts``: each label
    tries four corners around its point and is kept only where it stays inside the axes and
    clear of the labels and labelled points already placed; points near a labelled one are
    skipped. Returns ``(row, bbox)``s."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    spots = [(7, 7, "left", "bottom"), (-7, 7, "right", "bottom"),
             (7, -7, "left", "top"), (-7, -7, "right", "top")]  # fmt: skip
    placed: list[tuple[int, Any]] = []
    obstacles: list[Any] = []
    points: list[tuple[float, float]] = []
    spans: list[Any] = []  # each placed label with its point
    min_gap = 0.09 * min(frame.width, frame.height)  # labelled points keep apart
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    for row, text, colour in zip(rows, texts, colours, strict=True):
        if len(placed) == max_labels:
            break
        px, py = ax.transData.transform(xy[row])
        dot = Bbox.from_extents(px - 4, py - 4, px + 4, py + 4)
        near = [np.hypot(px - q[0], py - q[1]) < min_gap for q in points]
        if any(near) or any(dot.overlaps(b) for b in obstacles):
            continue
        for dx, dy, ha, va in spots:
            ann = ax.annotate(text, xy[row], xytext=(dx, dy), textcoords="offset points",
                              ha=ha, va=va, fontsize=7.5, zorder=5,
                              bbox=dict(boxstyle="round,pad=0.25", fc="white", ec=colour,
                                        lw=1.0, alpha=0.9),
                              arrowprops=dict(arrowstyle="-", color="0.2", lw=0.6))  # fmt: skip
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer).padded(6)  # the text, no arrow
            span = Bbox.union([box, dot])  # the text, its point and the line between them
            inside = (box.x0 >= frame.x0 and box.x1 <= frame.x1
                      and box.y0 >= frame.y0 and box.y1 <= frame.y1)  # fmt: skip
            clear = not any(span.overlaps(b) for b in obstacles) and not box.overlaps(dot)
            if inside and clear and not any(b.overlaps(box) for b in spans):
                ax.scatter(*xy[row], s=30, color="white", edgecolors="black", lw=1.2, zorder=4)
                obstacles += [box, dot]
                spans.append(span)
                points.append((px, py))
                placed.append((row, box))
                break
            ann.remove()
    return placed


def plot_map(
    vectors: np.ndarray,
    counts: np.ndarray,
    descriptions: Sequence[str],
    path: str | Path,
    *,
    min_count: int = 50,
    n_clusters: int = 5,
    first: Sequence[int] = (),
    max_labels: int = 9,
    noun: str = "items",
    seed: int = 0,
) -> dict[str, Any]:
    """A 2-D map of the vectors of the items seen at least ``min_count`` times.

    The unit vectors are clustered (:func:`kmeans`, ``n_clusters``) and projected on the
    plane that separates the clusters best (:func:`discriminant_plane`): a plane cannot keep
    every distance of the full space, so it is chosen to show the groups. Each cluster is
    named in the legend by :func:`cluster_words` of its items' ``descriptions`` (one per
    vocabulary row). Up to
    ``max_labels`` items are labelled: the most frequent item of each cluster's core (its
    items nearest the cluster's centre on the map), the rows of ``first`` that are shown,
    then the next frequent core items of each cluster in turn, wherever a label fits and
    away from the points already labelled. Returns the rows shown,
    their clusters, the cluster names and the labelled rows with their boxes (display units).
    """
    plt = _pyplot()
    counts = np.asarray(counts)
    shown = np.flatnonzero(counts >= min_count)
    if len(shown) < 10 * n_clusters:  # a small log: its most frequent items
        shown = np.sort(np.argsort(-counts, kind="stable")[: max(10 * n_clusters, len(shown))])
    v = np.asarray(vectors, dtype=np.float64)[shown]
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    k = min(n_clusters, len(shown))
    labels = kmeans(unit, k, seed)
    sizes = np.bincount(labels, minlength=k).astype(float)
    xy = discriminant_plane(unit, labels)
    texts = [descriptions[r] for r in shown]
    names = cluster_words(texts, labels)

    fig, ax = plt.subplots(figsize=(7.5, 6.2), dpi=DPI)
    for c in np.argsort(-sizes, kind="stable"):
        sel = labels == c
        name = ", ".join(names[c]) or f"cluster {c + 1}"
        ax.scatter(xy[sel, 0], xy[sel, 1], s=7, alpha=0.55, color=f"C{c % 10}", lw=0,
                   label=f"{name} ({int(sizes[c]):,} items)")  # fmt: skip
    pad = 0.06 * (xy.max(axis=0) - xy.min(axis=0))
    ax.set_xlim(xy[:, 0].min() - pad[0], xy[:, 0].max() + pad[0])
    ax.set_ylim(xy[:, 1].min() - pad[1], xy[:, 1].max() + pad[1])
    ax.set_xlabel("discriminant axis 1 (within-cluster standard deviations)")
    ax.set_ylabel("discriminant axis 2 (within-cluster standard deviations)")
    ax.set_title(f"Item vectors of the {len(shown):,} {noun} seen {int(counts[shown].min())}+ "
                 f"times in training,\ncoloured by k-means cluster (cosine, {k} clusters)",
                 fontsize=10)  # fmt: skip
    ax.legend(title=f"cluster: the words that set its {noun}' descriptions apart", fontsize=7.5,
              title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              markerscale=2.5)  # fmt: skip
    # label candidates: first the most frequent item of each cluster's core (the items
    # nearest the cluster's centre on the map), then ``first``, then the next ones in turn
    position = {r: i for i, r in enumerate(shown)}
    cores = []
    for c in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        dist = np.linalg.norm(xy[members] - xy[members].mean(axis=0), axis=1)
        core = members[dist <= np.quantile(dist, 0.4)]
        cores.append(sorted(core.tolist(), key=lambda i: (-counts[shown[i]], i)))
    order = [m[0] for m in cores] + [position[r] for r in first if r in position]
    for rank in range(1, max(map(len, cores), default=0)):
        order += [m[rank] for m in cores if rank < len(m)]
    order = list(dict.fromkeys(order))[: 30 * max_labels]
    placed = _place_labels(ax, xy, order, [_short(texts[i]) for i in order],
                           [f"C{labels[i] % 10}" for i in order], max_labels)  # fmt: skip
    _save(fig, path)
    return {"rows": shown, "clusters": labels, "names": names,
            "labelled": [(int(shown[i]), box) for i, box in placed]}  # fmt: skip
