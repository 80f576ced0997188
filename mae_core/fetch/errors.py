"""What every step of a fetch shares: FetchError, the one-line failure that says which entry, what happened and
what was kept, and Progress, the (done_bytes, total_bytes_or_None) callback the downloads report to."""
from __future__ import annotations

from typing import Callable

from ..errors import MAEError

Progress = Callable[[int, "int | None"], None]


class FetchError(MAEError):
    """A download that failed or was refused (one line: which entry, what happened, what was kept).

    discard: the bytes failed a check and are deleted (an interrupted download keeps its partial file)."""

    def __init__(self, message: str, discard: bool = False):
        super().__init__(message)
        self.discard = discard
