//! The waiting room a browser sees while every shop is full.
//!
//! The page works without JavaScript (a `<noscript>` meta refresh reloads it, and the place is
//! kept by the queue cookie); with JavaScript, `assets/waiting.js` counts down, asks again by
//! itself and plays a chime when the buyer is let in. Everything the script needs travels as
//! data attributes on `<main id=room>`, because [`CSP`] forbids inline scripts (and every style
//! but the one stylesheet all pages share, `usher_wire::html::STYLE`).

use usher_wire::html::escape;

/// The script the page loads from `/assets/waiting.js`.
pub(crate) const SCRIPT: &str = include_str!("../../assets/waiting.js");

/// The policy sent with the page: only this origin's own script and fetches, and the one style.
pub(crate) const CSP: &str = usher_wire::html::SCRIPTED_PAGE_CSP;

/// What the waiting page shows.
pub(crate) struct WaitingView<'a> {
    /// The item the buyer is waiting for, as it appeared in the order URL.
    pub(crate) item: &'a str,
    /// The name buyers know it by, when a shop said one.
    pub(crate) name: Option<&'a str>,
    /// The place in line; 1 means next. `None` in the pre-queue, before the draw.
    pub(crate) position: Option<u64>,
    /// Before a scheduled opening: how long until it, in ms, when the page was made (the
    /// script counts down from it, so the buyer's clock does not matter).
    pub(crate) opens_in_ms: Option<u64>,
    /// The pre-queue's order is drawn at random at the opening (else: kept in arrival order).
    pub(crate) drawn_at_random: bool,
    /// The estimate of the rest of the wait.
    pub(crate) estimated_wait_ms: u64,
    /// About its p10 and p90: what the page says, in words.
    pub(crate) estimate_low_ms: u64,
    /// See [`estimate_low_ms`](Self::estimate_low_ms).
    pub(crate) estimate_high_ms: u64,
    /// When to ask again, unrounded (the script counts down to it).
    pub(crate) retry_after_ms: u64,
}

/// Renders the waiting page: the estimated wait (Sa56) and position, the countdown after which
/// the client asks again by itself (Sc55–Sc56; the meta refresh does it without JavaScript),
/// and the sound toggle for the chime played when the buyer is admitted (0051).
pub(crate) fn waiting_page(view: &WaitingView<'_>) -> String {
    let item = escape(view.item);
    let name = escape(view.name.unwrap_or(view.item));
    let refresh_secs = view.retry_after_ms.div_ceil(1000).max(1);
    let position = view.position.unwrap_or(1);
    let estimate_attr = format!(
        " data-estimate-ms=\"{}\" data-estimate-low-ms=\"{}\" data-estimate-high-ms=\"{}\"",
        view.estimated_wait_ms, view.estimate_low_ms, view.estimate_high_ms
    );
    let retry_ms = view.retry_after_ms;
    let position_text = match view.position {
        Some(position) => escape(&position_text(position)),
        None if view.drawn_at_random => "Your place is drawn when the sale opens.".to_owned(),
        None => "Your place is kept for the opening.".to_owned(),
    };
    let (heading, lead, opening) = match view.opens_in_ms {
        Some(ms) => (
            "The sale opens soon",
            format!(
                "The sale of <strong id=item>{name}</strong> has not opened yet. Keep this page \
                 open: {} and this page takes you in when it is your turn.",
                if view.drawn_at_random {
                    "when the sale opens, the order of everyone waiting here is drawn at random \
                     (arriving earlier buys nothing),"
                } else {
                    "when the sale opens, everyone waiting here goes in the order they came,"
                }
            ),
            format!(
                "\n<p id=opening class=opening data-opens-in-ms=\"{ms}\">{}</p>",
                opens_in_text(ms)
            ),
        ),
        None => (
            "You are in line",
            format!(
                "Every shop selling <strong id=item>{name}</strong> is full right now. Keep \
                 this page open: it asks again by itself and takes you in when it is your turn."
            ),
            String::new(),
        ),
    };
    let estimate_text = escape(&estimate_text(view.estimate_low_ms, view.estimate_high_ms));
    let unit = if refresh_secs == 1 {
        "second"
    } else {
        "seconds"
    };
    let head = format!(
        "<noscript><meta http-equiv=refresh content=\"{refresh_secs}\"></noscript>
<script src=\"/assets/waiting.js\" defer></script>
"
    );
    let attributes = format!(
        " id=room data-item=\"{item}\" data-position=\"{position}\"{estimate_attr} \
         data-retry-ms=\"{retry_ms}\""
    );
    let main = format!(
        "<h1 id=heading>{heading}</h1>
<p id=lead class=lead>{lead}</p>{opening}
<div id=status class=status role=status aria-live=polite aria-atomic=true>
<p id=position class=position>{position_text}</p>
<p id=estimate class=estimate>{estimate_text}</p>
<p id=message class=message></p>
</div>
<p id=countdown class=countdown>Checking again in {refresh_secs} {unit}.</p>
<button id=sound class=sound type=button aria-pressed=false hidden>\
<span class=switch aria-hidden=true></span>Play a sound when it is my turn</button>
<p class=note>Your place is kept if you reload this page.</p>
"
    );
    usher_wire::html::page(
        &format!("In line for {}", view.item),
        &head,
        &attributes,
        &main,
    )
}

/// How long until the opening, in words; `waiting.js` counts it down in the same words.
fn opens_in_text(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("The sale opens in {h}:{m:02}:{s:02}.")
    } else {
        format!("The sale opens in {m}:{s:02}.")
    }
}

/// The place in words; `waiting.js` uses the same wording when it updates it.
fn position_text(position: u64) -> String {
    if position <= 1 {
        "You are next.".to_owned()
    } else {
        format!("You are number {position} in line.")
    }
}

/// The estimate in words a buyer takes in at a glance, as its range (about p10 to p90):
/// "about 4–6 minutes". `waiting.js` uses the same steps.
fn estimate_text(low_ms: u64, high_ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    let words = if high_ms < 10_000 {
        "a few seconds".to_owned()
    } else if high_ms < MINUTE {
        "less than a minute".to_owned()
    } else {
        let (low, high) = (low_ms / MINUTE, high_ms.div_ceil(MINUTE));
        if high < 90 {
            match (low, high) {
                (_, 1) => "up to a minute".to_owned(),
                (0, _) => format!("up to {high} minutes"),
                _ => format!("about {low}–{high} minutes"),
            }
        } else {
            match (low / 60, high.div_ceil(60)) {
                (0 | 1, hours) => format!("up to {hours} hours"),
                (from, to) => format!("about {from}–{to} hours"),
            }
        }
    };
    format!("Estimated wait: {words}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page whose estimate's range is ±20% around `estimate`.
    fn page(item: &str, position: u64, estimate: u64, retry: u64) -> String {
        waiting_page(&WaitingView {
            item,
            name: None,
            position: Some(position),
            opens_in_ms: None,
            drawn_at_random: true,
            estimated_wait_ms: estimate,
            estimate_low_ms: estimate * 4 / 5,
            estimate_high_ms: estimate * 6 / 5,
            retry_after_ms: retry,
        })
    }

    #[test]
    fn hostile_item_is_escaped_in_text_and_attributes() {
        let html = page(r#"<script>alert("x")</script>'"#, 3, 1000, 1000);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains(r#"alert("x")"#), "{html}");
        assert!(
            html.contains("data-item=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;\"")
        );
        assert!(html.contains("<title>In line for &lt;script&gt;"));
        assert!(html.contains("<strong id=item>&lt;script&gt;"));
    }

    #[test]
    fn noscript_refresh_rounds_the_retry_up_to_whole_seconds() {
        for (retry_ms, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (2500, 3)] {
            let html = page("cap", 2, 5000, retry_ms);
            let refresh =
                format!("<noscript><meta http-equiv=refresh content=\"{secs}\"></noscript>");
            assert!(html.contains(&refresh), "{retry_ms} ms: {html}");
            assert!(html.contains(&format!("data-retry-ms=\"{retry_ms}\"")));
        }
    }

    #[test]
    fn page_is_a_complete_accessible_document() {
        let html = page("cap", 12, 300_000, 3000);
        assert!(html.starts_with("<!doctype html>\n<html lang=en>"));
        assert!(html.contains("<meta charset=utf-8>"));
        assert!(html.contains("name=viewport"));
        assert!(html.contains("role=status aria-live=polite"));
        assert!(html.contains("<button id=sound class=sound type=button aria-pressed=false"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn page_obeys_its_own_policy() {
        let html = page("cap", 12, 300_000, 3000);
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
        assert!(!html.contains("style="), "inline style attribute");
        assert_eq!(
            html.matches("<style>").count(),
            1,
            "the one stylesheet only"
        );
        assert!(html.contains(usher_wire::html::STYLE));
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/assets/waiting.js\" defer></script>"));
        for asset in [SCRIPT, usher_wire::html::STYLE] {
            assert!(!asset.contains("http://") && !asset.contains("https://"));
        }
        assert!(!SCRIPT.contains("eval(") && !SCRIPT.contains("innerHTML"));
    }

    #[test]
    fn policy_has_no_escape_hatches() {
        assert!(!CSP.contains("unsafe"), "{CSP}");
        assert!(CSP.starts_with("default-src 'none';"));
    }

    #[test]
    fn position_and_estimate_are_in_the_html() {
        let html = page("cap", 12, 300_000, 3000);
        assert!(html.contains("data-position=\"12\""));
        assert!(html.contains("data-estimate-ms=\"300000\""));
        assert!(html.contains("data-estimate-low-ms=\"240000\""));
        assert!(html.contains("data-estimate-high-ms=\"360000\""));
        assert!(html.contains("You are number 12 in line."));
        assert!(html.contains("Estimated wait: about 4–6 minutes."));
        assert!(html.contains("Checking again in 3 seconds."));

        // The very first answer of a sale says a wait too: never "estimating…".
        let next = page("cap", 1, 800, 800);
        assert!(next.contains("You are next."));
        assert!(next.contains("Estimated wait: a few seconds."));
        assert!(!next.contains("estimating"));
        assert!(next.contains("Checking again in 1 second."));
    }

    #[test]
    fn before_an_opening_the_page_counts_down_to_it_and_says_the_draw() {
        let html = waiting_page(&WaitingView {
            item: "cap",
            name: None,
            position: None,
            opens_in_ms: Some(65_500),
            drawn_at_random: true,
            estimated_wait_ms: 70_000,
            estimate_low_ms: 66_000,
            estimate_high_ms: 90_000,
            retry_after_ms: 30_000,
        });
        assert!(
            html.contains("<h1 id=heading>The sale opens soon</h1>"),
            "{html}"
        );
        assert!(html.contains("data-opens-in-ms=\"65500\">The sale opens in 1:06.</p>"));
        assert!(html.contains("drawn at random"));
        assert!(html.contains("Your place is drawn when the sale opens."));
        assert!(!html.contains("You are number"));
        assert_eq!(
            opens_in_text(3_600_000 + 61_000),
            "The sale opens in 1:01:01."
        );
    }

    #[test]
    fn estimates_read_in_human_terms_as_their_range() {
        let words = |low, high| estimate_text(low, high);
        assert_eq!(words(1_000, 4_000), "Estimated wait: a few seconds.");
        assert_eq!(words(20_000, 45_000), "Estimated wait: less than a minute.");
        assert_eq!(words(40_000, 60_000), "Estimated wait: up to a minute.");
        assert_eq!(words(30_000, 150_000), "Estimated wait: up to 3 minutes.");
        assert_eq!(
            words(240_000, 360_000),
            "Estimated wait: about 4–6 minutes."
        );
        assert_eq!(
            words(50 * 60_000, 70 * 60_000),
            "Estimated wait: about 50–70 minutes."
        );
        assert_eq!(
            words(60 * 60_000, 200 * 60_000),
            "Estimated wait: up to 4 hours."
        );
        assert_eq!(
            words(130 * 60_000, 200 * 60_000),
            "Estimated wait: about 2–4 hours."
        );
    }
}
