"""The search space of :func:`~item2vec.tuning.search.tune` and the checks of its parameters.

:data:`DEFAULT_SPACE` is what is searched by default; :func:`check_params` validates
``base_params`` and a space (names, then every value) before any training.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..config import Config
from ..exceptions import ParameterError
from .trainers import TrialTrainer

__all__ = ["DEFAULT_SPACE", "NOT_SEARCHABLE", "check_params", "config_args"]

#: The default search space (values drawn uniformly). Epochs are not in it: they are the
#: resource successive halving hands out, from ``min_epochs`` to ``max_epochs``.
DEFAULT_SPACE: dict[str, list[Any]] = {
    "ns_exponent": [-1.0, -0.5, 0.0, 0.5, 0.75, 1.0],
    "window": [1, 2, 3, 5],
    "sample": [0.0, 1e-5, 1e-4, 1e-3],
    "dim": [32, 64, 128],
    "mode": ["skipgram", "cbow"],
}


#: Item2Vec arguments the search never varies (epochs is the halving resource).
NOT_SEARCHABLE = ("epochs", "seed", "progress", "checkpoint_dir", "checkpoint_every", "device")


def config_args(params: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Config` fields among Item2Vec arguments (``index`` is not one)."""
    return {k: v for k, v in params.items() if k in Config.__dataclass_fields__}


def check_params(space: Any, base: dict[str, Any], trainer: TrialTrainer | None) -> dict[str, list]:
    """Validate ``base_params`` and the space (names, then every value); return the space."""
    clash = sorted(set(base) & {"epochs", "seed"})
    if clash:
        raise ParameterError(f"base_params must not set {', '.join(clash)}: tune sets them")
    if trainer is None:  # Item2Vec: names and values are checked against Config
        allowed: set[str] | None = set(Config.__dataclass_fields__) - set(NOT_SEARCHABLE)
        unknown = sorted(set(base) - set(Config.__dataclass_fields__) - {"index"})
        if unknown:
            raise ParameterError(f"unknown parameter in base_params: {unknown[0]!r}")
        Config(**config_args(base)).validate()
    else:  # a custom trainer: names are checked against its signature
        sig = inspect.signature(trainer).parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.values())
        allowed = None if var_kw else set(list(sig)[1:]) - {"epochs", "seed"}
    if not isinstance(space, Mapping) or not space:
        raise ParameterError(
            f"space must be a non-empty dict of parameter -> list of values, got {space!r}"
        )
    out: dict[str, list] = {}
    for name, values in space.items():
        if name == "epochs":
            raise ParameterError(
                "space['epochs']: epochs is the resource successive halving hands out; "
                "set min_epochs and max_epochs instead"
            )
        if allowed is not None and name not in allowed:
            raise ParameterError(
                f"unknown parameter in space: {name!r}; searchable: {', '.join(sorted(allowed))}"
            )
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise ParameterError(f"space[{name!r}] must be a list of values, got {values!r}")
        if len(values) == 0:
            raise ParameterError(f"space[{name!r}] is empty: give at least one value")
        for v in values if trainer is None else ():
            try:
                Config(**{**config_args(base), name: v}).validate()
            except ParameterError as e:
                raise ParameterError(f"space[{name!r}] holds an invalid value: {e}") from None
        out[name] = list(values)
    return out
