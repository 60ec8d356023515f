//! [`Report::to_html`]: the run on one page, verdicts first, then the charts that explain them,
//! then the detail (latency, errors, scenario).

use super::figures::{MAX_ESTIMATE_POINTS, RATE_BUCKET_MS, Report};
use super::goals::{self, Verdict};
use super::markup::{self, LIMIT_COLOUR, PALETTE, escape};
use super::svg::{self, Line, LineChart, ScatterChart};
use crate::metrics::{ESTIMATE_FLOOR_MS, Percentiles};

impl Report {
    /// The report as one self-contained HTML page: no script, nothing fetched, charts as inline
    /// SVG, so it can be mailed or archived and still open years later. Every string from the
    /// run is escaped.
    pub fn to_html(&self) -> String {
        let mut body = String::new();
        body.push_str(&self.heading());
        body.push_str(&self.summary());
        body.push_str(&self.charts());
        body.push_str(&self.estimate_chart());
        body.push_str(&self.latency_table());
        body.push_str(&self.errors_table());
        body.push_str(&format!(
            "<h2>Scenario</h2>\n<pre>{}</pre>\n",
            escape(&serde_json::to_string_pretty(&self.scenario).unwrap_or_default())
        ));
        body.push_str(&format!(
            "<p class=\"note\">τ is Kendall's τ-b between place in line (arrival order as the \
             reception took it) and admission order among buyers who waited and obeyed every \
             return time (admissions in the same millisecond tie, which lowers τ-b slightly). \
             Utilisation is places in use ÷ places in all, weighted by time, while anyone \
             waited. The estimate error is |first estimate − actual wait| ÷ actual wait, \
             counted from when the estimate arrived, median over obedient buyers who waited at \
             least {ESTIMATE_FLOOR_MS} ms; the range coverage is the share of those buyers whose \
             actual wait lay within the range (about p10 to p90) told with that estimate.</p>\n"
        ));
        markup::page(&format!("usher crowd: {}", self.label), &body)
    }

    fn heading(&self) -> String {
        let failed = self
            .checks()
            .iter()
            .filter(|check| check.verdict == Verdict::Fail)
            .count();
        let banner = match failed {
            0 => r#"<p class="banner pass">✔ Every measured goal met</p>"#.to_owned(),
            1 => r#"<p class="banner fail">✘ 1 goal missed</p>"#.to_owned(),
            n => format!(r#"<p class="banner fail">✘ {n} goals missed</p>"#),
        };
        let deadline = match (self.cut_short, self.not_arrived) {
            (0, 0) => String::new(),
            (cut, late) => format!(
                "<p class=\"meta\">At the deadline {cut} buyers were cut short and {late} had not \
                 arrived (neither counts as an error).</p>\n"
            ),
        };
        format!(
            "<h1>usher crowd · {}</h1>\n<p class=\"meta\">{} buyers over {} · {} admitted · {} \
             bought ({}) · {} of {} obedient buyers served</p>\n{deadline}{banner}\n",
            escape(&self.label),
            self.buyers,
            markup::seconds(self.duration_ms),
            self.admitted,
            self.bought,
            markup::percent(self.share_served()),
            self.obedient_served,
            self.obedient,
        )
    }

    fn summary(&self) -> String {
        let mut goals = String::from(
            "<table>\n<thead><tr><th>Goal</th><th>Value</th><th>Target</th><th>Result</th>\
             </tr></thead>\n<tbody>\n",
        );
        for check in self.checks() {
            goals.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(check.figure),
                escape(&check.shown),
                escape(&check.goal),
                goals::verdict_mark(check.verdict)
            ));
        }
        goals.push_str("</tbody>\n</table>\n");
        let crowd = [
            ("Buyers", self.buyers.to_string()),
            ("Obedient", self.obedient.to_string()),
            ("Admitted", self.admitted.to_string()),
            ("Obedient served", self.obedient_served.to_string()),
            ("Bought", self.bought.to_string()),
            ("Cut short at the deadline", self.cut_short.to_string()),
            ("Not arrived by the deadline", self.not_arrived.to_string()),
            ("Duration", markup::seconds(self.duration_ms)),
        ];
        let opening = self
            .first_admission_after_opening_ms
            .map(|ms| ("First admission after the opening", format!("{ms} ms")));
        let mut people =
            String::from("<table>\n<thead><tr><th>Crowd</th><th></th></tr></thead>\n<tbody>\n");
        for (name, value) in crowd.into_iter().chain(opening) {
            people.push_str(&format!("<tr><td>{name}</td><td>{value}</td></tr>\n"));
        }
        people.push_str("</tbody>\n</table>\n");
        format!("<h2>Summary</h2>\n<div class=\"tables\">\n{goals}{people}</div>\n")
    }

    fn charts(&self) -> String {
        // Every time chart spans the whole run, so a moment sits at the same x in each.
        let x_max = self.duration_ms as f64 / 1000.0;
        let mut rate: Vec<(f64, f64)> = self
            .admissions_per_second
            .iter()
            .map(|point| (point.at_ms as f64 / 1000.0, point.per_second))
            .collect();
        // Close the last bucket, or its step would have no width.
        if let Some(&(at, per_second)) = rate.last() {
            rate.push((at + RATE_BUCKET_MS as f64 / 1000.0, per_second));
        }
        let mut html = String::from("<h2>Admissions per second</h2>\n<figure>\n");
        html.push_str(&svg::line_chart(&LineChart {
            title: "Admissions per second over time",
            y_label: "admissions / s",
            width: svg::FULL_WIDTH,
            height: 240.0,
            x_max,
            lines: vec![Line {
                name: "admitted",
                colour: PALETTE[0],
                dashed: false,
                step: true,
                points: rate,
            }],
        }));
        html.push_str("</figure>\n<h2>Queue length</h2>\n<figure>\n");
        let queue = self
            .queue
            .iter()
            .map(|point| (point.at_ms as f64 / 1000.0, point.len as f64));
        html.push_str(&svg::line_chart(&LineChart {
            title: "Buyers waiting in the reception's line over time",
            y_label: "waiting",
            width: svg::FULL_WIDTH,
            height: 240.0,
            x_max,
            lines: vec![Line {
                name: "waiting",
                colour: PALETTE[1],
                dashed: false,
                step: true,
                points: queue.collect(),
            }],
        }));
        html.push_str("</figure>\n<h2>Places in use per shop</h2>\n<div class=\"shops\">\n");
        for (id, shop) in &self.shops {
            let over = shop.high_water > shop.capacity;
            let in_use = shop
                .in_use
                .iter()
                .map(|point| (point.at_ms as f64 / 1000.0, f64::from(point.in_use)));
            let capacity = f64::from(shop.capacity);
            let title = format!("Places in use at shop {id} over time, against its capacity");
            html.push_str(&format!(
                "<figure>\n<h3>{}</h3>\n<p class=\"note\">capacity {} · high water \
                 <span class=\"{}\">{}</span></p>\n{}</figure>\n",
                escape(id),
                shop.capacity,
                if over { "fail" } else { "pass" },
                shop.high_water,
                svg::line_chart(&LineChart {
                    title: &title,
                    y_label: "places",
                    width: svg::FULL_WIDTH / 2.0,
                    height: 200.0,
                    x_max,
                    lines: vec![
                        Line {
                            name: "in use",
                            colour: PALETTE[0],
                            dashed: false,
                            step: true,
                            points: in_use.collect(),
                        },
                        Line {
                            name: "capacity",
                            colour: LIMIT_COLOUR,
                            dashed: true,
                            step: false,
                            points: vec![(0.0, capacity), (x_max, capacity)],
                        },
                    ],
                })
            ));
        }
        if self.shops.is_empty() {
            html.push_str("<p class=\"na\">No shop was sampled.</p>\n");
        }
        html.push_str("</div>\n");
        html
    }

    /// Each judged buyer's first estimate against its actual wait: the median error and the
    /// range coverage in one picture, with the buyers they hide (a cluster far above the line
    /// is a group that waited much longer than told).
    fn estimate_chart(&self) -> String {
        let points = self
            .estimates
            .iter()
            .map(|point| {
                (
                    point.estimate_ms as f64 / 1000.0,
                    point.actual_ms as f64 / 1000.0,
                )
            })
            .collect();
        format!(
            "<h2>Estimated and actual wait</h2>\n<figure>\n{}</figure>\n<p class=\"note\">One \
             dot per obedient buyer who waited at least {ESTIMATE_FLOOR_MS} ms (at most \
             {MAX_ESTIMATE_POINTS}, evenly sampled), placed by its first estimate (across) and \
             the wait it then got (up). Above the dashed line, a buyer waited longer than it was \
             told.</p>\n",
            svg::scatter_chart(&ScatterChart {
                title: "First wait estimate against actual wait, one dot per buyer",
                x_label: "first estimate (s)",
                y_label: "actual wait (s)",
                name: "buyer",
                colour: PALETTE[0],
                diagonal: "actual = estimate",
                points,
            })
        )
    }

    fn latency_table(&self) -> String {
        let row = |name: &str, p: &Percentiles| {
            format!(
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                p.count,
                markup::latency(p.p50),
                markup::latency(p.p99),
                markup::latency(p.p999),
                markup::latency(p.max)
            )
        };
        let latency = &self.latency_ms;
        format!(
            "<h2>Latency (ms)</h2>\n<table>\n<thead><tr><th>Call</th><th>Count</th><th>p50</th>\
             <th>p99</th><th>p99.9</th><th>Max</th></tr></thead>\n<tbody>\n{}{}{}{}</tbody>\n\
             </table>\n",
            row("Admission (each ask)", &latency.admission),
            row("Claim at the shop", &latency.claim),
            row("Order", &latency.order),
            row("Whole visit (first ask to order)", &latency.to_buy)
        )
    }

    fn errors_table(&self) -> String {
        if self.errors.is_empty() {
            return "<h2>Errors</h2>\n<p>No buyer ended in an error.</p>\n".to_owned();
        }
        let mut html = String::from(
            "<h2>Errors</h2>\n<table>\n<thead><tr><th>Code</th><th>Buyers</th><th>Share of \
             crowd</th></tr></thead>\n<tbody>\n",
        );
        for (code, count) in &self.errors {
            let share = (self.buyers > 0).then(|| *count as f64 / self.buyers as f64);
            html.push_str(&format!(
                "<tr><td>{}</td><td>{count}</td><td>{}</td></tr>\n",
                escape(code),
                markup::percent(share)
            ));
        }
        html.push_str("</tbody>\n</table>\n");
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::small_run;

    #[test]
    fn the_page_has_a_chart_for_rate_queue_and_each_shop() {
        let mut report = small_run("a");
        let second = report.shops.get("a").cloned().unwrap_or_default();
        report.shops.insert("b".to_owned(), second);
        let html = report.to_html();
        assert_eq!(html.matches("<svg").count(), 5);
        assert!(html.contains("Admissions per second") && html.contains("Queue length"));
        assert!(
            html.contains("stroke-dasharray"),
            "capacity lines are dashed"
        );
    }

    /// The two buyers who waited (told 1 s and 2 s, waited as long) are two dots on the line.
    #[test]
    fn the_page_has_a_scatter_of_estimates_against_waits() {
        let html = small_run("a").to_html();
        let scatter = html
            .split("<h2>Estimated and actual wait</h2>")
            .nth(1)
            .and_then(|rest| rest.split("</figure>").next())
            .unwrap_or_default();
        assert!(scatter.contains("<svg") && scatter.contains("<title>First wait estimate"));
        assert_eq!(scatter.matches("<circle").count(), 2);
        assert!(scatter.contains("stroke-dasharray"), "the y = x line");
    }

    #[test]
    fn the_page_fetches_nothing_and_runs_nothing() {
        let html = small_run("a").to_html();
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("url("));
    }

    #[test]
    fn a_hostile_shop_id_label_or_code_is_shown_not_run() {
        let mut report = small_run("<script>alert(1)</script>");
        report.label = "<img src=x onerror=alert(1)>".to_owned();
        report.errors.insert("<b>boom</b>".to_owned(), 1);
        let html = report.to_html();
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn the_page_shows_the_verdicts() {
        let html = small_run("a").to_html();
        assert!(html.contains("Every measured goal met"));
        assert_eq!(html.matches("✔ pass").count(), 5);
        assert!(html.contains("Estimate range coverage"));
        let failing = Report {
            overruns: 2,
            ..small_run("a")
        }
        .to_html();
        assert!(failing.contains("1 goal missed") && failing.contains("✘ fail"));
    }

    #[test]
    fn the_page_says_what_the_deadline_cut() {
        let html = small_run("a").to_html();
        assert!(!html.contains("At the deadline"), "nothing was cut");
        let cut = Report {
            cut_short: 3,
            not_arrived: 40,
            ..small_run("a")
        }
        .to_html();
        assert!(cut.contains("At the deadline 3 buyers were cut short and 40 had not arrived"));
        assert!(cut.contains("<td>Not arrived by the deadline</td><td>40</td>"));
    }

    #[test]
    fn an_empty_run_still_renders() {
        let html = Report::default().to_html();
        assert_eq!(html.matches("<svg").count(), 3);
        assert!(html.contains("No shop was sampled") && html.contains("no data"));
    }
}
