//! Grouped bar charts as SVG text: a few hundred lines of markup that any browser or Markdown
//! viewer shows, with no plotting library or font files behind them.

use std::fmt::Write as _;

/// One bar per group, in one colour.
pub struct Series {
    pub name: String,
    /// One value per group; `None` leaves the slot empty and labelled `n/a`.
    pub values: Vec<Option<f64>>,
}

const COLOURS: [&str; 8] = ["#1b1b1b", "#e07b39", "#3a7ca5", "#6a994e", "#9d4edd", "#bc4749", "#7f7f7f", "#f2c14e"];
const BAR: f64 = 22.0;
const GROUP_GAP: f64 = 26.0;
const PLOT_HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const TOP: f64 = 44.0;
const LEGEND_ROW: f64 = 18.0;

/// A chart of `series` over `groups`, on an axis from min(0, lowest value) to max(1, highest).
pub fn bar_chart(title: &str, groups: &[String], series: &[Series]) -> String {
    let values = series.iter().flat_map(|s| s.values.iter().flatten().copied());
    let (low, high) = values.fold((0.0_f64, 1.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = ((low * 5.0).floor() / 5.0, (high * 5.0).ceil() / 5.0);
    let group_width = series.len().max(1) as f64 * BAR + GROUP_GAP;
    let width = LEFT + groups.len() as f64 * group_width + 20.0;
    let legend_top = TOP + PLOT_HEIGHT + 56.0;
    let height = legend_top + series.len() as f64 * LEGEND_ROW + 12.0;
    let y = |v: f64| TOP + (high - v) / (high - low) * PLOT_HEIGHT;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{}</text>"#, escape(title));
    let steps = ((high - low) * 5.0).round() as usize;
    for step in 0..=steps {
        let tick = low + step as f64 * 0.2;
        let at = y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{at:.1}" y2="{at:.1}" stroke="{}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{tick:.1}</text>"##,
            width - 20.0,
            if tick.abs() < 1e-9 { "#555" } else { "#ddd" },
            LEFT - 6.0,
            at + 4.0
        );
    }
    for (g, group) in groups.iter().enumerate() {
        let x0 = LEFT + GROUP_GAP / 2.0 + g as f64 * group_width;
        for (s, one) in series.iter().enumerate() {
            let x = x0 + s as f64 * BAR;
            match one.values.get(g).copied().flatten() {
                Some(v) => {
                    let (top, bottom) = (y(v.max(0.0)), y(v.min(0.0)));
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {v:.3}</title></rect>"#,
                        BAR - 2.0,
                        (bottom - top).max(0.5),
                        COLOURS[s % COLOURS.len()],
                        escape(&one.name)
                    );
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}" font-size="8" text-anchor="middle">{v:.2}</text>"#,
                        x + BAR / 2.0 - 1.0,
                        top - 3.0
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r#"<text x="{:.1}" y="{:.1}" font-size="8" text-anchor="middle">n/a</text>"#,
                        x + BAR / 2.0 - 1.0,
                        y(0.0) - 3.0
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + series.len() as f64 * BAR / 2.0,
            TOP + PLOT_HEIGHT + 18.0,
            escape(group)
        );
    }
    for (s, one) in series.iter().enumerate() {
        let top = legend_top + s as f64 * LEGEND_ROW;
        let _ = writeln!(
            svg,
            r#"<rect x="{LEFT}" y="{top:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            COLOURS[s % COLOURS.len()],
            LEFT + 18.0,
            top + 10.0,
            escape(&one.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_known_value_and_escaped_text() {
        let series = [
            Series { name: "a<b".into(), values: vec![Some(0.5), None, Some(-0.1)] },
            Series { name: "c".into(), values: vec![Some(1.0), Some(0.2), Some(0.3)] },
        ];
        let svg = bar_chart("t & u", &["x".into(), "y".into(), "z".into()], &series);
        // Background, five bars, two legend swatches.
        assert_eq!(svg.matches("<rect").count(), 1 + 5 + 2);
        assert_eq!(svg.matches(">n/a<").count(), 1);
        assert!(svg.contains("t &amp; u") && svg.contains("a&lt;b") && !svg.contains("a<b"));
        // A negative value lowers the axis to -0.2.
        assert!(svg.contains(">-0.2</text>"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
