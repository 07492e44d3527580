//! The dashboard's page: one HTML file with its styles and script inline, embedded in the binary
//! (no CDN, works offline). It draws every chart as SVG itself and reads the views from `/events`.

/// The page (`src/dashboard/page.html`).
pub const HTML: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::HTML;

    #[test]
    fn the_page_loads_nothing_from_elsewhere_and_stays_light() {
        for outside in ["http://", "https://", "//cdn", "@import", "<link"] {
            assert!(!HTML.contains(outside), "the page refers to {outside}");
        }
        assert!(HTML.contains("new EventSource(\"/events?"));
        assert!(HTML.len() < 40_000, "{} bytes", HTML.len());
    }
}
