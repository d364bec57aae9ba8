//! Agreement between a judge and gold labels, as the judge benchmarks report it.
//!
//! Correlations follow scipy's definitions (`pearsonr`, `spearmanr` with average ranks for
//! ties, `kendalltau` variant b) so that numbers compare with published tables; the tests check
//! them against values scipy computed. Accuracy counts a parse failure as wrong rather than
//! dropping it, and the failure rate is reported beside it, so a judge cannot look better by
//! failing to answer the hard items.

use serde::Serialize;
use thiserror::Error;

use crate::label::Side;
use crate::position::OrderReport;

/// Why a metric is undefined for the given data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricError {
    #[error("the two series differ in length ({left} and {right})")]
    LengthMismatch { left: usize, right: usize },
    #[error("at least {needed} values are needed, got {got}")]
    TooFew { needed: usize, got: usize },
    #[error("the {series} series is constant, so the correlation is undefined")]
    Constant { series: &'static str },
    #[error("value {index} of the {series} series is not a finite number")]
    NotFinite { series: &'static str, index: usize },
}

/// Accuracy of pairwise verdicts judged in both orders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairwiseAccuracy {
    /// Share of items whose verdict in the given order is right.
    pub original_order: f64,
    /// Share of items whose verdict with A and B swapped is right.
    pub swapped_order: f64,
    /// The mean of the two.
    pub mean: f64,
    /// Share of items where both orders agree.
    pub consistency: f64,
}

/// Pearson's correlation coefficient.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64, MetricError> {
    check_pair(x, y)?;
    let (mean_x, mean_y) = (mean(x), mean(y));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mean_x, b - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(MetricError::Constant { series: "first" });
    }
    if syy == 0.0 {
        return Err(MetricError::Constant { series: "second" });
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Spearman's rank correlation: Pearson over ranks, tied values sharing their average rank.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64, MetricError> {
    check_pair(x, y)?;
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Kendall's tau-b, which corrects for ties in either series.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64, MetricError> {
    check_pair(x, y)?;
    let (mut concordant, mut discordant, mut tied_x_only, mut tied_y_only) = (0_u64, 0_u64, 0_u64, 0_u64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let (dx, dy) = (sign(x[i] - x[j]), sign(y[i] - y[j]));
            match (dx, dy) {
                (0, 0) => {}
                (0, _) => tied_x_only += 1,
                (_, 0) => tied_y_only += 1,
                _ if dx == dy => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let untied_x = concordant + discordant + tied_y_only;
    let untied_y = concordant + discordant + tied_x_only;
    if untied_x == 0 {
        return Err(MetricError::Constant { series: "first" });
    }
    if untied_y == 0 {
        return Err(MetricError::Constant { series: "second" });
    }
    let numerator = concordant as f64 - discordant as f64;
    Ok((numerator / ((untied_x as f64).sqrt() * (untied_y as f64).sqrt())).clamp(-1.0, 1.0))
}

/// Share of predictions equal to their gold label; `None` (a parse failure) counts as wrong.
pub fn accuracy<L: PartialEq>(predicted: &[Option<L>], gold: &[L]) -> Result<f64, MetricError> {
    check_lengths(predicted.len(), gold.len(), 1)?;
    let right = predicted.iter().zip(gold).filter(|(p, g)| p.as_ref() == Some(*g)).count();
    Ok(right as f64 / gold.len() as f64)
}

/// Share of outputs that did not parse.
pub fn parse_failure_rate<L>(predicted: &[Option<L>]) -> Result<f64, MetricError> {
    check_lengths(predicted.len(), predicted.len(), 1)?;
    Ok(predicted.iter().filter(|p| p.is_none()).count() as f64 / predicted.len() as f64)
}

/// Per-order accuracy, their mean, and the consistency rate of pairwise items judged in both
/// orders; `gold` names the better response in the item's own labelling.
pub fn pairwise_accuracy(reports: &[OrderReport], gold: &[Side]) -> Result<PairwiseAccuracy, MetricError> {
    let original: Vec<Option<Side>> = reports.iter().map(|r| r.original).collect();
    let swapped: Vec<Option<Side>> = reports.iter().map(|r| r.swapped).collect();
    let original_order = accuracy(&original, gold)?;
    let swapped_order = accuracy(&swapped, gold)?;
    let consistency = reports.iter().filter(|r| r.consistent).count() as f64 / reports.len() as f64;
    Ok(PairwiseAccuracy { original_order, swapped_order, mean: (original_order + swapped_order) / 2.0, consistency })
}

fn check_pair(x: &[f64], y: &[f64]) -> Result<(), MetricError> {
    check_lengths(x.len(), y.len(), 2)?;
    for (series, values) in [("first", x), ("second", y)] {
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(MetricError::NotFinite { series, index });
        }
    }
    Ok(())
}

fn check_lengths(left: usize, right: usize, needed: usize) -> Result<(), MetricError> {
    if left != right {
        return Err(MetricError::LengthMismatch { left, right });
    }
    if left < needed {
        return Err(MetricError::TooFew { needed, got: left });
    }
    Ok(())
}

fn sign(difference: f64) -> i8 {
    i8::from(difference > 0.0) - i8::from(difference < 0.0)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// 1-based ranks; a group of equal values gets the mean of the ranks it spans.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut group_start = 0;
    while group_start < order.len() {
        let value = values[order[group_start]];
        let group_end = group_start + order[group_start..].iter().take_while(|&&i| values[i] == value).count();
        let average = (group_start + 1 + group_end) as f64 / 2.0;
        for &i in &order[group_start..group_end] {
            ranks[i] = average;
        }
        group_start = group_end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_correlations() {
        // x = 1,2,3,4 and y = 2,4,5,4: means 2.5 and 3.75; Sxy = 3.5, Sxx = 5, Syy = 4.75.
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 5.0, 4.0]);
        assert!(close(pearson(&x, &y).unwrap(), 3.5 / (5.0_f64 * 4.75).sqrt()));
        // Ranks of y: 1, 2.5, 4, 2.5 → Pearson with 1..4: Sxy = 3, Syy = 4.5.
        assert!(close(spearman(&x, &y).unwrap(), 3.0 / (5.0_f64 * 4.5).sqrt()));
        // Pairs: 4 concordant, 1 discordant (3-4), 1 tied in y only → 3 / sqrt(6 × 5).
        assert!(close(kendall_tau_b(&x, &y).unwrap(), 3.0 / 30.0_f64.sqrt()));
        assert!(close(pearson(&x, &[4.0, 3.0, 2.0, 1.0]).unwrap(), -1.0));
    }

    #[test]
    fn average_ranks_share_ties() {
        assert_eq!(average_ranks(&[10.0, 20.0, 10.0, 30.0, 10.0]), [2.0, 4.0, 2.0, 5.0, 2.0]);
    }

    #[test]
    fn undefined_correlations_are_errors() {
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), Err(MetricError::Constant { series: "first" }));
        assert_eq!(kendall_tau_b(&[1.0, 2.0], &[3.0, 3.0]), Err(MetricError::Constant { series: "second" }));
        assert_eq!(spearman(&[1.0], &[1.0]), Err(MetricError::TooFew { needed: 2, got: 1 }));
        assert_eq!(pearson(&[1.0, 2.0], &[1.0]), Err(MetricError::LengthMismatch { left: 2, right: 1 }));
        assert_eq!(pearson(&[1.0, f64::NAN], &[1.0, 2.0]), Err(MetricError::NotFinite { series: "first", index: 1 }));
    }

    #[test]
    fn accuracy_counts_failures_as_wrong() {
        let predicted = [Some("A"), None, Some("B"), Some("A")];
        let gold = ["A", "A", "B", "B"];
        assert!(close(accuracy(&predicted, &gold).unwrap(), 0.5));
        assert!(close(parse_failure_rate(&predicted).unwrap(), 0.25));
        assert_eq!(accuracy::<u8>(&[], &[]), Err(MetricError::TooFew { needed: 1, got: 0 }));
    }

    #[test]
    fn pairwise_accuracy_by_order() {
        use crate::position::combine_orders;
        use Side::{A, B};
        // Gold is A throughout. Item 1: right both ways; 2: always says "first shown" (A then B
        // as printed, i.e. B in the item's labelling); 3: swapped run failed to parse.
        let reports =
            [combine_orders(Some(A), Some(B)), combine_orders(Some(A), Some(A)), combine_orders(Some(A), None)];
        let summary = pairwise_accuracy(&reports, &[A, A, A]).unwrap();
        assert!(close(summary.original_order, 1.0));
        assert!(close(summary.swapped_order, 1.0 / 3.0));
        assert!(close(summary.mean, 2.0 / 3.0));
        assert!(close(summary.consistency, 1.0 / 3.0));
    }
}
