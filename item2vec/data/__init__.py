"""The data stage: interaction logs in, sessions out.

Reads a log (DataFrame, CSV, Parquet), checks and cleans its columns, groups events into
time-ordered sessions and maps item ids to dense rows (:class:`Sessions`,
:class:`Vocabulary`); bundled data sets (:mod:`item2vec.data.datasets`) and the seeded
next-event splits the evaluation uses (:mod:`item2vec.data.split`). The folder also holds
the bundled Online Retail log (``online_retail.parquet`` and its NOTICE).

May import: the top-level helpers (``exceptions``, ``checks``, ``arrays``). Nothing of the
other stages.
"""

from .sessions import Sessions
from .vocabulary import Vocabulary

__all__ = ["Sessions", "Vocabulary"]
