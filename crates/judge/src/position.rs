//! Position bias: judging a pair in both orders and reading the two verdicts together.
//!
//! Judges favour one position, and HHH and EvalBiasBench put the better response first in
//! every row, so a single order would reward that bias. The pair is judged as given and with
//! A and B swapped; a verdict stands only if both orders name the same response.

use serde::Serialize;

use crate::label::Side;

/// The two verdicts on one pair, in the item's own labelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OrderReport {
    /// The verdict with the responses in the item's order (`None`: the output did not parse).
    pub original: Option<Side>,
    /// The verdict with the responses swapped, mapped back: `Some(A)` means the item's
    /// `response_a` won, even though the model saw it second.
    pub swapped: Option<Side>,
    /// Both orders parsed and name the same response.
    pub consistent: bool,
    /// That response when consistent, otherwise `None`.
    pub verdict: Option<Side>,
}

/// Combines the verdict on the pair as given with the verdict on the swapped pair, the latter
/// as the model printed it (its `A` is the item's `response_b`).
pub fn combine_orders(original: Option<Side>, swapped_as_printed: Option<Side>) -> OrderReport {
    let swapped = swapped_as_printed.map(Side::other);
    let consistent = original.is_some() && original == swapped;
    OrderReport { original, swapped, consistent, verdict: if consistent { original } else { None } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination() {
        use Side::{A, B};
        let cases = [
            (Some(A), Some(B), Some(A), true),
            (Some(B), Some(A), Some(B), true),
            (Some(A), Some(A), Some(B), false),
            (Some(B), Some(B), Some(A), false),
            (None, Some(B), Some(A), false),
            (Some(A), None, None, false),
            (None, None, None, false),
        ];
        for (original, printed, mapped, consistent) in cases {
            let report = combine_orders(original, printed);
            assert_eq!(report.swapped, mapped);
            assert_eq!(report.consistent, consistent, "{original:?} {printed:?}");
            assert_eq!(report.verdict, if consistent { original } else { None });
        }
    }
}
