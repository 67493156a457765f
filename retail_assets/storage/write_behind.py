"""Write-behind: commit batch k on a writer thread while the caller computes batch k+1.

delta-rs, DuckDB, Arrow and numpy release the GIL in their heavy work, so on two cores the
writes of one batch overlap the computation of the next. Writes run one at a time, in
submission order, and a failed write stops the caller at its next submission: nothing after
a failed batch is ever committed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WriteBehind:
    """``with WriteBehind() as writer: previous = writer.submit(commit, batch) ... writer.finish()``"""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lakehouse-writer")
        self._pending: Future | None = None

    def submit(self, write: Callable[..., Any], *args: Any) -> Any:
        """Wait for the previous write (its result, or its exception raised here), then start
        ``write(*args)`` in the background. Returns the previous write's result (None at first)."""
        previous = self.finish()
        self._pending = self._executor.submit(write, *args)
        return previous

    def finish(self) -> Any:
        """Wait for the write in flight; its result (None if there is none)."""
        pending, self._pending = self._pending, None
        return None if pending is None else pending.result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.shutdown(wait=True)
