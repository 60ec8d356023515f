//! What the report page and the comparison page share: escaping, number formats, the verdict
//! marks and the page shell with its stylesheet (inline, since the page is a file opened
//! offline).

/// Shop ids, labels and error codes come from the run; a page that ran a shop id as script
/// would be a page nobody could trust. The one HTML escape every part shares.
pub(super) use usher_wire::html::escape;

/// A figure with `digits` decimals, or `n/a` for one the run could not measure.
pub(super) fn figure(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.digits$}"))
}

/// A share as a percentage with one decimal (`97.3 %`), or `n/a`.
pub(super) fn percent(value: Option<f64>) -> String {
    value.map_or_else(
        || "n/a".to_owned(),
        |value| format!("{:.1} %", value * 100.0),
    )
}

/// Milliseconds as seconds with one decimal (`12.5 s`).
pub(super) fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// A latency in ms, with fewer decimals as it grows (`0.412`, `12.4`, `1520`).
pub(super) fn latency(ms: f64) -> String {
    match ms {
        ms if ms < 10.0 => format!("{ms:.3}"),
        ms if ms < 1000.0 => format!("{ms:.1}"),
        ms => format!("{ms:.0}"),
    }
}

/// Colours of chart lines and bars, in order of use.
pub(super) const PALETTE: [&str; 6] = [
    "#2563a8", "#e07b16", "#2e8b57", "#8e44ad", "#b8860b", "#607080",
];

/// The colour of a capacity line: the limit that must never be crossed.
pub(super) const LIMIT_COLOUR: &str = "#c62828";

/// A complete HTML document around `body` (already markup); `title` is escaped here.
pub(super) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        escape(title)
    )
}

const STYLE: &str = "
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;
  color: #1d2330; background: #f5f6f8; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #dde1e7; }
h3 { font-size: 14px; margin: 0 0 4px; }
.meta, .note { color: #5b6472; margin: 0 0 12px; }
.note { font-size: 13px; }
.banner { display: inline-block; padding: 6px 14px; border-radius: 4px; font-weight: 600; margin: 4px 0 8px; }
.banner.pass { background: #e3f4e8; } .banner.fail { background: #fde7e7; }
.tables { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; background: #fff; border: 1px solid #dde1e7;
  font-variant-numeric: tabular-nums; }
th, td { padding: 5px 14px; text-align: right; border-bottom: 1px solid #eceff3; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef1f5; font-weight: 600; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
.na { color: #7a828e; }
figure { margin: 0 0 12px; background: #fff; border: 1px solid #dde1e7; padding: 10px 12px; }
svg { display: block; width: 100%; height: auto; }
.shops { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 12px; }
pre { background: #fff; border: 1px solid #dde1e7; padding: 10px 12px; overflow: auto; font-size: 13px; }
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_figures_read_n_a() {
        assert_eq!(figure(None, 3), "n/a");
        assert_eq!(figure(Some(0.98765), 3), "0.988");
        assert_eq!(percent(Some(0.9731)), "97.3 %");
    }

    #[test]
    fn latencies_keep_three_significant_figures_or_so() {
        assert_eq!(latency(0.4123), "0.412");
        assert_eq!(latency(12.44), "12.4");
        assert_eq!(latency(1520.4), "1520");
    }

    #[test]
    fn the_page_title_is_escaped() {
        let html = page("a <b>", "<p>body</p>\n");
        assert!(html.contains("<title>a &lt;b&gt;</title>"));
        assert!(html.starts_with("<!DOCTYPE html>"));
    }
}
