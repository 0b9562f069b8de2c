//! Bar charts as inline SVG: the report must render with no network and no script.

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart: one labelled bar per `(label, value)`, with the value printed.
pub fn bar_chart(title: &str, bars: &[(String, u64)], colour: &str) -> String {
    let row_height = 22.0;
    let label_width = 220.0;
    let bar_width = 380.0;
    let height = 30.0 + row_height * bars.len().max(1) as f64;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let mut svg = format!(
        r#"<svg class="chart" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" viewBox="0 0 {} {height}"><title>{}</title>"#,
        escape(title),
        label_width + bar_width + 80.0,
        label_width + bar_width + 80.0,
        escape(title)
    );
    svg.push_str(&format!(r#"<text x="0" y="16" font-size="14" font-weight="bold">{}</text>"#, escape(title)));
    if bars.is_empty() {
        svg.push_str(r##"<text x="0" y="42" font-size="13" fill="#555">none in this period</text>"##);
    }
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = 28.0 + row_height * i as f64;
        let width = (*value as f64 / max * bar_width).max(if *value > 0 { 1.0 } else { 0.0 });
        svg.push_str(&format!(
            r#"<text x="{}" y="{}" font-size="12" text-anchor="end">{}</text><rect x="{}" y="{}" width="{width:.1}" height="{}" fill="{colour}"/><text x="{}" y="{}" font-size="12">{value}</text>"#,
            label_width - 6.0,
            y + 14.0,
            escape(label),
            label_width,
            y + 3.0,
            row_height - 6.0,
            label_width + width + 6.0,
            y + 14.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_labels_are_escaped() {
        let svg = bar_chart("A<B", &[("x&y".into(), 10), ("z".into(), 5)], "#0072B2");
        assert!(svg.contains("A&lt;B") && svg.contains("x&amp;y"));
        assert!(svg.contains(r#"width="380.0""#) && svg.contains(r#"width="190.0""#));
        assert!(bar_chart("empty", &[], "#000").contains("none in this period"));
    }
}
