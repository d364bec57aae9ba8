//! The end-of-run report: one self-contained HTML file with an SVG line chart per metric family
//! (no scripts, no external files), made from `metrics.jsonl`, plus the run's summary.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Charts: a title and the metrics drawn on it.
const CHARTS: &[(&str, &[&str])] = &[
    ("Loss", &["loss", "dpo_loss", "nll_loss"]),
    ("Rewards", &["rewards/chosen", "rewards/rejected", "rewards/margins"]),
    ("Reward accuracy", &["rewards/accuracies"]),
    ("Log-probabilities", &["logps/chosen", "logps/rejected"]),
    ("Held-out judge accuracy", &["eval/judge_accuracy", "eval/parse_failure_rate"]),
    ("Learning rate", &["learning_rate"]),
    ("Gradient norm", &["grad_norm"]),
    ("Throughput (tokens/s)", &["tokens/s"]),
];

const COLORS: &[&str] = &["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Series of (step, value) by metric name, from a metrics log.
pub fn read_series(metrics: &Path) -> Result<BTreeMap<String, Vec<(f64, f64)>>> {
    let text = std::fs::read_to_string(metrics).map_err(|e| Error::file(metrics, "read", e))?;
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let record: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::at_line(metrics, i + 1, "JSON", e))?;
        let Some(step) = record.get("step").and_then(serde_json::Value::as_f64) else { continue };
        for (key, value) in record.as_object().into_iter().flatten() {
            if let Some(v) = value.as_f64().filter(|v| v.is_finite()) {
                series.entry(key.clone()).or_default().push((step, v));
            }
        }
    }
    Ok(series)
}

/// Writes `report.html` from the metrics log and a summary (shown as a table).
pub fn write(metrics: &Path, summary: &serde_json::Value, out: &Path) -> Result<()> {
    let series = read_series(metrics)?;
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>selene-train report</title>\
         <style>body{font:14px sans-serif;margin:2em}td{padding:2px 10px}svg{margin:8px}</style>\
         <h1>selene-train report</h1><table>",
    );
    for (key, value) in summary.as_object().into_iter().flatten() {
        let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(key), escape(&value.to_string()));
    }
    html.push_str("</table>");
    for (title, keys) in CHARTS {
        let lines: Vec<(&str, &Vec<(f64, f64)>)> =
            keys.iter().filter_map(|k| series.get(*k).map(|s| (*k, s))).filter(|(_, s)| !s.is_empty()).collect();
        if !lines.is_empty() {
            html.push_str(&chart(title, &lines));
        }
    }
    crate::error::write(out, html.as_bytes())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One line chart, 560×300, with axes labelled at their extremes and a legend.
fn chart(title: &str, lines: &[(&str, &Vec<(f64, f64)>)]) -> String {
    let (w, h, left, right, top, bottom) = (560.0, 300.0, 70.0, 20.0, 30.0, 40.0);
    let points = lines.iter().flat_map(|(_, s)| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        (y0, y1) = (y0 - 0.5, y1 + 0.5);
    }
    let px = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let py = |y: f64| h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\" stroke=\"#ccc\"/>\
         <text x=\"{left}\" y=\"18\" font-weight=\"bold\">{}</text>\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>",
        escape(title),
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{}</text>\
         <text x=\"{left}\" y=\"{}\" font-size=\"11\">step {}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">step {}</text>",
        left - 4.0,
        top + 4.0,
        number(y1),
        left - 4.0,
        h - bottom,
        number(y0),
        h - bottom + 16.0,
        number(x0),
        w - right,
        h - bottom + 16.0,
        number(x1)
    );
    for (i, (name, series)) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = series.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{color}\">{}</text>",
            path.join(" "),
            w - right - 150.0,
            top + 14.0 * (i as f64 + 1.0),
            escape(name)
        );
        if series.len() == 1 {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                px(series[0].0),
                py(series[0].1)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) { format!("{v:.3e}") } else { format!("{v:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_every_logged_family() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join("metrics.jsonl");
        std::fs::write(
            &metrics,
            "{\"step\":1,\"loss\":0.7,\"dpo_loss\":0.69,\"nll_loss\":0.01,\"learning_rate\":1e-7}\n\
             {\"step\":2,\"loss\":0.6,\"dpo_loss\":0.59,\"nll_loss\":0.01,\"learning_rate\":2e-7}\n\
             {\"step\":2,\"eval/judge_accuracy\":0.5}\n",
        )
        .unwrap();
        let out = dir.path().join("report.html");
        write(&metrics, &serde_json::json!({"steps": 2, "note": "<b>"}), &out).unwrap();
        let html = std::fs::read_to_string(&out).unwrap();
        assert_eq!(html.matches("<svg").count(), 3, "loss, judge accuracy, learning rate");
        assert!(html.contains("dpo_loss") && html.contains("&lt;b&gt;") && !html.contains("<b>\""));
        assert!(html.contains("<circle"), "a one-point series is drawn as a dot");
    }
}
