//! ggml's block codecs: turning stored blocks into f32 values and, for the types selene writes,
//! f32 values into blocks that are byte-identical to what ggml's reference quantizers produce.
//!
//! Every block is coded independently of its neighbours, so work is split across threads by
//! ranges of blocks (feature `parallel`); the result does not depend on the split.

mod float;
mod kquant;
mod legacy;

pub use float::{bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_f16_bits};

use crate::ggml_type::GgmlType;

/// Why values could not be coded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("{0} cannot be {1} (not implemented)")]
    Unsupported(GgmlType, &'static str),
    #[error("{ty}: {values} values do not fill whole blocks of {block}")]
    PartialBlock { ty: GgmlType, values: usize, block: usize },
    #[error("{ty}: {values} values take {expected} bytes, the buffer has {actual}")]
    Length { ty: GgmlType, values: usize, expected: usize, actual: usize },
}

type Decode = fn(&[u8], &mut [f32]);
type Encode = fn(&[f32], &mut [u8]);

fn decoder(ty: GgmlType) -> Option<Decode> {
    use GgmlType::*;
    Some(match ty {
        F32 => float::decode_f32,
        F16 => float::decode_f16,
        BF16 => float::decode_bf16,
        Q4_0 => legacy::decode_q4_0,
        Q4_1 => legacy::decode_q4_1,
        Q5_0 => legacy::decode_q5_0,
        Q5_1 => legacy::decode_q5_1,
        Q8_0 => legacy::decode_q8_0,
        Q2_K => kquant::decode_q2_k,
        Q3_K => kquant::decode_q3_k,
        Q4_K => kquant::decode_q4_k,
        Q5_K => kquant::decode_q5_k,
        Q6_K => kquant::decode_q6_k,
        _ => return None,
    })
}

fn encoder(ty: GgmlType) -> Option<Encode> {
    use GgmlType::*;
    Some(match ty {
        F32 => float::encode_f32,
        F16 => float::encode_f16,
        BF16 => float::encode_bf16,
        Q4_0 => legacy::encode_q4_0,
        Q4_1 => legacy::encode_q4_1,
        Q5_0 => legacy::encode_q5_0,
        Q5_1 => legacy::encode_q5_1,
        Q8_0 => legacy::encode_q8_0,
        Q4_K => kquant::encode_q4_k,
        Q5_K => kquant::encode_q5_k,
        Q6_K => kquant::encode_q6_k,
        _ => return None,
    })
}

pub fn can_dequantize(ty: GgmlType) -> bool {
    decoder(ty).is_some()
}

pub fn can_quantize(ty: GgmlType) -> bool {
    encoder(ty).is_some()
}

fn check(ty: GgmlType, values: usize, bytes: usize) -> Result<usize, CodecError> {
    let block = ty.block_size();
    if values % block != 0 {
        return Err(CodecError::PartialBlock { ty, values, block });
    }
    let expected = values / block * ty.block_bytes();
    if bytes != expected {
        return Err(CodecError::Length { ty, values, expected, actual: bytes });
    }
    Ok(values / block)
}

/// Decodes the blocks in `src` into `dst`, which holds exactly the values they encode.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), CodecError> {
    let decode = decoder(ty).ok_or(CodecError::Unsupported(ty, "dequantized"))?;
    check(ty, dst.len(), src.len())?;
    let blocks = blocks_per_task(ty);
    in_pieces(src, blocks * ty.block_bytes(), dst, blocks * ty.block_size(), decode);
    Ok(())
}

/// Encodes `src` into blocks in `dst`, which has exactly the bytes they take.
pub fn quantize(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), CodecError> {
    let encode = encoder(ty).ok_or(CodecError::Unsupported(ty, "quantized"))?;
    check(ty, src.len(), dst.len())?;
    let blocks = blocks_per_task(ty);
    in_pieces(src, blocks * ty.block_size(), dst, blocks * ty.block_bytes(), encode);
    Ok(())
}

pub fn dequantize_to_vec(ty: GgmlType, src: &[u8], n_values: usize) -> Result<Vec<f32>, CodecError> {
    let mut out = vec![0f32; n_values];
    dequantize(ty, src, &mut out)?;
    Ok(out)
}

pub fn quantize_to_vec(ty: GgmlType, src: &[f32]) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0u8; src.len() / ty.block_size() * ty.block_bytes()];
    quantize(ty, src, &mut out)?;
    Ok(out)
}

/// Blocks per parallel task: about 64 Ki values, enough work to outweigh scheduling.
fn blocks_per_task(ty: GgmlType) -> usize {
    ((1 << 16) / ty.block_size()).max(1)
}

/// Applies `code` to matching pieces of `src` and `dst` (whole blocks each), on all cores when
/// the `parallel` feature is on.
fn in_pieces<S: Sync, D: Send>(src: &[S], src_piece: usize, dst: &mut [D], dst_piece: usize, code: fn(&[S], &mut [D])) {
    #[cfg(feature = "parallel")]
    if dst.len() > dst_piece {
        use rayon::prelude::*;
        src.par_chunks(src_piece).zip(dst.par_chunks_mut(dst_piece)).for_each(|(s, d)| code(s, d));
        return;
    }
    let _ = (src_piece, dst_piece);
    code(src, dst)
}
