//! A weight matrix in its ggml blocks and its product with activations.
//!
//! The bytes are the GGUF file's (an owned buffer, a shared one or a memory map), at most
//! rearranged, so a model takes its file size in memory and nothing is expanded at load.

use selene_gguf::GgmlType;
use selene_gguf::codec;

use crate::activation::{Activations, InputFormat};
use crate::error::Error;
use crate::kernels::{Kernel, kernel};
use crate::layout::{self, Layout};
use crate::schedule;
use crate::simd::{SimdLevel, simd_level};

/// A `[rows, cols]` weight matrix of one ggml type, rows in ggml order, each a whole number of
/// blocks. Supported types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F16,
/// BF16, F32.
///
/// Where the kernels want another arrangement of the same bytes (on x86, Q4_0, Q4_1, Q8_0, Q4_K,
/// Q5_K and Q6_K with a multiple of 8 rows: rows interleaved in groups of 8), they are
/// rearranged once, here, into an owned buffer that replaces the given one; otherwise the given
/// bytes are used as they are.
pub struct QuantMatrix {
    bytes: Bytes,
    layout: Layout,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    level: SimdLevel,
    kernel: Kernel,
}

enum Bytes {
    Given(Box<dyn AsRef<[u8]> + Send + Sync>),
    Arranged(Vec<u8>),
}

/// Activations quantized for one [`InputFormat`]: quantize once with
/// [`QuantMatrix::quantize_input`], multiply by every matrix of that format (the query, key and
/// value projections of a layer, or its gate and up projections).
pub struct Input {
    acts: Activations,
    format: InputFormat,
    cols: usize,
}

impl Input {
    pub fn format(&self) -> InputFormat {
        self.format
    }

    pub fn tokens(&self) -> usize {
        self.acts.tokens
    }
}

/// The form ggml-cpu gives activations before multiplying them by `ty` weights.
fn input_format(ty: GgmlType) -> Option<InputFormat> {
    use GgmlType::*;
    Some(match ty {
        Q4_0 | Q5_0 | Q8_0 => InputFormat::Q8_0,
        Q4_1 | Q5_1 => InputFormat::Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => InputFormat::Q8_K,
        F16 => InputFormat::F16,
        BF16 => InputFormat::BF16,
        F32 => InputFormat::F32,
        _ => return None,
    })
}

impl QuantMatrix {
    /// Wraps a tensor's bytes (`Vec<u8>`, `Arc<[u8]>`, a memory map...) of type `ty`, using the
    /// fastest kernels this CPU runs.
    pub fn new(
        bytes: impl AsRef<[u8]> + Send + Sync + 'static,
        ty: GgmlType,
        rows: usize,
        cols: usize,
    ) -> Result<Self, Error> {
        input_format(ty).ok_or(Error::UnsupportedType(ty))?;
        let block = ty.block_size();
        if !cols.is_multiple_of(block) {
            return Err(Error::PartialBlock { ty, cols, block });
        }
        let row_bytes = cols / block * ty.block_bytes();
        let expected = row_bytes * rows;
        let actual = bytes.as_ref().len();
        if actual != expected {
            return Err(Error::Length { ty, rows, cols, expected, actual });
        }
        let level = simd_level();
        let kernel = kernel(level, ty, rows).ok_or(Error::UnsupportedType(ty))?;
        let bytes = Bytes::Given(Box::new(bytes));
        let mut matrix = QuantMatrix { bytes, layout: Layout::Ggml, ty, rows, cols, row_bytes, level, kernel };
        matrix.arrange(kernel.layout);
        Ok(matrix)
    }

    /// The same matrix computed with the kernels of `level` (to compare paths or to measure).
    pub fn with_simd(mut self, level: SimdLevel) -> Result<Self, Error> {
        self.kernel = kernel(level, self.ty, self.rows).ok_or(Error::UnavailableSimd(level))?;
        self.level = level;
        self.arrange(self.kernel.layout);
        Ok(self)
    }

    fn arrange(&mut self, to: Layout) {
        if to == self.layout {
            return;
        }
        let data = self.data();
        let ggml = match self.layout {
            Layout::Ggml => None,
            Layout::Interleaved => Some(layout::deinterleave(self.ty, data, self.row_bytes)),
        };
        let ggml_data = ggml.as_deref().unwrap_or(data);
        let arranged = match to {
            Layout::Ggml => ggml_data.to_vec(),
            Layout::Interleaved => layout::interleave(self.ty, ggml_data, self.row_bytes),
        };
        self.bytes = Bytes::Arranged(arranged);
        self.layout = to;
    }

    /// The stored bytes, in `self.layout`.
    fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Given(b) => (**b).as_ref(),
            Bytes::Arranged(v) => v,
        }
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether matrices of `ty` can be held and multiplied.
    pub fn supports(ty: GgmlType) -> bool {
        input_format(ty).is_some()
    }

    /// Bytes the matrix holds.
    pub fn bytes(&self) -> usize {
        self.data().len()
    }

    pub fn simd(&self) -> SimdLevel {
        self.level
    }

    pub fn input_format(&self) -> InputFormat {
        input_format(self.ty).expect("checked in new")
    }

    /// Quantizes `x` (`[tokens, cols]`, row-major) for this matrix's [`InputFormat`].
    pub fn quantize_input(&self, x: &[f32], tokens: usize) -> Input {
        let format = self.input_format();
        Input { acts: Activations::new(format, x, self.cols, tokens), format, cols: self.cols }
    }

    /// `out[t][r] = Σ_c W[r][c] * x[t][c]`: `x` is `[tokens, cols]`, `out` `[tokens, rows]`, both
    /// row-major. Panics if the slices have other lengths.
    pub fn matmul(&self, x: &[f32], tokens: usize, out: &mut [f32]) {
        assert_eq!(x.len(), tokens * self.cols, "matmul: x must be [tokens, {}]", self.cols);
        self.matmul_input(&self.quantize_input(x, tokens), out);
    }

    /// [`QuantMatrix::matmul`] with activations quantized beforehand. Panics if `input` was
    /// quantized for another format or width, or if `out` is not `[tokens, rows]`.
    pub fn matmul_input(&self, input: &Input, out: &mut [f32]) {
        assert_eq!(input.format, self.input_format(), "matmul: input quantized for another weight type");
        assert_eq!(input.cols, self.cols, "matmul: input has another width");
        assert_eq!(out.len(), input.tokens() * self.rows, "matmul: out must be [tokens, {}]", self.rows);
        let weights = schedule::Weights { data: self.data(), rows: self.rows, row_bytes: self.row_bytes };
        schedule::matmul(&self.kernel, &weights, &input.acts, out);
    }

    /// Decodes row `row` into `out` (`cols` values): an embedding lookup.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(row < self.rows, "row {row} of {}", self.rows);
        let interleaved;
        let bytes = match self.layout {
            Layout::Ggml => &self.data()[row * self.row_bytes..(row + 1) * self.row_bytes],
            Layout::Interleaved => {
                interleaved = layout::ggml_row(self.ty, self.data(), self.row_bytes, row);
                &interleaved
            }
        };
        codec::dequantize(self.ty, bytes, out).expect("sizes checked in new");
    }
}

impl std::fmt::Debug for QuantMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantMatrix")
            .field("ty", &self.ty)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("simd", &self.level)
            .finish()
    }
}
