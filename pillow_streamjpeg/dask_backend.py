"""The Dask backend: a dask array's bands encoded as tasks on the active Dask scheduler.

Restart intervals are whole MCU rows of about ``options.INTERVAL_PIXELS`` by
default (none for an image that fits in one), so bands of whole intervals
(the default band size is rounded to them) can be encoded anywhere and
concatenated in order. ``DaskBackend`` is a backend of the scan writer
(``scan.write_jpeg`` writes the header, the pieces in order, EOI, and builds
optimized tables from the summed counts, as for the local thread pool): each
Dask task encodes one band of rows (a whole number of strips) with the same
``strips.StripCoder`` as the local backend and returns its compressed bytes,
RSTn markers included (none after the image's last strip); the bands come back
in order as they arrive, with a bounded number in flight. A band that starts
inside an interval (the array's chunks or ``band_rows`` decide; other intervals
come from Pillow's ``restart_marker_blocks`` / ``restart_marker_rows``) also
takes the strip before it and returns Parts, joined at bit level by the scan
writer, as the local backend's tasks do. The
output is byte-identical to the local encoder's for the same pixels and
options. With optimize=True, a first round of tasks counts the Huffman symbols
of each band, summed in a tree of small tasks.

Dask is an optional dependency (``pip install "pillow_streamjpeg[dask]"``):
this module imports it, and ``pipeline.encode`` imports this module only for a
Dask array source. (Named so as not to shadow the ``distributed`` package.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "encoding a Dask array needs dask: pip install 'pillow_streamjpeg[dask]'"
    ) from exc

from .options import Settings, available_cpus, whole_number
from .sources.arrays import ArraySource, as_band
from .strips import Part, StripCoder

#: Bytes of pixels a band aims at when the source's chunks are small or have to
#: be regrouped: 8 MiB is about 90 ms of encoding for one thread, against about
#: 1 ms of scheduling a task, and still gives a 25 MP image 9 bands to spread.
BAND_BYTES = 8 << 20

#: Bands submitted and not yet written, per worker thread of the cluster, at least.
BANDS_PER_THREAD = 3

#: Bytes of pixels of the bands submitted and not yet written, at most (unless
#: that is fewer than BANDS_PER_THREAD bands a thread): enough bands to hide the
#: round trip of a task when bands are small, and a bound on the compressed
#: bytes waiting in the caller to be written in order.
BYTES_IN_FLIGHT = 128 << 20


class DaskBackend:
    """The scan writer's backend for a uint8 dask array of shape (h, w) or (h, w, 1|3|4).

    ``source`` is the array as a Source (mode, size, channels, and the
    inversion of its mode), as the local encoder takes it; nothing is computed
    before the scan writer asks.

    :param client: the ``distributed.Client`` to run on (default: the current
        one, else Dask's local scheduler).
    :param band_rows: rows a band aims at when the source's row chunks do not
        fall on strip boundaries (default: about 8 MiB of pixels); bands
        otherwise follow the source's chunks (merging chunks smaller than that).
    :param max_in_flight: bands submitted and not yet written (default: as many
        as hold 128 MiB of pixels, and at least three per worker thread); bounds
        the caller's memory.
    """

    def __init__(self, array: da.Array, mode: str | None = None, *, client: Any = None,
                 band_rows: int | None = None, max_in_flight: int | None = None) -> None:
        if any(np.isnan(n) for n in array.shape):
            raise ValueError(f"cannot encode a dask array of unknown shape {array.shape}; "
                             "call compute_chunk_sizes() first")
        for name, value in (("max_in_flight", max_in_flight), ("band_rows", band_rows)):
            if value is not None and (whole_number(value) or 0) < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if client is not None and not (hasattr(client, "compute") and hasattr(client, "nthreads")):
            raise TypeError(f"client must be a distributed.Client, not {type(client).__name__} "
                            f"{client!r} (connect first: Client({client!r}))")
        band_rows = None if band_rows is None else whole_number(band_rows)
        max_in_flight = None if max_in_flight is None else whole_number(max_in_flight)
        self.array = array
        self.source = ArraySource(array, mode)
        self.client = client
        self.band_rows = band_rows
        self.max_in_flight = max_in_flight

    def counts(self, settings: Settings) -> Iterator[tuple[int, np.ndarray]]:
        """The whole image's symbol counts, as Dask tasks (one per band), summed in a tree."""
        counts = dask.delayed(band_counts, pure=True)
        settings_key = dask.delayed(settings, pure=True, traverse=False)
        invert = self.source.invert
        bounds, blocks, _ = _band_blocks(self.array, settings, self.band_rows)
        firsts = np.cumsum((0,) + bounds[:-1]) // settings.strip_height
        rest = tuple(self.array.shape[1:])
        total = _tree_sum([counts(block, settings_key, int(first), invert, (rows,) + rest)
                           for block, first, rows in zip(blocks, firsts, bounds)])
        client = _client(self.client)
        try:
            if client is not None:
                result = client.compute(total).result()
            else:
                result = dask.compute(total)[0]
        except Exception as exc:
            # one summed result: the failing band is not known, its pass is
            if hasattr(exc, "add_note"):
                exc.add_note(f"while counting the Huffman symbols of image rows "
                             f"0..{settings.height - 1} (optimize=True) as Dask tasks")
            raise
        yield settings.height, result

    def pieces(self, settings: Settings) -> Iterator[tuple[int, bytes]]:
        """The bands' bytes in order, as their tasks finish."""
        tasks = band_tasks(self.array, settings, self.source.invert, self.band_rows)
        client = _client(self.client)
        if client is not None:
            threads = sum(client.nthreads().values()) or 1  # no worker has joined yet: 1
        else:
            threads = dask.config.get("num_workers", None) or available_cpus()
        in_flight = self.max_in_flight
        if in_flight is None:
            band_bytes = max(rows for _, rows, _ in tasks) * self.array.nbytes // self.array.shape[0]
            in_flight = max(BANDS_PER_THREAD * threads, BYTES_IN_FLIGHT // band_bytes)
        if client is not None:
            bands = _bands_distributed(client, tasks, in_flight)
        else:
            bands = _bands_local(tasks, in_flight)
        try:
            for (_, rows, _), data in zip(tasks, bands):
                yield rows, data
        finally:
            bands.close()


def band_bounds(row_chunks: Sequence[int], strip_height: int, band_rows: int) -> tuple[int, ...]:
    """Rows of each band: whole strips (but the last), following the source's chunks if possible.

    When every chunk boundary falls on a strip boundary, bands are runs of
    consecutive chunks of at most ``band_rows`` rows (a chunk larger than that
    is a band of its own), so no chunk is read by two tasks. Otherwise bands
    are ``band_rows`` rows each (a multiple of the strip height).
    """
    height = sum(row_chunks)
    bounds: list[int] = []
    if all(n % strip_height == 0 for n in row_chunks[:-1]):
        rows = 0
        for n in row_chunks:
            if rows and rows + n > band_rows:
                bounds.append(rows)
                rows = 0
            rows += n
        if rows:
            bounds.append(rows)
        return tuple(bounds)
    step = max(strip_height, band_rows // strip_height * strip_height)
    full, rest = divmod(height, step)
    return (step,) * full + ((rest,) if rest else ())


def _band(block: Any, shape: tuple[int, ...] | None, settings: Settings, first: int,
          invert: bool) -> np.ndarray:
    """``as_band`` of a computed chunk, which must be the uint8 ``shape`` its Dask array
    declares (a chunk that computes to other rows would leave the scan short or long: a
    corrupt file; other samples would be cast or misread)."""
    block = np.asarray(block)
    if shape is not None and (block.shape != tuple(shape) or block.dtype != np.uint8):
        top = first * settings.strip_height
        raise ValueError(
            f"the Dask chunk of image rows {top}..{top + shape[0] - 1} computed to "
            f"{block.shape} {block.dtype}, not the {tuple(shape)} uint8 its array declares")
    return as_band(block, invert)


def encode_band(block: np.ndarray, settings: Settings, first: int, invert: bool,
                before: np.ndarray | None = None,
                shape: tuple[int, ...] | None = None) -> bytes | list[Part]:
    """The compressed bytes of one band whose first strip is strip ``first``.

    Runs in a Dask task: the rows packed as ``ArraySource`` packs them, coded
    by the same StripCoder as the local backend. A band that starts inside a
    restart interval gets the rows of the strip before it (``before``), and
    gives Parts that the scan writer joins at bit level (``StripCoder.encode``).
    ``shape``: the band's as its array declares it, checked (``_band``).
    """
    band = _band(block, shape, settings, first, invert)
    count = -(-block.shape[0] // settings.strip_height)
    task = [(band, 0, first, count)]
    if before is not None:
        task.insert(0, (as_band(before, invert), 0, first - 1, 0))
    return StripCoder(settings).encode(task)


def band_counts(block: np.ndarray, settings: Settings, first: int, invert: bool,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Huffman symbol counts of one band's strips from strip ``first``, for optimized tables.

    Runs in a Dask task: ``StripCoder.count`` over the band's strips, into
    int64 counts of shape (2 * table sets, 256) (DC then AC of each set).
    Counts of bands add up to those of the image: every strip starts its DC
    prediction afresh, as a restart interval does. ``shape`` as ``encode_band``'s.
    """
    band = _band(block, shape, settings, first, invert)
    count = -(-block.shape[0] // settings.strip_height)
    return StripCoder(settings).count([(band, 0, first, count)])


def _tree_sum(parts: list) -> Any:
    add = dask.delayed(np.add, pure=True)
    while len(parts) > 1:
        parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _band_blocks(array: da.Array, settings: Settings,
                 band_rows: int | None) -> tuple[tuple[int, ...], list, da.Array]:
    """Rows of each band, the delayed band arrays, and the array in chunks of those bands."""
    height = settings.strip_height
    if band_rows is None:
        band_rows = BAND_BYTES // (settings.width * array.dtype.itemsize
                                   * (array.shape[2] if array.ndim == 3 else 1))
    band_rows = max(height, band_rows // height * height)
    interval = height * settings.strips_per_interval  # rows of a restart interval
    if band_rows >= interval:
        band_rows = band_rows // interval * interval  # bands of whole intervals if they fit
    bounds = band_bounds(array.chunks[0], height, band_rows)
    chunks = (bounds,) + tuple((n,) for n in array.shape[1:])
    banded = array.rechunk(chunks)
    # without per-object graph optimization: it renames and fuses each chunk's task, so a
    # band's "before" strip (band_tasks) would compute the chunk before again
    return bounds, list(banded.to_delayed(optimize_graph=False).ravel()), banded


def band_tasks(array: da.Array, settings: Settings, invert: bool,
               band_rows: int | None = None) -> list[tuple[int, int, Any]]:
    """(first row, rows, delayed bytes or Parts) of each band of the image, in order.

    A band that starts inside a restart interval also takes the strip before it
    (the last rows of the band before, a slice of that band's chunk).
    """
    height = settings.strip_height
    bounds, blocks, banded = _band_blocks(array, settings, band_rows)
    encode = dask.delayed(encode_band, pure=True)
    settings_key = dask.delayed(settings, pure=True, traverse=False)  # one key, not a copy per band
    tasks = []
    top = 0
    for rows, block in zip(bounds, blocks):
        first = top // height
        before = None
        if not settings.starts_interval(first):
            before = banded[top - height:top].to_delayed(optimize_graph=False).ravel()[0]
        name = f"streamjpeg-band-{top}-{tokenize(block.key, settings, invert)}"
        tasks.append((top, rows, encode(block, settings_key, first, invert, before,
                                        (rows,) + tuple(array.shape[1:]), dask_key_name=name)))
        top += rows
    return tasks


def _client(client: Any) -> Any:
    """The distributed client to use, or None for Dask's local schedulers."""
    if client is not None:
        return client
    import sys

    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        candidate = default_client()
    except ValueError:
        return None
    # A client is the scheduler unless the configuration picks another one.
    scheduler = dask.config.get("scheduler", None)
    if scheduler not in (None, "dask.distributed", "distributed"):
        return None
    return candidate


def _failed(exc: BaseException, top: int, rows: int) -> BaseException:
    note = f"while encoding image rows {top}..{top + rows - 1} as a Dask task"
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    return exc


def _bands_distributed(client: Any, tasks: list, in_flight: int) -> Iterator[bytes]:
    """Band bytes in order, at most ``in_flight`` bands submitted and not yet yielded."""
    from distributed import as_completed

    done: dict[int, bytes] = {}
    futures: dict[Any, int] = {}
    pending = as_completed(with_results=True, raise_errors=False)
    submitted = 0
    following = 0
    try:
        while following < len(tasks):
            while submitted < len(tasks) and submitted - following < in_flight:
                future = client.compute(tasks[submitted][2])
                futures[future] = submitted
                pending.add(future)
                submitted += 1
            future, result = next(pending)
            index = futures.pop(future)
            if future.status != "finished":
                top, rows, _ = tasks[index]
                try:
                    future.result()
                except BaseException as exc:
                    _failed(exc, top, rows)
                    raise
                raise RuntimeError(f"Dask task {future.key} of image rows {top}.. "
                                   f"ended {future.status}")
            done[index] = result
            future.release()
            while following in done:
                yield done.pop(following)
                following += 1
    finally:
        for future in futures:
            future.cancel()
        pending.clear()
        # a raised exception's traceback keeps this frame: what it holds would stay alive
        # (finished bands' bytes, futures that keep their tasks on the scheduler)
        futures.clear()
        done.clear()
        future = result = None


def _bands_local(tasks: list, in_flight: int) -> Iterator[bytes]:
    """Band bytes in order from Dask's local scheduler, ``in_flight`` bands at a time."""
    for start in range(0, len(tasks), in_flight):
        window = tasks[start:start + in_flight]
        try:
            results = dask.compute(*(task for _, _, task in window))
        except Exception as exc:
            # Dask's local schedulers do not say which band failed.
            top = window[0][0]
            rows = window[-1][0] + window[-1][1] - top
            raise _failed(exc, top, rows) from None
        yield from results
