"""Optimal Huffman code lengths for ``optimize=True``, as libjpeg makes them (T.81 Annex K.2).

Built by Pythran as ``pillow_streamjpeg.huffman``; ``pillow_streamjpeg.tables`` calls it
for the optimize pass's tables (``tables.optimal_spec``), and the tests run this source as
plain Python against the build and against libjpeg's own scans.

libjpeg's ``jpeg_gen_optimal_table`` (jchuff.c) merges the two least frequent trees, each
found by a scan of all 257 symbols (on ties, the tree of the highest symbol, which the
merged tree goes on to stand for), and adds 1 to the code size of every symbol of both.
Here a binary heap of the trees, ordered by (frequency, -symbol), pops the same two trees
in the same order, and a symbol's code size is its depth in the tree of merges, counted once
at the end. No two trees tie (each stands for its own symbol), so any heap pops them in the
same order. In Python the same heap (``heapq``) took 90 us for an AC table of 163 symbols,
most of a small image's ``optimize=True`` save.
"""

import numpy as np

# pythran export code_sizes(int64[:], int32[:])


def _before(freq, rep, a, b):
    """Whether tree ``a`` comes before tree ``b``: less frequent, or as frequent and standing
    for a higher symbol (libjpeg's scans take the last of the least)."""
    return freq[a] < freq[b] or freq[a] == freq[b] and rep[a] > rep[b]


def _push(heap, n, t, freq, rep):
    """Put tree ``t`` into the heap of the first ``n`` items of ``heap``; returns n + 1."""
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(freq, rep, t, heap[parent]):
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = t
    return n + 1


def _pop(heap, n, freq, rep):
    """The first tree of the heap of the first ``n`` items (n > 0), taken out of it."""
    top = heap[0]
    n -= 1
    last = heap[n]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and _before(freq, rep, heap[child + 1], heap[child]):
            child += 1
        if not _before(freq, rep, heap[child], last):
            break
        heap[i] = heap[child]
        i = child
    heap[i] = last
    return top


def code_sizes(freq, sizes):
    """Each symbol's code length in an optimal code for ``freq`` into ``sizes`` (0: no code); returns the longest.

    ``freq``: the symbols' frequencies (0: no code), their sum below 2**63. ``sizes``: as
    long as ``freq``.
    """
    count = freq.shape[0]
    # trees: the symbols (0 .. count - 1), then the merged ones; each one's frequency, the
    # symbol it stands for and its parent
    weight = np.zeros(2 * count, np.int64)
    rep = np.zeros(2 * count, np.int64)
    parent = np.full(2 * count, -1, np.int64)
    heap = np.empty(count, np.int64)
    n = 0
    for s in range(count):
        weight[s] = freq[s]
        rep[s] = s
        if freq[s] > 0:
            n = _push(heap, n, s, weight, rep)
    node = count
    while n > 1:
        first = _pop(heap, n, weight, rep)
        n -= 1
        second = _pop(heap, n, weight, rep)
        n -= 1
        parent[first] = node
        parent[second] = node
        weight[node] = weight[first] + weight[second]
        rep[node] = rep[first]
        n = _push(heap, n, node, weight, rep)
        node += 1
    # a tree's parent is made after it: depths from the root down
    depth = np.zeros(node, np.int64)
    for t in range(node - 2, -1, -1):
        if parent[t] >= 0:
            depth[t] = depth[parent[t]] + 1
    longest = 0
    for s in range(count):
        sizes[s] = depth[s]
        if depth[s] > longest:
            longest = depth[s]
    return longest
