"""Compiled (numba) kernels of the resampling loops: one pass over the triplets or the
observed pairs per resample, both cores, a few ns per element.

Each kernel computes exactly what its numpy counterpart in :mod:`bgs.metrics.resampling`,
:mod:`bgs.metrics.permutation` or :mod:`bgs.human.reliability` computes, from the same
inputs; integer counts are equal, sums of floats equal to rounding (the order of the sums
differs). The draws are numpy's everywhere (stimulus multiplicities, permutations, participant
halves are passed in) except the triplet bootstrap's: its n draws per resample come from a
counter-based generator inside the kernel (:func:`triplet_multiplicities`), because numpy's
draws alone cost more than the whole kernel.

Correlations are accumulated over groups: a resample's statistic needs, per group of equal
human values, the number of copies and the sums of the model's centred ranks and values
(:func:`_human_side`); the model side is traversed in its order sorted once.
"""

from __future__ import annotations

import os

import numba as nb
import numpy as np
from numba import njit, prange

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53

#: Triplets drawn per block of the two-level triplet draw (a block's counts stay in L1).
BLOCK = 4096


def n_threads() -> int:
    return max(1, min(nb.config.NUMBA_NUM_THREADS, os.cpu_count() or 1))


# ---------------------------------------------------------------------- the generator
@njit(inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _stream(seed, b):
    """Start of the splitmix64 stream of resample ``b`` under ``seed``."""
    return _mix(_mix(np.uint64(seed) + _GOLDEN) ^ (np.uint64(b) * _M2 + _GOLDEN))


@njit(inline="always")
def _below(state, k):
    """(next state, a uniform integer in [0, k))."""
    state = state + _GOLDEN
    u = np.float64(_mix(state) >> np.uint64(11)) * _TO_UNIT
    return state, np.int64(u * k)


@njit(cache=True, nogil=True)
def _draw_blocks(state, n, counts):
    """Level 1 of a triplet resample: n uniform draws over [0, n), counted per block."""
    counts[:] = 0
    for _ in range(n):
        state, t = _below(state, n)
        counts[t // BLOCK] += 1
    return state


@njit(cache=True, nogil=True)
def _draw_in_block(state, count, size, w):
    """Level 2: ``count`` uniform draws within a block of ``size`` triplets, counted."""
    w[:size] = 0
    for _ in range(count):
        state, t = _below(state, size)
        w[t] += 1
    return state


@njit(cache=True, nogil=True)
def triplet_multiplicities(n, seed, b):
    """The multiplicities of triplet resample ``b`` (seed ``seed``) that the fused kernel
    draws: n draws with replacement, Multinomial(n; 1/n, …, 1/n) in distribution, drawn
    per block (block counts first, then positions within each block)."""
    n_blocks = (n + BLOCK - 1) // BLOCK
    counts = np.zeros(n_blocks, np.int64)
    state = _draw_blocks(_stream(seed, b), n, counts)
    out = np.zeros(n, np.int32)
    for blk in range(n_blocks):
        lo = blk * BLOCK
        size = min(BLOCK, n - lo)
        state = _draw_in_block(state, counts[blk], size, out[lo:lo + size])
    return out


# ---------------------------------------------------------------------- correlations
@njit(cache=True, nogil=True)
def _human_side(total, size, values):
    """The human side of a resample's correlations from its group sizes: ``size[g]``
    copies in group g (ascending values ``values``) of ``total``. Returns each group's
    centred average rank and centred value, and their weighted sums of squares (the value
    variance 0 where one group carries everything: its centred value may be a rounding
    error off 0). The model side then only gathers from these per pair."""
    mid = (total + 1) / 2
    mean_y = 0.0
    for g in range(len(size)):
        mean_y += size[g] * values[g]
    mean_y /= total
    ry = np.empty(len(size))
    yc = np.empty(len(size))
    vy_r = vy_x = before = 0.0
    carried = 0
    for g in range(len(size)):
        ry[g] = before + 0.5 * size[g] + 0.5 - mid
        before += size[g]
        yc[g] = values[g] - mean_y
        vy_r += size[g] * ry[g] * ry[g]
        vy_x += size[g] * yc[g] * yc[g]
        carried += size[g] > 0
    if carried < 2:
        vy_x = 0.0
    return ry, yc, vy_r, vy_x


@njit(cache=True, nogil=True)
def centred_square_sum(square_sum, total_sum, n):
    """``Σ(x − mean)²`` from the sums of a shifted ``x``; 0 where it is within rounding of
    0 (all values equal), as the direct two-pass sum gives."""
    v = square_sum - total_sum * total_sum / n
    return v if v > 1e-12 * square_sum else 0.0


@njit(inline="always")
def _ratio(cov, vx, vy):
    if vx > 0 and vy > 0:
        return cov / np.sqrt(vx * vy)
    return np.nan


@njit(inline="always")
def _run_end(x, start, ties):
    """End of the run of ties of the sorted ``x`` that starts at ``start`` (found on the
    fly where ``x`` has ``ties``: no array of runs, which would be pair-sized)."""
    end = start + 1
    if ties:
        while end < len(x) and x[end] == x[start]:
            end += 1
    return end


@njit(cache=True, nogil=True)
def has_ties(x):
    """Whether the sorted ``x`` has two equal neighbours."""
    for q in range(1, len(x)):
        if x[q] == x[q - 1]:
            return True
    return False


@njit(inline="always")
def _pair_weight(m, pi, pj, q):
    """Weight ``m[i]·m[j]`` of pair q."""
    return np.float64(m[pi[q]]) * m[pj[q]]


@njit(cache=True, nogil=True)
def _stimulus_rsa(m, pi, pj, x, groups, values):
    """(Spearman, Pearson) over the observed pairs (``pi``, ``pj``, model ``x`` sorted,
    human ``groups``, all in x order) weighted ``m[i]·m[j]`` (``m`` all ones: the point
    estimates)."""
    n_groups = len(values)
    size = np.zeros(n_groups)
    total = 0.0
    sx = 0.0
    for q in range(len(x)):
        wq = _pair_weight(m, pi, pj, q)
        size[groups[q]] += wq
        total += wq
        sx += wq * x[q]
    if total <= 2:
        return np.nan, np.nan
    mean_x = sx / total
    mid = (total + 1) / 2
    ry, yc, vy_r, vy_x = _human_side(total, size, values)
    cov_r = cov_x = var_rank = var_x = before = 0.0
    start = 0
    ties = has_ties(x)
    while start < len(x):
        end = _run_end(x, start, ties)
        run = 0.0
        for q in range(start, end):
            run += _pair_weight(m, pi, pj, q)
        rank = before + 0.5 * run + 0.5 - mid
        before += run
        for q in range(start, end):
            wq = _pair_weight(m, pi, pj, q)
            if wq > 0:
                g = groups[q]
                xc = x[q] - mean_x
                cov_r += wq * rank * ry[g]
                cov_x += wq * xc * yc[g]
                var_rank += wq * rank * rank
                var_x += wq * xc * xc
        start = end
    return _ratio(cov_r, var_rank, vy_r), _ratio(cov_x, var_x, vy_x)


# ---------------------------------------------------------------------- point estimates
@njit(cache=True, nogil=True)
def point_correlations(n_stimuli, pi, pj, x, groups, values):
    """(Spearman, Pearson) of the sorted ``x`` against the y given by ``groups`` (of the
    ascending ``values``), every pair once (:func:`_stimulus_rsa` with every stimulus
    once): mid-ranks from the runs of ties of ``x`` and from the group sizes, no rank
    vector."""
    return _stimulus_rsa(np.ones(n_stimuli, np.int32), pi, pj, x, groups, values)


@njit(inline="always")
def _prefix(tree, k):
    """Sum of the first ``k`` positions of a Fenwick tree (1-based)."""
    total = 0
    while k > 0:
        total += tree[k]
        k -= k & -k
    return total


@njit(cache=True, nogil=True)
def kendall_tau_a_sorted(x, groups, n_groups):
    """Kendall's tau-a of the sorted ``x`` against the y whose order is given by
    ``groups`` (equal y, equal group; a larger group, a larger y): (concordant −
    discordant) / (n(n−1)/2), ties in either counted as neither.

    One pass over x's runs of ties with a Fenwick tree of the group counts of the
    earlier runs: an element of group g gains one for each earlier element of a smaller
    group and loses one for each of a larger one. O(n log G), exact integer counts; NaN
    with fewer than two elements or a NaN in ``x`` (sorted last)."""
    n = len(x)
    if n < 2 or np.isnan(x[n - 1]):
        return np.nan
    tree = np.zeros(n_groups + 1, np.int64)
    balance = 0  # concordant − discordant
    seen = 0
    start = 0
    ties = has_ties(x)
    while start < n:
        end = _run_end(x, start, ties)
        for q in range(start, end):  # group h is counted at tree position h + 1
            balance += _prefix(tree, groups[q]) - (seen - _prefix(tree, groups[q] + 1))
        for q in range(start, end):
            k = groups[q] + 1
            while k <= n_groups:
                tree[k] += 1
                k += k & -k
        seen += end - start
        start = end
    return balance / (n * (n - 1) / 2)


# ---------------------------------------------------------------------- stimulus bootstrap
@njit(cache=True, nogil=True)
def _code_weights(m, a, b, c, code, n_codes):
    counts = np.zeros((4, n_codes), np.int64)  # four lanes: no chain of adds to one cell
    for t in range(len(a)):
        counts[t & 3, code[t]] += np.int64(m[a[t]]) * m[b[t]] * m[c[t]]
    return counts.sum(axis=0)


@njit(cache=True, nogil=True, parallel=True)
def stimulus_bootstrap(mult, a, b, c, code, n_codes, pi, pj, x, groups, values, n_chunks):
    """Per stimulus resample (row of ``mult``): the summed triplet weight
    ``m[a]·m[b]·m[c]`` per score code, and (Spearman, Pearson) RSA over the observed pairs
    (``pi``, ``pj``, model ``x``, human ``groups`` all in model-sorted order) weighted
    ``m[i]·m[j]``."""
    n_b = len(mult)
    code_counts = np.zeros((n_b, n_codes), np.int64)
    corr = np.full((n_b, 2), np.nan)
    for k in prange(n_chunks):
        for r in range(k * n_b // n_chunks, (k + 1) * n_b // n_chunks):
            code_counts[r] = _code_weights(mult[r], a, b, c, code, n_codes)
            if len(x):
                corr[r, 0], corr[r, 1] = _stimulus_rsa(mult[r], pi, pj, x, groups, values)
    return code_counts, corr


# ---------------------------------------------------------------------- triplet bootstrap
@njit(cache=True, nogil=True)
def ratio_table(top):
    """Group of every (co-occurrence k ≤ top, chosen c ≤ k) at ``k·(top+1)+c`` by
    ascending ``1 − c/k``, and the group values: the human dissimilarities of small counts."""
    width = top + 1
    n = width * width
    ratio = np.full(n, -1.0)
    for k in range(1, width):
        for c in range(k + 1):
            ratio[k * width + c] = c / k
    order = np.argsort(-ratio, kind="mergesort")
    table = np.full(n, -1, np.int64)
    values = np.empty(n)
    g = -1
    last = 2.0
    for q in range(n):
        cell = order[q]
        if ratio[cell] < 0:
            break
        if ratio[cell] != last:
            g += 1
            last = ratio[cell]
            values[g] = 1 - last
        table[cell] = g
    return table, values[:g + 1]


@njit(cache=True, nogil=True)
def _scatter(w, lo, slots, odd, code, counts, code_counts):
    """Add the block ``w`` of drawn copies (triplets ``lo`` on) to the per-code counts
    (four interleaved histograms, no branch: no chain of adds to one cell) and, where
    ``counts`` has rows, to the pairs' (chosen, co-occurrence): two columns, or one
    *packed* column (:func:`_pair_counts`)."""
    for q in range(len(w)):
        code_counts[q & 3, code[lo + q]] += w[q]
    if len(counts) == 0:
        return
    packed = counts.shape[1] == 1
    for q in range(len(w)):
        wq = w[q]
        if wq:
            t = lo + q
            if packed:
                counts[slots[t, 0], 0] += wq
                counts[slots[t, 1], 0] += wq
                counts[slots[t, 2], 0] += wq
                counts[slots[t, odd[t]], 0] += wq << 16
            else:
                counts[slots[t, 0], 1] += wq
                counts[slots[t, 1], 1] += wq
                counts[slots[t, 2], 1] += wq
                counts[slots[t, odd[t]], 0] += wq


@njit(inline="always")
def _pair_counts(counts, p):
    """(chosen, co-occurrence) of pair p: two int32 columns, or one packed int32 with the
    co-occurrence in its low 16 bits and the chosen count above (half the table, so the
    random updates hit cache more often; a count past 16 bits is caught by the sums)."""
    if counts.shape[1] == 1:
        v = np.int64(counts[p, 0])
        return (v >> 16) & 0xFFFF, v & 0xFFFF
    return np.int64(counts[p, 0]), np.int64(counts[p, 1])


@njit(cache=True, nogil=True)
def _recounted_rsa(counts, order, x, shift, n_drawn):
    """(Spearman, Pearson) of the sorted model side ``x`` (pair ``order[q]`` at q) against
    the human dissimilarity of the re-counted ``counts`` (per pair: chosen, co-occurrence)
    over the pairs that occur; ``counts`` is cleared on the way. Two passes over the pairs
    in their own order (the largest co-occurrence; then each pair's human group, -1 where
    absent, in place of its chosen count, and the group sizes), then one in the model's
    order that gathers each pair's group and its centred human rank and value (no
    pair-sized array besides ``counts``). Returns also whether packed counts overflowed
    (the co-occurrences do not sum to 3 × ``n_drawn``); the correlations are NaN then."""
    top = 0
    total = 0.0
    all_cooc = 0
    for p in range(len(counts)):
        k = _pair_counts(counts, p)[1]
        all_cooc += k
        if k > 0:
            total += 1.0
            top = max(top, k)
    if total <= 2 or all_cooc != 3 * n_drawn:
        counts[:] = 0
        return np.nan, np.nan, all_cooc != 3 * n_drawn
    table, values = ratio_table(top)
    width = top + 1
    lanes = np.zeros((4, len(values)))  # four interleaved histograms: no chain of adds to one cell
    for p in range(len(counts)):
        c, k = _pair_counts(counts, p)
        g = table[k * width + c] if k > 0 else -1
        counts[p, 0] = g
        if counts.shape[1] == 2:
            counts[p, 1] = 0
        if g >= 0:
            lanes[p & 3, g] += 1.0
    ry, yc, vy_r, vy_x = _human_side(total, lanes.sum(axis=0), values)
    mid = (total + 1) / 2
    cov_r = cov_x = var_rank = var_x = sx = before = 0.0
    start = 0
    ties = has_ties(x)
    while start < len(x):
        end = _run_end(x, start, ties)
        run = 1.0
        if end > start + 1:
            run = 0.0
            for q in range(start, end):
                run += counts[order[q], 0] >= 0
        rank = before + 0.5 * run + 0.5 - mid
        present = 0.0
        for q in range(start, end):
            g = counts[order[q], 0]
            if g >= 0:
                xc = x[q] - shift
                cov_r += rank * ry[g]
                cov_x += xc * yc[g]
                var_rank += rank * rank
                sx += xc
                var_x += xc * xc
                present = 1.0
        before += run if end > start + 1 else present
        start = end
    counts[:, 0] = 0
    return _ratio(cov_r, var_rank, vy_r), _ratio(cov_x, centred_square_sum(var_x, sx, total), vy_x), False


@njit(cache=True, nogil=True)
def _triplet_one(seed, b, slots, odd, code, n_codes, order, x, shift, counts):
    """One triplet resample: its draws, the code counts of the means, and (Spearman,
    Pearson) RSA with the pair counts re-counted (``counts``: per pair (chosen, cooc),
    zero on entry and on exit)."""
    n = len(odd)
    n_blocks = (n + BLOCK - 1) // BLOCK
    blocks = np.zeros(n_blocks, np.int64)
    state = _draw_blocks(_stream(seed, b), n, blocks)
    code_counts = np.zeros((4, n_codes), np.int64)
    wb = np.empty(BLOCK, np.int32)
    for blk in range(n_blocks):
        lo = blk * BLOCK
        size = min(BLOCK, n - lo)
        state = _draw_in_block(state, blocks[blk], size, wb)
        _scatter(wb[:size], lo, slots, odd, code, counts, code_counts)
    cc = code_counts.sum(axis=0)
    if len(x) == 0:
        return cc, (np.nan, np.nan, False)
    return cc, _recounted_rsa(counts, order, x, shift, n)


@njit(cache=True, nogil=True, parallel=True)
def triplet_bootstrap(seed, n_b, slots, odd, code, n_codes, n_pairs, order, x, n_chunks, packed):
    """Per triplet resample b < ``n_b`` (draws :func:`triplet_multiplicities`): the number
    of drawn copies per score code, and (Spearman, Pearson) RSA of the sorted model side
    ``x`` (pair ``order[q]`` at q) against the human similarity re-counted from the drawn
    triplets (``slots``: each triplet's three pair numbers, ``odd``: its odd position);
    and whether each resample's ``packed`` pair counts overflowed (its RSA is then NaN)."""
    code_counts = np.zeros((n_b, n_codes), np.int64)
    corr = np.full((n_b, 2), np.nan)
    overflow = np.zeros(n_b, np.bool_)
    shift = x.mean() if len(x) else 0.0
    for k in prange(n_chunks):
        counts = np.zeros((n_pairs, 1 if packed else 2), np.int32)
        for r in range(k * n_b // n_chunks, (k + 1) * n_b // n_chunks):
            cc, cr = _triplet_one(seed, r, slots, odd, code, n_codes, order, x, shift, counts)
            code_counts[r] = cc
            corr[r, 0], corr[r, 1], overflow[r] = cr
    return code_counts, corr, overflow


# ---------------------------------------------------------------------- permutations
@njit(cache=True, nogil=True)
def _relabel_upper(perm, table, out):
    """``out[u, v] = table[perm[u], perm[v]]`` for u < v (row by row: local reads)."""
    n = len(perm)
    for u in range(n):
        row = table[perm[u]]
        for v in range(u + 1, n):
            out[u, v] = row[perm[v]]


@njit(cache=True, nogil=True)
def _pattern_hist(triads, position, weight, groups):
    """(27·3) histogram of the sign patterns of the triads (a < b < c) in the rank-group
    table ``groups`` (upper triangle) × odd position: response ``t`` of the triads counts
    ``weight[t]`` at ``position[t]`` (a triad answered at several positions appears once
    per position)."""
    hist = np.zeros((4, 81), np.int64)  # four histograms: no chain of adds to one cell
    for t in range(len(triads)):
        x, y, z = triads[t, 0], triads[t, 1], triads[t, 2]
        c0, c1, c2 = groups[y, z], groups[x, z], groups[x, y]
        pattern = 9 * ((c0 > c1) - (c0 < c1)) + 3 * ((c0 > c2) - (c0 < c2)) + ((c1 > c2) - (c1 < c2)) + 13
        hist[t & 3, 3 * pattern + position[t]] += weight[t]
    return hist.sum(axis=0).astype(np.float64)


@njit(cache=True, nogil=True)
def _permuted_rsa(perm, dis_groups, reversed_, n_dis, matrix, one_minus, rows, hj, hr, hh, shift, ui, uj,
                  full_counts, hist, ranks2, cell_group):
    """Sums of the Spearman and Pearson RSA of the relabelled model over the observed pairs:
    pair (i, j) (``rows``/``hj``: in key order, row i's pairs at ``rows[i]:rows[i+1]``) reads
    the model at (``perm[i]``, ``perm[j]``), so each row of the pairs reads one row of the
    model's tables. The model's average ranks among the relabelled pairs come from a
    histogram over its groups of equal dissimilarity (``dis_groups``, ascending; reversed
    when ``reversed_``): of the observed pairs themselves or, where ``full_counts`` (every
    cell u < v per group) is given, of all cells less the unobserved pairs (``ui``, ``uj``)."""
    n_obs = len(hj)
    complement = len(full_counts) > 0
    top = n_dis - 1
    if complement:
        for u in range(len(ui)):
            g = dis_groups[perm[ui[u]], perm[uj[u]]]
            hist[top - g if reversed_ else g] += 1
    cov_d = sum_d = var_d = 0.0
    for i in range(len(rows) - 1):
        r = perm[i]
        group_row, value_row = dis_groups[r], matrix[r]
        for q in range(rows[i], rows[i + 1]):
            s = perm[hj[q]]
            g = group_row[s]
            if reversed_:
                g = top - g
            cell_group[q] = g
            if not complement:
                hist[g] += 1
            d = (1.0 - value_row[s] if one_minus else -value_row[s]) - shift
            cov_d += d * hh[q]
            sum_d += d
            var_d += d * d
    before = 0
    for g in range(n_dis):  # twice the average rank of each group, in ascending order
        c = full_counts[g] - hist[g] if complement else hist[g]
        ranks2[g] = 2 * before + c + 1
        before += c
        hist[g] = 0
    mid = (n_obs + 1) / 2
    cov_r = var_r = 0.0
    for q in range(n_obs):
        rank = 0.5 * ranks2[cell_group[q]] - mid
        cov_r += rank * hr[q]
        var_r += rank * rank
    return cov_r, var_r, cov_d, sum_d, var_d


@njit(cache=True, nogil=True, parallel=True)
def permuted_scores(perms, triads, position, weight, sim_groups, dis_groups, reversed_, n_dis, matrix, one_minus,
                    rows, hj, hr, hh, shift, ui, uj, full_counts, n_chunks):
    """Per permutation (row of ``perms``): the (27·3) histogram of the distinct triads'
    sign patterns × odd position in the relabelled rank groups ``sim_groups``, and the
    sums of :func:`_permuted_rsa`."""
    n_p, n = perms.shape
    hists = np.zeros((n_p, 81))
    sums = np.zeros((n_p, 5))
    for k in prange(n_chunks):
        table = np.zeros((n, n), sim_groups.dtype)
        hist = np.zeros(n_dis, np.int32)
        ranks2 = np.empty(n_dis, np.int32)
        cell_group = np.empty(len(hj), np.int32)
        for r in range(k * n_p // n_chunks, (k + 1) * n_p // n_chunks):
            _relabel_upper(perms[r], sim_groups, table)
            hists[r] = _pattern_hist(triads, position, weight, table)
            out = _permuted_rsa(perms[r], dis_groups, reversed_, n_dis, matrix, one_minus, rows, hj, hr, hh,
                                shift, ui, uj, full_counts, hist, ranks2, cell_group)
            for c in range(5):
                sums[r, c] = out[c]
    return hists, sums


# ---------------------------------------------------------------------- split halves
@njit(inline="always")
def _half_groups(counts, totals, p, table, width):
    """(group of half 1, group of half 2) of pair p, or (-1, -1) unless seen in both."""
    k1, c1 = counts[p, 1], counts[p, 0]
    k2, c2 = totals[p, 1] - k1, totals[p, 0] - c1
    if k1 > 0 and k2 > 0:
        return table[k1 * width + c1], table[k2 * width + c2]
    return -1, -1


@njit(cache=True, nogil=True)
def _half_one(first, participant, slots, odd, totals, table, width, values, counts):
    """Spearman and Pearson r of the halves' similarities over the pairs seen in both, and
    their number; ``counts`` (the first half's per pair) is zero on entry and on exit."""
    for t in range(len(odd)):
        if first[participant[t]]:
            counts[slots[t, 0], 1] += 1
            counts[slots[t, 1], 1] += 1
            counts[slots[t, 2], 1] += 1
            counts[slots[t, odd[t]], 0] += 1
    n_groups = len(values)
    size1 = np.zeros(n_groups)
    size2 = np.zeros(n_groups)
    n = 0
    for p in range(len(totals)):
        g1, g2 = _half_groups(counts, totals, p, table, width)
        if g1 >= 0:
            size1[g1] += 1
            size2[g2] += 1
            n += 1
    r1 = np.empty(n_groups)
    r2 = np.empty(n_groups)
    b1 = b2 = m1 = m2 = raw1 = raw2 = 0.0
    for g in range(n_groups):
        r1[g] = b1 + 0.5 * size1[g] + 0.5
        r2[g] = b2 + 0.5 * size2[g] + 0.5
        b1 += size1[g]
        b2 += size2[g]
        m1 += size1[g] * values[g]
        m2 += size2[g] * values[g]
        raw1 += size1[g] * values[g] * values[g]
        raw2 += size2[g] * values[g] * values[g]
    mid = (n + 1) / 2
    m1 /= max(n, 1)
    m2 /= max(n, 1)
    cr = vr1 = vr2 = cv = vv1 = vv2 = 0.0
    for p in range(len(totals)):
        g1, g2 = _half_groups(counts, totals, p, table, width)
        counts[p, 0] = 0
        counts[p, 1] = 0
        if g1 >= 0:
            a, b = r1[g1] - mid, r2[g2] - mid
            u, v = values[g1] - m1, values[g2] - m2
            cr += a * b
            vr1 += a * a
            vr2 += b * b
            cv += u * v
            vv1 += u * u
            vv2 += v * v
    if n < 3:
        return np.nan, np.nan, n
    vv1 = vv1 if vv1 > 1e-12 * raw1 else 0.0  # all values equal, to rounding
    vv2 = vv2 if vv2 > 1e-12 * raw2 else 0.0
    return _ratio(cr, vr1, vr2), _ratio(cv, vv1, vv2), n


@njit(cache=True, nogil=True, parallel=True)
def split_halves(firsts, participant, slots, odd, totals, table, width, values, n_chunks):
    """Per split (row of ``firsts``: True for the participants of the first half): the
    Spearman and Pearson r of the two halves' similarities over the pairs observed in
    both, and their number. ``table``, ``values``: :func:`ratio_table` (its order reverses
    both halves alike, so the correlations are those of the similarities)."""
    n_s = len(firsts)
    out = np.full((n_s, 2), np.nan)
    n_both = np.zeros(n_s, np.int64)
    for k in prange(n_chunks):
        counts = np.zeros((len(totals), 2), np.int32)
        for r in range(k * n_s // n_chunks, (k + 1) * n_s // n_chunks):
            a, b, n = _half_one(firsts[r], participant, slots, odd, totals, table, width, values, counts)
            out[r, 0], out[r, 1], n_both[r] = a, b, n
    return out, n_both
