//! Weight layouts: ggml's (row after row, as the file stores them) and, for Q4_0, Q4_1, Q8_0,
//! Q4_K, Q5_K and Q6_K on x86, groups of 8 rows interleaved block by block.
//!
//! In ggml's layout a vector holds 32 values of one row, so every block of every (row, token)
//! pair ends in a horizontal reduction and its own float scaling. Interleaved, a vector holds 4
//! consecutive values of each of 8 rows: one integer dot product against 4 broadcast activation
//! bytes advances 8 rows at once, and a block's scales for the 8 rows are one vector, so the
//! float work is per 8 rows and nothing is reduced across lanes. The bytes are the same ones,
//! rearranged: the matrix keeps its file size.
//!
//! Interleaved Q4_0, Q4_1 and Q8_0, per 8 rows and block: the 8 scales (f16), for Q4_1 the 8
//! minimums, then the quants in vectors of 32 bytes where byte `4r + j` of vector `k` is byte
//! `4k + j` of row `r`'s quants (4 vectors for Q4_x, whose low nibbles are values `4k + j` and
//! high nibbles `16 + 4k + j`; 8 for Q8_0).
//!
//! Interleaved Q4_K, per 8 rows and super-block (8 × 144 bytes): the 8 `d`, the 8 `dmin`, the
//! 6-bit scales and minimums re-packed by sub-block (64 bytes: byte `8j + r` holds the low
//! nibbles of row `r`'s scale and minimum `j`; 32 bytes: byte `8(j % 4) + r`, nibble `j / 4`,
//! holds their high two bits each), then per 64-value chunk `c` 8 vectors of 32 bytes where byte
//! `4r + j` of vector `k` is byte `32c + 4k + j` of row `r`'s quants. Interleaved Q5_K (8 × 176
//! bytes) is Q4_K's with 8 vectors of `qh`, laid out the same way, before the quants.
//!
//! Interleaved Q6_K, per 8 rows and super-block (8 × 210 bytes): the 8 `d`, the 16 group scales
//! of the 8 rows (byte `8g + r`), then for each half of the values its 32 bytes of `qh` and 64 of
//! `ql`, as Q4_K's quants: per 32 bytes of a row, 8 vectors where byte `4r + j` of vector `k` is
//! byte `4k + j` of those 32.
//!
//! Every interleaved block is laid out in the order its kernel reads it, so that the hardware
//! prefetcher sees one ascending stream (reading a block's end first stalls on memory).

use selene_gguf::GgmlType;

use crate::kernels::scalar::scale_min_k4;

/// How a matrix's bytes are arranged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Ggml,
    /// Groups of [`GROUP`] rows interleaved block by block (Q4_0, Q4_K, Q6_K); only x86 kernels
    /// use it.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Interleaved,
}

/// Rows per interleaved group.
pub(crate) const GROUP: usize = 8;

/// Whether `ty` has an interleaved layout.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn can_interleave(ty: GgmlType, rows: usize) -> bool {
    use GgmlType::*;
    matches!(ty, Q4_0 | Q4_1 | Q8_0 | Q4_K | Q5_K | Q6_K) && rows.is_multiple_of(GROUP)
}

/// `data` (ggml layout, `rows` rows of `row_bytes`) interleaved.
pub(crate) fn interleave(ty: GgmlType, data: &[u8], row_bytes: usize) -> Vec<u8> {
    let block = ty.block_bytes();
    let mut out = vec![0u8; data.len()];
    if data.is_empty() {
        return out;
    }
    for (group, out) in data.chunks_exact(GROUP * row_bytes).zip(out.chunks_exact_mut(GROUP * row_bytes)) {
        for (b, out) in out.chunks_exact_mut(GROUP * block).enumerate() {
            let blocks: [&[u8]; GROUP] = std::array::from_fn(|r| &group[r * row_bytes + b * block..][..block]);
            match ty {
                GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => interleave_legacy(blocks, out),
                GgmlType::Q4_K | GgmlType::Q5_K => interleave_k4(blocks, out),
                GgmlType::Q6_K => interleave_q6_k(blocks, out),
                _ => unreachable!("{ty} has no interleaved layout"),
            }
        }
    }
    out
}

/// Interleaved `data` back in ggml's layout.
pub(crate) fn deinterleave(ty: GgmlType, data: &[u8], row_bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    if data.is_empty() {
        return out;
    }
    for (g, group) in data.chunks_exact(GROUP * row_bytes).enumerate() {
        for row in 0..GROUP {
            out[(g * GROUP + row) * row_bytes..][..row_bytes].copy_from_slice(&ggml_row(ty, group, row_bytes, row));
        }
    }
    out
}

/// Row `row` of interleaved `data`, in ggml's layout.
pub(crate) fn ggml_row(ty: GgmlType, data: &[u8], row_bytes: usize, row: usize) -> Vec<u8> {
    let block = ty.block_bytes();
    let group = &data[row / GROUP * GROUP * row_bytes..][..GROUP * row_bytes];
    let mut out = vec![0u8; row_bytes];
    for (b, out) in out.chunks_exact_mut(block).enumerate() {
        let interleaved = &group[b * GROUP * block..][..GROUP * block];
        let mut blocks = [[0u8; 210]; GROUP];
        match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => deinterleave_legacy(interleaved, block, &mut blocks),
            GgmlType::Q4_K | GgmlType::Q5_K => deinterleave_k4(interleaved, block, &mut blocks),
            GgmlType::Q6_K => deinterleave_q6_k(interleaved, &mut blocks),
            _ => unreachable!("{ty} has no interleaved layout"),
        }
        out.copy_from_slice(&blocks[row % GROUP][..block]);
    }
    out
}

/// Where byte `i` of a block's quants (of `n` bytes, in vectors of 32) goes for row `r`.
fn quant_position(i: usize, r: usize) -> usize {
    let (vector, within) = (i / 32, i % 32);
    vector * 32 * GROUP + (within / 4) * 32 + 4 * r + within % 4
}

/// The f16 factors at the start of a legacy block (`d`, and `m` for Q4_1) go first, 8 of
/// each, then the quants.
fn interleave_legacy(blocks: [&[u8]; GROUP], out: &mut [u8]) {
    let block = blocks[0].len();
    let factors = if block == 20 { 2 } else { 1 };
    for (r, b) in blocks.iter().enumerate() {
        for f in 0..factors {
            out[16 * f + 2 * r..][..2].copy_from_slice(&b[2 * f..2 * f + 2]);
        }
        for i in 0..block - 2 * factors {
            out[16 * factors + quant_position(i, r)] = b[2 * factors + i];
        }
    }
}

fn deinterleave_legacy(data: &[u8], block: usize, blocks: &mut [[u8; 210]; GROUP]) {
    let factors = if block == 20 { 2 } else { 1 };
    for (r, b) in blocks.iter_mut().enumerate() {
        for f in 0..factors {
            b[2 * f..2 * f + 2].copy_from_slice(&data[16 * f + 2 * r..][..2]);
        }
        for i in 0..block - 2 * factors {
            b[2 * factors + i] = data[16 * factors + quant_position(i, r)];
        }
    }
}

/// Q4_K, or Q5_K with its `qh` after the quants.
fn interleave_k4(blocks: [&[u8]; GROUP], out: &mut [u8]) {
    let five = blocks[0].len() == 176;
    let qs = if five { 48 } else { 16 };
    out[96..128].fill(0);
    for (r, b) in blocks.iter().enumerate() {
        out[2 * r..2 * r + 2].copy_from_slice(&b[0..2]);
        out[16 + 2 * r..18 + 2 * r].copy_from_slice(&b[2..4]);
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, &b[4..16]);
            out[32 + 8 * j + r] = (sc & 15) as u8 | ((m & 15) << 4) as u8;
            out[96 + 8 * (j % 4) + r] |= (((sc >> 4) | (m >> 4) << 2) << (4 * (j / 4))) as u8;
        }
        for i in 0..128 {
            out[if five { 384 } else { 128 } + quant_position(i, r)] = b[qs + i];
        }
        if five {
            for i in 0..32 {
                out[128 + quant_position(i, r)] = b[16 + i];
            }
        }
    }
}

fn deinterleave_k4(data: &[u8], block: usize, blocks: &mut [[u8; 210]; GROUP]) {
    let five = block == 176;
    let qs = if five { 48 } else { 16 };
    for (r, b) in blocks.iter_mut().enumerate() {
        b[0..2].copy_from_slice(&data[2 * r..2 * r + 2]);
        b[2..4].copy_from_slice(&data[16 + 2 * r..18 + 2 * r]);
        let scales = &mut b[4..16];
        scales.fill(0);
        for j in 0..8 {
            let low = data[32 + 8 * j + r];
            let high = data[96 + 8 * (j % 4) + r] >> (4 * (j / 4));
            let (sc, m) = ((low & 15) | (high & 3) << 4, (low >> 4) | ((high >> 2) & 3) << 4);
            // ggml's packing (the inverse of `scale_min_k4`).
            if j < 4 {
                scales[j] = sc;
                scales[j + 4] = m;
            } else {
                scales[j + 4] = (sc & 15) | (m & 15) << 4;
                scales[j - 4] |= (sc >> 4) << 6;
                scales[j] |= (m >> 4) << 6;
            }
        }
        for i in 0..128 {
            b[qs + i] = data[if five { 384 } else { 128 } + quant_position(i, r)];
        }
        if five {
            for i in 0..32 {
                b[16 + i] = data[128 + quant_position(i, r)];
            }
        }
    }
}

/// Where byte `i` of a Q6_K block's `ql` (0..128) or `qh` (128..192) goes for row `r`: per half
/// `h` of the values, its `qh` then its two 32-byte pieces of `ql`, in the order the kernel reads
/// them (so that the hardware prefetcher sees one ascending stream).
fn q6k_position(i: usize, r: usize) -> usize {
    let (h, piece) = if i < 128 { (i / 64, 1 + (i / 32) % 2) } else { ((i - 128) / 32, 0) };
    144 + 768 * h + 256 * piece + quant_position(i % 32, r)
}

fn interleave_q6_k(blocks: [&[u8]; GROUP], out: &mut [u8]) {
    for (r, b) in blocks.iter().enumerate() {
        out[2 * r..2 * r + 2].copy_from_slice(&b[208..210]);
        for g in 0..16 {
            out[16 + 8 * g + r] = b[192 + g];
        }
        for i in 0..192 {
            out[q6k_position(i, r)] = b[i];
        }
    }
}

fn deinterleave_q6_k(data: &[u8], blocks: &mut [[u8; 210]; GROUP]) {
    for (r, b) in blocks.iter_mut().enumerate() {
        b[208..210].copy_from_slice(&data[2 * r..2 * r + 2]);
        for g in 0..16 {
            b[192 + g] = data[16 + 8 * g + r];
        }
        for i in 0..192 {
            b[i] = data[q6k_position(i, r)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_unchanged() {
        let mut state = 7u64;
        for (ty, cols) in [
            (GgmlType::Q4_0, 96),
            (GgmlType::Q4_1, 64),
            (GgmlType::Q8_0, 96),
            (GgmlType::Q4_K, 512),
            (GgmlType::Q6_K, 512),
        ] {
            let row_bytes = cols / ty.block_size() * ty.block_bytes();
            let data: Vec<u8> = (0..16 * row_bytes)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 33) as u8
                })
                .collect();
            let interleaved = interleave(ty, &data, row_bytes);
            assert_ne!(interleaved, data);
            assert_eq!(deinterleave(ty, &interleaved, row_bytes), data);
            for row in 0..16 {
                assert_eq!(
                    ggml_row(ty, &interleaved, row_bytes, row),
                    &data[row * row_bytes..][..row_bytes],
                    "{ty} row {row}"
                );
            }
        }
    }
}
