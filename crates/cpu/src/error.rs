//! What can be wrong with a weight matrix handed to this crate: a caller's mistake in sizes or
//! types that a model file can contain, so it is reported rather than panicked on.

use selene_gguf::GgmlType;

use crate::simd::SimdLevel;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0} weights are not supported by the CPU kernels")]
    UnsupportedType(GgmlType),
    #[error("{ty}: a row of {cols} values does not fill whole blocks of {block}")]
    PartialBlock { ty: GgmlType, cols: usize, block: usize },
    #[error("{ty} [{rows}, {cols}] takes {expected} bytes, got {actual}")]
    Length { ty: GgmlType, rows: usize, cols: usize, expected: usize, actual: usize },
    #[error("{0} instructions are not available on this CPU")]
    UnavailableSimd(SimdLevel),
}
