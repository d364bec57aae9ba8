//! The correlations agree with scipy on the data in tests/golden/metrics.json, which
//! tests/golden/metrics.py generated with numpy and scipy.

use selene_judge::metrics::{kendall_tau_b, pearson, spearman};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    pearson: f64,
    spearman: f64,
    kendall_tau_b: f64,
}

#[test]
fn correlations_match_scipy() {
    let golden: Golden = serde_json::from_str(include_str!("golden/metrics.json")).expect("metrics.json parses");
    assert!(golden.cases.len() >= 5);
    for case in golden.cases {
        let computed = [
            ("pearson", pearson(&case.x, &case.y).unwrap(), case.pearson),
            ("spearman", spearman(&case.x, &case.y).unwrap(), case.spearman),
            ("kendall_tau_b", kendall_tau_b(&case.x, &case.y).unwrap(), case.kendall_tau_b),
        ];
        for (metric, ours, scipy) in computed {
            assert!((ours - scipy).abs() < 1e-12, "{} {metric}: ours {ours}, scipy {scipy}", case.name);
        }
    }
}
