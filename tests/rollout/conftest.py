"""Rollout tests reuse the serving tests' real-server helper (tests/serving/srv_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

_SERVING = str(Path(__file__).resolve().parent.parent / "serving")
if _SERVING not in sys.path:
    sys.path.append(_SERVING)
