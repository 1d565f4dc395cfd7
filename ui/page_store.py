"""The store of ui/page_memo.py: rendered pages by key, each with the database change epoch
it was rendered at (engine/runtime/change_epoch.py); least recently used out first, within a
count and a size in characters."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

PAGES_KEPT = 256                      # record pages are 17-60 KiB
CHARS_KEPT = 16 * 1024 * 1024         # all pages of one configuration revision in one worker
PAGE_CHARS_KEPT = 512 * 1024          # a bigger page (a record with a very long history) is rendered each time

Parts = tuple[str, ...]
"""A page as text with its CSRF token left out: joined with the token it is the page."""


class PageMemo:
    """Rendered pages by key, each with the change epoch it was rendered at."""

    def __init__(self, kept: int = PAGES_KEPT, chars: int = CHARS_KEPT, page_chars: int = PAGE_CHARS_KEPT) -> None:
        self.kept, self.chars, self.page_chars = kept, chars, page_chars
        self._pages: OrderedDict[Hashable, tuple[int, Parts, int]] = OrderedDict()
        self._chars = 0
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

    def put(self, key: Hashable, epoch: int, parts: Parts) -> bool:
        """Keeps the page unless it is too big or a page rendered at a later epoch is kept
        already (a slow render finishing after a fast one); True if kept."""
        size = sum(map(len, parts))
        with self._lock:
            found = self._pages.get(key)
            if size > self.page_chars or (found is not None and found[0] > epoch):
                return False
            if found is not None:
                self._chars -= found[2]
            self._pages[key] = (epoch, parts, size)
            self._pages.move_to_end(key)
            self._chars += size
            self.stored += 1
            while len(self._pages) > self.kept or self._chars > self.chars:
                self._chars -= self._pages.popitem(last=False)[1][2]
            return True

    def __len__(self) -> int:
        return len(self._pages)
