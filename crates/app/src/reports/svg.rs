//! Bar charts as inline SVG: the report must render with no network and no script. Written with
//! maud, which escapes every interpolated label.

use maud::{Markup, html};

/// Geometry of a chart, in SVG units.
const ROW_HEIGHT: f64 = 22.0;
const LABEL_WIDTH: f64 = 220.0;
const BAR_WIDTH: f64 = 380.0;
const VALUE_WIDTH: f64 = 80.0;

/// A horizontal bar chart: one labelled bar per `(label, value)`, with the value printed.
pub fn bar_chart(title: &str, bars: &[(String, u64)], colour: &str) -> Markup {
    let width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH;
    let height = 30.0 + ROW_HEIGHT * bars.len().max(1) as f64;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    html! {
        svg class="chart" role="img" aria-label=(title) xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) {
            title { (title) }
            text x="0" y="16" font-size="14" font-weight="bold" { (title) }
            @if bars.is_empty() {
                text x="0" y="42" font-size="13" fill="#555" { "none in this period" }
            }
            @for (i, (label, value)) in bars.iter().enumerate() {
                @let y = 28.0 + ROW_HEIGHT * i as f64;
                @let bar = (*value as f64 / max * BAR_WIDTH).max(if *value > 0 { 1.0 } else { 0.0 });
                text x=(LABEL_WIDTH - 6.0) y=(y + 14.0) font-size="12" text-anchor="end" { (label) }
                rect x=(LABEL_WIDTH) y=(y + 3.0) width=(format!("{bar:.1}")) height=(ROW_HEIGHT - 6.0) fill=(colour) {}
                text x=(LABEL_WIDTH + bar + 6.0) y=(y + 14.0) font-size="12" { (value) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = bar_chart("A<B", &[("x&y".into(), 10), ("z".into(), 5)], "#0072B2").into_string();
        assert!(svg.contains("A&lt;B") && svg.contains("x&amp;y"), "{svg}");
        assert!(svg.contains(r#"width="380.0""#) && svg.contains(r#"width="190.0""#), "{svg}");
        assert!(bar_chart("empty", &[], "#000").into_string().contains("none in this period"));
    }
}
