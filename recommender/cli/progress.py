"""The one progress bar of the command line: tqdm on stderr, drawn only on a terminal."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.catalog import JobStatus


class ProgressBar:
    """A lazily created tqdm bar; ``update`` takes the amount done so far (not an increment).

    Args:
        description: Shown before the bar.
        unit: What is counted ("track", "s").
        disable: Draw nothing (``--json``, ``--quiet``); tqdm also stays silent when stderr is no terminal.
        leave: Keep the finished bar on screen.
    """

    def __init__(self, description: str, unit: str = "track", *, disable: bool = False, leave: bool = True) -> None:
        self.description, self.unit, self.disable, self.leave = description, unit, disable, leave
        self._bar: Any = None

    def update(self, done: float, total: float | None = None, **postfix: Any) -> None:
        if self.disable:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.description, unit=self.unit, disable=None, file=sys.stderr, leave=self.leave)
        if total is not None and math.isfinite(total):  # a stream of unknown length reports NaN
            self._bar.total = total
        self._bar.n = done
        if postfix:
            self._bar.set_postfix(refresh=False, **postfix)
        self._bar.refresh()

    def job(self, status: JobStatus) -> None:
        """Feed an ingestion :class:`~ingest.catalog.JobStatus`."""
        counts = status.counts
        self.update(status.processed, status.total, ingested=counts["ingested"], skipped=counts["skipped"], failed=counts["failed"])

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
