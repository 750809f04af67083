"""The tasks a save codes (``StripCoder.encode`` and ``count``), recorded: by which thread, and whether one is being coded now."""

from __future__ import annotations

import threading

from pillow_streamjpeg import strips


class CodingThreads:
    """Records the thread of every task coded once ``watch`` is called."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self._local = threading.local()

    def watch(self, monkeypatch) -> CodingThreads:
        for name in ("encode", "count"):
            monkeypatch.setattr(strips.StripCoder, name, self._recorded(getattr(strips.StripCoder, name)))
        return self

    def coding(self) -> bool:
        """Whether the calling thread is coding a task (inside ``encode`` or ``count``)."""
        return getattr(self._local, "depth", 0) > 0

    def clear(self) -> None:
        self.threads.clear()

    def _recorded(self, method):
        def run(coder, task):
            self.threads.append(threading.current_thread())
            self._local.depth = getattr(self._local, "depth", 0) + 1
            try:
                return method(coder, task)
            finally:
                self._local.depth -= 1
        return run
