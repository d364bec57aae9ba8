//! A micro-batch of pairs as tensors.
//!
//! Sequences are `[chosen_0 … chosen_{P-1}, rejected_0 … rejected_{P-1}]`, each the prompt then
//! the reply, right-padded to the longest. Right padding needs no attention mask: attention is
//! causal, so no real token ever sees a pad, and pads are never scored.
//!
//! Only reply tokens are scored, so instead of a mask over `[sequences, positions, vocab]` logits
//! the batch lists the hidden-state rows that predict reply tokens (`rows`, the position before
//! each token), the tokens themselves (`targets`), and which sequence each one belongs to
//! (`membership`, a 0/1 matrix whose product with per-token log-probabilities gives each
//! sequence's sum). The prompt mask is therefore exact by construction: a prompt token is never
//! listed.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::TokenizedPair;

pub struct Batch {
    /// `[2P, L]` token ids.
    pub tokens: Tensor<2, Int>,
    /// `[N]` rows of the flattened `[2P * L]` hidden states that predict a reply token.
    pub rows: Tensor<1, Int>,
    /// `[N]` the reply tokens.
    pub targets: Tensor<1, Int>,
    /// `[2P, N]` 1 where token `n` belongs to sequence `s`.
    pub membership: Tensor<2>,
    /// Reply tokens of each chosen sequence.
    pub chosen_tokens: Vec<usize>,
    /// Real (unpadded) tokens in the batch.
    pub tokens_run: usize,
}

/// A micro-batch: which pairs (indices into the dataset) and their layout.
pub struct MicroBatch {
    pub pairs: Vec<usize>,
    pub layout: Layout,
}

/// Host-side layout, built once per micro-batch and turned into tensors on each device that
/// needs them (policy and reference may live on different devices).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    sequences: usize,
    length: usize,
    tokens: Vec<i32>,
    rows: Vec<i32>,
    targets: Vec<i32>,
    membership: Vec<f32>,
    chosen_tokens: Vec<usize>,
    tokens_run: usize,
}

impl Layout {
    /// The layout of `pairs`; `pad` is any valid token id (pads are never read).
    pub fn new(pairs: &[&TokenizedPair], pad: u32) -> Layout {
        let sequences: Vec<(&[u32], &[u32])> = pairs
            .iter()
            .map(|p| (p.prompt.as_slice(), p.chosen.as_slice()))
            .chain(pairs.iter().map(|p| (p.prompt.as_slice(), p.rejected.as_slice())))
            .collect();
        let length = sequences.iter().map(|(p, r)| p.len() + r.len()).max().unwrap_or(1);
        let mut tokens = Vec::with_capacity(sequences.len() * length);
        let (mut rows, mut targets, mut owner) = (Vec::new(), Vec::new(), Vec::new());
        for (s, (prompt, reply)) in sequences.iter().enumerate() {
            let start = tokens.len();
            tokens.extend(prompt.iter().chain(reply.iter()).map(|&t| t as i32));
            for (i, &t) in reply.iter().enumerate() {
                rows.push((start + prompt.len() + i - 1) as i32);
                targets.push(t as i32);
                owner.push(s);
            }
            tokens.resize(start + length, pad as i32);
        }
        let mut membership = vec![0f32; sequences.len() * targets.len()];
        for (n, &s) in owner.iter().enumerate() {
            membership[s * targets.len() + n] = 1.0;
        }
        Layout {
            sequences: sequences.len(),
            length,
            tokens,
            rows,
            targets,
            membership,
            chosen_tokens: pairs.iter().map(|p| p.chosen.len()).collect(),
            tokens_run: sequences.iter().map(|(p, r)| p.len() + r.len()).sum(),
        }
    }

    /// Real (unpadded) tokens the batch runs.
    pub fn tokens_run(&self) -> usize {
        self.tokens_run
    }

    pub fn on(&self, device: &Device) -> Batch {
        let n = self.targets.len();
        let ints = |v: &Vec<i32>| Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), device);
        Batch {
            tokens: Tensor::from_data(TensorData::new(self.tokens.clone(), [self.sequences, self.length]), device),
            rows: ints(&self.rows),
            targets: ints(&self.targets),
            membership: Tensor::from_data(TensorData::new(self.membership.clone(), [self.sequences, n]), device),
            chosen_tokens: self.chosen_tokens.clone(),
            tokens_run: self.tokens_run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reply_tokens_are_scored_and_pads_follow() {
        let a = TokenizedPair { line: 1, prompt: vec![10, 11, 12], chosen: vec![20, 21], rejected: vec![30] };
        let b = TokenizedPair { line: 2, prompt: vec![13], chosen: vec![22], rejected: vec![31, 32, 33] };
        let l = Layout::new(&[&a, &b], 0);
        assert_eq!((l.sequences, l.length), (4, 5));
        #[rustfmt::skip]
        assert_eq!(l.tokens, [10, 11, 12, 20, 21,  13, 22, 0, 0, 0,  10, 11, 12, 30, 0,  13, 31, 32, 33, 0]);
        // Row r of the flattened hidden states predicts token r + 1 of its sequence.
        assert_eq!(l.rows, [2, 3, 5, 12, 15, 16, 17]);
        assert_eq!(l.targets, [20, 21, 22, 30, 31, 32, 33]);
        assert!(l.rows.iter().zip(&l.targets).all(|(&r, &t)| l.tokens[r as usize + 1] == t));
        let owners: Vec<usize> = (0..7).map(|n| (0..4).find(|&s| l.membership[s * 7 + n] == 1.0).unwrap()).collect();
        assert_eq!(owners, [0, 0, 1, 2, 3, 3, 3]);
        assert_eq!(l.membership.iter().sum::<f32>(), 7.0);
        assert_eq!((l.chosen_tokens.clone(), l.tokens_run), (vec![2, 1], 5 + 2 + 4 + 4));
    }
}
