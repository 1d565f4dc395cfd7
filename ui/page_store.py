"""The store of ui/page_memo.py: rendered pages by key, each with the database change epoch
it was rendered at (engine/runtime/change_epoch.py); least recently used out first."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

PAGES_KEPT = 256      # record pages of 17-60 KiB: a few MiB per configuration revision and worker

Parts = tuple[str, ...]
"""A page as text with its CSRF token left out: joined with the token it is the page."""


class PageMemo:
    """Rendered pages by key, each with the change epoch it was rendered at."""

    def __init__(self, kept: int = PAGES_KEPT) -> None:
        self.kept = kept
        self._pages: OrderedDict[Hashable, tuple[int, Parts]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0           # answers served from here (tests and the benchmark read these)
        self.stored = 0         # pages rendered and kept

    def get(self, key: Hashable, epoch: int) -> Parts | None:
        with self._lock:
            found = self._pages.get(key)
            if found is None or found[0] != epoch:
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return found[1]

    def put(self, key: Hashable, epoch: int, parts: Parts) -> None:
        with self._lock:
            self._pages[key] = (epoch, parts)
            self._pages.move_to_end(key)
            self.stored += 1
            while len(self._pages) > self.kept:
                self._pages.popitem(last=False)
