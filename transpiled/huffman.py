"""The optimize pass's Huffman work: optimal code lengths, as libjpeg makes them (T.81 Annex
K.2), and the symbols of a coded scan read back (``scan_counts``) and written again with
other codes (``scan_recode``).

Built by Pythran as ``pillow_streamjpeg.huffman``; ``pillow_streamjpeg.tables`` calls it
for the optimize pass's tables (``tables.optimal_spec``), ``pillow_streamjpeg.scan`` for a
small image's symbols (``scan.exactly_optimized``), and the tests run this source as
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
# pythran export spec_of_sizes(int32[:], int64[:], int64[:])
# pythran export scan_counts(uint8[:], int64[:, :], int64[:, :], int64[:], int64, int64, int64[:, :], int32[:])
# pythran export scan_recode(int32[:], int64, int64[:, :], uint8[:])


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


def spec_of_sizes(sizes, bits, values):
    """The specification of code sizes of at most 32 bits (``code_sizes``' of 257 symbols:
    the reserved one last) limited to 16 bits as T.81 K.3 (libjpeg) limits them, without the
    reserved code: bits[length - 1] the codes of each length 1..16, values the symbols by
    their size before the limit, then by symbol (as libjpeg orders them); returns how many.
    """
    count = np.zeros(33, np.int64)
    for s in range(sizes.shape[0]):
        if sizes[s] > 0:
            count[sizes[s]] += 1
    for i in range(32, 16, -1):
        # two codes of the longest length make one a length shorter, and a code of a shorter
        # length j two of length j + 1
        while count[i] > 0:
            j = i - 2
            while count[j] == 0:
                j -= 1
            count[i] -= 2
            count[i - 1] += 1
            count[j + 1] += 2
            count[j] -= 1
    i = 16
    while count[i] == 0:
        i -= 1
    count[i] -= 1  # the reserved code
    for length in range(1, 17):
        bits[length - 1] = count[length]
    n = 0
    for length in range(1, 33):
        for s in range(min(sizes.shape[0], 256)):
            if sizes[s] == length:
                values[n] = s
                n += 1
    return n


# The symbols of a coded scan ----------------------------------------------------------------
#
# ``optimize=True`` on a small image codes it once with a code of every symbol and reads the
# symbols back from those bytes, so that its tables give codes to exactly the symbols the
# image's scan holds (as libjpeg's, from the coefficients it keeps), then writes the same
# symbols again with those tables (``scan.exactly_optimized``).


def _fill(clean, q, acc, held):
    """Bytes of ``clean`` from ``q`` appended to the ``held`` bits of ``acc`` until it holds 55
    to 62 (zeros past its end: a damaged scan's last symbol may run past it); returns
    (q, acc, held)."""
    size = clean.shape[0]
    while held <= 54:
        acc <<= 8
        if q < size:
            acc |= np.int64(clean[q])
        q += 1
        held += 8
    return q, acc, held


def _symbol(acc, held, tab, look, maxcode, valoff, huffval):
    """(symbol, code length) of the code at the top of the ``held`` (16 or more) bits of
    ``acc`` in table ``tab``; length 0 if none."""
    peek = (acc >> (held - 16)) & 0xFFFF
    entry = look[tab, peek >> 8]
    if entry:
        return entry & 255, entry >> 8
    for length in range(9, 17):
        code = peek >> (16 - length)
        if code <= maxcode[tab, length]:
            return huffval[tab, valoff[tab, length] + code], length
    return 0, 0


def _put(out, pos, acc, pending, code, length):
    """Append the ``length`` low bits of ``code`` to the ``pending`` bits of ``acc`` (fewer
    than 8, not yet written) and write the whole bytes to ``out`` from ``pos``, a zero after
    each 0xFF (T.81 F.1.2.3); returns (pos, acc, pending)."""
    acc = (acc << length) | code
    pending += length
    while pending >= 8:
        pending -= 8
        byte = (acc >> pending) & 255
        out[pos] = byte
        pos += 1
        if byte == 0xFF:
            out[pos] = 0
            pos += 1
    acc &= (1 << pending) - 1
    return pos, acc, pending


def _pad(out, pos, acc, pending):
    """``_put``'s pending bits padded with 1-bits to a whole byte, as an interval ends;
    returns (pos, acc, pending)."""
    if pending:
        return _put(out, pos, acc, pending, (1 << (8 - pending)) - 1, 8 - pending)
    return pos, acc, pending


def _reading_tables(bits, huffval):
    """The decoding tables of the specifications (bits[t, length - 1]: codes of each length,
    huffval[t]: their symbols), as T.81 F.2.2.3 makes them: (look, maxcode, valoff). ``look``
    (libjpeg's look-ahead) holds the code of each 8-bit prefix: length << 8 | symbol, 0 where
    codes are longer; ``maxcode`` the last code of each length 1..16, -1 for none;
    ``valoff`` the index in ``huffval`` of the codes of each length, less the first one
    (VALPTR - MINCODE). ``ok`` is False for specifications of more codes than their lengths
    hold or than 256 symbols (a damaged DHT), whose tables are left incomplete."""
    count = bits.shape[0]
    look = np.zeros((count, 256), np.int64)
    maxcode = np.full((count, 18), -1, np.int64)
    valoff = np.zeros((count, 17), np.int64)
    ok = True
    for tab in range(count):
        code = 0
        k = 0
        for length in range(1, 17):
            number = bits[tab, length - 1]
            if number < 0 or code + number > (1 << length) or k + number > 256:
                ok = False
                break
            if number > 0:
                valoff[tab, length] = k - code
                for _ in range(number):
                    if length <= 8:
                        shift = 8 - length
                        for prefix in range(code << shift, (code + 1) << shift):
                            look[tab, prefix] = (length << 8) | huffval[tab, k]
                    code += 1
                    k += 1
                maxcode[tab, length] = code - 1
            code <<= 1
    return look, maxcode, valoff, ok


def scan_counts(data, bits, huffval, order, mcus, interval, counts, symbols):
    """Add the Huffman symbols of a baseline scan's entropy-coded data to counts[table, symbol]; returns how many items it put in ``symbols``, or -1 if it is not such a scan.

    ``data``: the bytes between SOS and EOI (stuffed, with RSTn markers). ``order``: the table
    set t of each block of an MCU, in the scan's order; its DC symbols are read with table 2 t
    and counted in ``counts[2 t]``, its AC ones with and in 2 t + 1. Each table's
    specification is a row of ``bits`` (the number of codes of each length 1..16) and of
    ``huffval`` (their symbols), as DHT gives them. ``mcus`` MCUs, a restart interval each
    ``interval`` (0: none). Every interval must end padded with at most 7 1-bits, as T.81
    F.1.2.3 pads it, and hold no more bytes. Where ``symbols`` has items (at least a
    quarter of the data's bits and one an interval), each symbol read and its extra bits go
    there for ``scan_recode``: table << 20 | symbol << 12 | extra bits, and -1 where an
    interval ends before another.
    """
    look, maxcode, valoff, ok = _reading_tables(bits, huffval)
    if not ok:
        return -1
    n = data.shape[0]
    clean = np.zeros(n, np.uint8)  # the data unstuffed
    bounds = np.zeros(n // 2 + 2, np.int64)  # where each interval's bytes end in ``clean``
    m = 0
    segments = 0
    i = 0
    while i < n:
        byte = data[i]
        if byte == 0xFF:
            if i + 1 >= n:
                return -1
            after = data[i + 1]
            if after == 0:
                clean[m] = 0xFF
                m += 1
            elif after == 0xD0 + (segments & 7):
                bounds[segments] = m
                segments += 1
            else:
                return -1
            i += 2
        else:
            clean[m] = byte
            m += 1
            i += 1
    bounds[segments] = m
    per = interval if interval > 0 else mcus
    if segments + 1 != (mcus + per - 1) // per:
        return -1
    records = symbols.shape[0] > 0
    blocks = order.shape[0]
    mcu = 0
    start = 0
    kept = 0  # items in ``symbols``
    for segment in range(segments + 1):
        end = 8 * bounds[segment]
        q = start  # the next byte of ``clean`` to read, the bits read ahead in acc
        acc = 0
        held = 0
        last = min(mcu + per, mcus)
        while mcu < last:
            for b in range(blocks):
                dc = 2 * order[b]
                k = 0  # the block's coefficient the next symbol codes (0: its DC)
                while k < 64:
                    if held < 32:
                        q, acc, held = _fill(clean, q, acc, held)
                    if 8 * q - held > end:
                        return -1
                    tab = dc if k == 0 else dc + 1
                    symbol, length = _symbol(acc, held, tab, look, maxcode, valoff, huffval)
                    if length == 0:
                        return -1
                    held -= length
                    counts[tab, symbol] += 1
                    run = 0
                    size = symbol
                    if k:
                        run = symbol >> 4
                        size = symbol & 15
                        if size > 10:
                            return -1
                    elif symbol > 11:
                        return -1
                    extra = (acc >> (held - size)) & ((1 << size) - 1)
                    held -= size
                    acc &= (1 << held) - 1
                    if records:
                        symbols[kept] = (tab << 20) | (symbol << 12) | extra
                        kept += 1
                    if k == 0:
                        k = 1
                    elif size:
                        k += run + 1
                        if k > 64:
                            return -1
                    elif run == 0:  # end of block
                        break
                    elif run == 15:  # sixteen zeros (the block's last ones, as decoders allow)
                        k += 16
                        if k > 64:
                            return -1
                    else:  # EOBn: not in a baseline scan
                        return -1
            mcu += 1
        q, acc, held = _fill(clean, q, acc, held)
        pad = end - (8 * q - held)
        if pad < 0 or pad > 7 or pad > 0 and (acc >> (held - pad)) != (1 << pad) - 1:
            return -1
        if records and segment < segments:
            symbols[kept] = -1
            kept += 1
        start = bounds[segment]
    return kept


def scan_recode(symbols, count, codes, out):
    """The first ``count`` items of ``symbols`` that ``scan_counts`` read written as a scan
    into ``out`` with other codes: each symbol's code in ``codes[table, symbol]`` as
    (length << 16) | code (0: none), its extra bits as they were, each interval padded with
    1-bits and followed by its RSTn, as T.81 F.1.2.3 has it; returns the bytes written, or -1
    if a symbol has no code. ``out``: at least 8 bytes an item and 8."""
    pos = 0
    acc = 0  # the bits written, not yet in whole bytes (``_put``)
    pending = 0
    ending = 0  # the restart intervals ended
    for i in range(count):
        item = np.int64(symbols[i])
        if item < 0:
            pos, acc, pending = _pad(out, pos, acc, pending)
            out[pos] = 0xFF
            out[pos + 1] = 0xD0 + (ending & 7)
            pos += 2
            ending += 1
            continue
        tab = item >> 20
        symbol = (item >> 12) & 255
        code = codes[tab, symbol]
        if code >> 16 == 0:
            return -1
        # the code and its extra bits in one: at most 16 + 11 bits after fewer than 8
        size = symbol if tab % 2 == 0 else symbol & 15
        pos, acc, pending = _put(out, pos, acc, pending,
                                 ((code & 0xFFFF) << size) | (item & 4095), (code >> 16) + size)
    pos, acc, pending = _pad(out, pos, acc, pending)
    return pos
