"""A model for the consistency suite: it answers a digest of exactly the feature values it was given.

Saved with the ``python`` flavor (this file and its JSON state), so the HTTP paths can be checked
end to end: the prediction for a row equals :meth:`RowDigest.digest` of the training-frame row.
"""

from __future__ import annotations

import zlib
from typing import Any

from cons_oracle import canonical


class RowDigest:
    def __init__(self, feature_names: list[str], types: dict[str, str]) -> None:
        self.feature_names = list(feature_names)
        self.types = dict(types)

    @staticmethod
    def digest(row: dict[str, Any], names: list[str]) -> float:
        """crc32 of the canonical cells of ``row``, in ``names`` order (the saved state's JSON
        may reorder ``types``, never the list)."""
        return float(zlib.crc32(repr([row[name] for name in names]).encode("utf-8")))

    def predict(self, frame: Any) -> list[float]:
        out = []
        for i in range(len(frame)):
            row = {name: canonical(frame[name].iloc[i], self.types[name]) for name in self.feature_names}
            out.append(self.digest(row, self.feature_names))
        return out
