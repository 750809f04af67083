"""Saves' settings kept for the next save of the same mode, size and options, with what is derived from them.

A save's setup (``options.parse``, the header, the kernels' frame and code tables)
cost a 256 x 256 tile about 60 to 100 us of its 160 to 350 (docs/performance.md,
"A save's setup kept for the next save"): a tile writer saves thousands of images of
one size with the same options. ``Parsed`` keeps the Settings of recent option sets,
keyed by the options' values and their types; ``derived`` keeps values computed from
one of those Settings objects with it. A Settings object not kept (made by
``dataclasses.replace``, or unpickled by a Dask worker) has its values computed
each time, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Container, Hashable, Mapping
from typing import Any, TypeVar

#: Option sets kept (the least recently used dropped first).
PARSED_KEPT = 64

#: Types of option values a key holds as they are (with their type: True and 1, or 90
#: and 90.0, are different keys); any other value (lists, arrays, NumPy scalars,
#: ``Image.Exif``) leaves the options unkept, parsed each time.
PLAIN = frozenset({int, bool, float, str, bytes, type(None)})

#: Options whose bytes and strings hold more than this are parsed each time, not kept:
#: each photo's own EXIF or ICC profile would never be asked for again, and the store
#: would hold three copies of each (the key, the Settings' segments, the header).
KEPT_VALUE_BYTES = 16 << 10

#: Options naming one of Pillow's ``JpegPresets`` (a dict its users may change) are parsed
#: each time.
PRESET_OPTIONS = ("quality", "subsampling", "qtables")

T = TypeVar("T")

def key_of(mode: str, size: tuple[int, int], info: Mapping[str, Any],
           comment: Any, channels: int | None, names: Container[str]) -> Hashable | None:
    """The key of an image's mode, size, options and default comment; None where they are
    not kept: a value of another type than ``PLAIN`` or tuples of numbers, ``"keep"``
    (which reads the source image), a string of ``PRESET_OPTIONS`` other than ``names``
    (the caller's: Pillow's subsampling names; the others name presets), more than
    ``KEPT_VALUE_BYTES`` of bytes and text, a size that is not a tuple of ints."""
    items = []
    held = 0
    for name, value in info.items():
        kind = type(value)
        if kind in PLAIN:
            if kind is str and (value == "keep" or name in PRESET_OPTIONS
                                and value not in names):
                return None
            if kind is bytes or kind is str:
                held += len(value)
            items.append((name, kind, value))
        elif kind is tuple and all(type(v) in (int, float) for v in value):
            items.append((name, tuple(map(type, value)), value))  # dpi
        else:
            return None
    if (type(comment) not in PLAIN or type(size) is not tuple
            or any(type(n) is not int for n in size)):
        return None
    if type(comment) in (bytes, str):
        held += len(comment)
    if held > KEPT_VALUE_BYTES:
        return None
    return mode, size, channels, type(comment), comment, tuple(items)


class Parsed:
    """Settings made by ``build`` kept by key (``key_of``), while ``policy()`` (the
    modules' functions and constants that decide the settings) stays the same: a policy
    changed (a test or benchmark rebinding one of them) empties the store. (A constant
    changed in place, a dict's item, is not seen: patch by rebinding.)"""

    def __init__(self, policy: Callable[[], tuple]) -> None:
        self._policy = policy
        self._seen: tuple | None = None
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._derived: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable | None, build: Callable[[], T]) -> T:
        """The settings kept for ``key``, else ``build()`` (kept unless key is None)."""
        if key is None:
            return build()
        policy = self._policy()
        with self._lock:
            if policy != self._seen:
                self._kept.clear()
                self._derived.clear()
                self._seen = policy
            settings = self._kept.get(key)
            if settings is not None:
                self._kept.move_to_end(key)
                return settings
        settings = build()
        after = self._policy()  # not kept if the policy changed while it was built
        with self._lock:
            if after == policy and self._seen == policy and key not in self._kept:
                self._kept[key] = settings
                self._derived[id(settings)] = (settings, {})
                if len(self._kept) > PARSED_KEPT:
                    _, dropped = self._kept.popitem(last=False)
                    self._derived.pop(id(dropped), None)
        return settings

    def derived(self, settings: Any, name: str, build: Callable[[Any], T]) -> T:
        """``build(settings)``, kept with ``settings`` if it is a kept Settings object
        (the same object, not an equal one), else computed each time."""
        entry = self._derived.get(id(settings))
        if entry is None or entry[0] is not settings:
            return build(settings)
        values = entry[1]
        value = values.get(name)
        if value is None:
            value = values[name] = build(settings)
        return value
