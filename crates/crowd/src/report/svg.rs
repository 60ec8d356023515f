//! Charts as inline SVG drawn here, so a report is one file that opens anywhere offline, with
//! no script and no library to fetch.

use super::markup::escape;

/// The width of a full-column chart in SVG units (the page scales it to the column, so at
/// about this width text shows at its own size); half of it suits a chart in a two-column grid.
pub(super) const FULL_WIDTH: f64 = 960.0;
/// Room around the plot for tick labels (left, right, top, bottom).
const MARGIN: (f64, f64, f64, f64) = (56.0, 16.0, 30.0, 34.0);
/// Colour of axes and tick labels, and of grid lines.
const INK: &str = "#5b6472";
const GRID: &str = "#e6e9ee";

/// One line of a chart.
pub(super) struct Line<'a> {
    /// Shown in the legend (escaped when drawn).
    pub(super) name: &'a str,
    pub(super) colour: &'a str,
    pub(super) dashed: bool,
    /// Drawn as steps (a value holds until the next point) rather than straight segments: true
    /// for sampled states such as a queue length.
    pub(super) step: bool,
    /// (x, y) in data units, in order of x.
    pub(super) points: Vec<(f64, f64)>,
}

/// A line chart over time: x from 0 to at least `x_max` seconds, y from 0.
pub(super) struct LineChart<'a> {
    /// Read by screen readers and shown as a tooltip.
    pub(super) title: &'a str,
    /// Written above the y axis.
    pub(super) y_label: &'a str,
    /// In SVG units, drawn at about one unit a pixel.
    pub(super) width: f64,
    pub(super) height: f64,
    /// The x axis spans at least this, so charts of one run line up.
    pub(super) x_max: f64,
    pub(super) lines: Vec<Line<'a>>,
}

/// One group of bars (one run, in a comparison).
pub(super) struct BarGroup<'a> {
    /// Written under the group.
    pub(super) label: &'a str,
    /// One value per series; `None` draws no bar and says `n/a`.
    pub(super) values: Vec<Option<f64>>,
}

/// Bars grouped by run, one colour per series, y from 0 to `y_max`.
pub(super) struct BarChart<'a> {
    pub(super) title: &'a str,
    pub(super) y_label: &'a str,
    pub(super) y_max: f64,
    /// Name and colour of each series.
    pub(super) series: Vec<(&'a str, &'a str)>,
    pub(super) groups: Vec<BarGroup<'a>>,
}

/// The plot area in SVG units: where data goes once ticks and labels have their room.
struct Frame {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn new(width: f64, height: f64) -> Frame {
        let (left, right, top, bottom) = MARGIN;
        Frame {
            left,
            right: width - right,
            top,
            bottom: height - bottom,
        }
    }

    fn y(&self, value: f64, y_max: f64) -> f64 {
        self.bottom - (self.bottom - self.top) * (value / y_max).clamp(0.0, 1.05)
    }
}

/// Draws a line chart.
pub(super) fn line_chart(chart: &LineChart<'_>) -> String {
    let frame = Frame::new(chart.width, chart.height);
    let points = chart.lines.iter().flat_map(|line| line.points.iter());
    let data_x = points.clone().map(|point| point.0).fold(0.0, f64::max);
    let data_y = points.map(|point| point.1).fold(0.0, f64::max);
    let (x_max, x_step) = nice_scale(data_x.max(chart.x_max));
    let (y_max, y_step) = nice_scale(data_y);
    let x = |value: f64| frame.left + (frame.right - frame.left) * (value / x_max);

    let mut svg = open(chart.title, chart.width, chart.height);
    svg.push_str(&y_axis(&frame, y_max, y_step, chart.y_label));
    for tick in ticks(x_max, x_step) {
        let at = x(tick);
        svg.push_str(&format!(
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{at:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            frame.top,
            frame.bottom,
            frame.bottom + 16.0,
            tick_label(tick, x_step)
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">time (s)</text>\n",
        frame.right,
        frame.bottom + 30.0
    ));
    let mut empty = true;
    for line in &chart.lines {
        let mut coords = Vec::with_capacity(line.points.len() * 2);
        let mut previous: Option<f64> = None;
        for &(px, py) in &line.points {
            if let (true, Some(before)) = (line.step, previous) {
                coords.push(format!("{:.1},{:.1}", x(px), frame.y(before, y_max)));
            }
            coords.push(format!("{:.1},{:.1}", x(px), frame.y(py, y_max)));
            previous = Some(py);
        }
        let dash = if line.dashed {
            " stroke-dasharray=\"7 5\""
        } else {
            ""
        };
        match line.points.as_slice() {
            [] => continue,
            [(px, py)] => svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>\n",
                x(*px),
                frame.y(*py, y_max),
                escape(line.colour)
            )),
            _ => svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" \
                 stroke-linejoin=\"round\"{dash} points=\"{}\"/>\n",
                escape(line.colour),
                coords.join(" ")
            )),
        }
        empty = false;
    }
    if empty {
        svg.push_str(&no_data(&frame));
    }
    let legend: Vec<(&str, &str, bool)> = chart
        .lines
        .iter()
        .map(|line| (line.name, line.colour, line.dashed))
        .collect();
    svg.push_str(&legend_row(&frame, &legend));
    svg.push_str("</svg>\n");
    svg
}

/// Draws a grouped bar chart.
pub(super) fn bar_chart(chart: &BarChart<'_>) -> String {
    let height = 300.0;
    let frame = Frame::new(FULL_WIDTH, height);
    let (y_max, y_step) = nice_scale(chart.y_max);
    let mut svg = open(chart.title, FULL_WIDTH, height);
    svg.push_str(&y_axis(&frame, y_max, y_step, chart.y_label));
    let slot = (frame.right - frame.left) / chart.groups.len().max(1) as f64;
    let bar = slot * 0.7 / chart.series.len().max(1) as f64;
    for (g, group) in chart.groups.iter().enumerate() {
        let start = frame.left + slot * g as f64 + slot * 0.15;
        for (s, value) in group.values.iter().enumerate() {
            let colour = chart.series.get(s).map_or(INK, |series| series.1);
            let left = start + bar * s as f64;
            let middle = left + bar / 2.0;
            let Some(value) = value else {
                svg.push_str(&format!(
                    "<text x=\"{middle:.1}\" y=\"{:.1}\" text-anchor=\"middle\">n/a</text>\n",
                    frame.bottom - 4.0
                ));
                continue;
            };
            let top = frame.y(*value, y_max);
            svg.push_str(&format!(
                "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"/>\
                 <text x=\"{middle:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{value:.2}</text>\n",
                (bar - 2.0).max(1.0),
                frame.bottom - top,
                escape(colour),
                top - 4.0
            ));
        }
        // Labels longer than the slot would run into their neighbours: cut them short.
        let room = ((slot / 7.0) as usize).max(4);
        let label: String = if group.label.chars().count() > room {
            group.label.chars().take(room - 1).chain(['…']).collect()
        } else {
            group.label.to_owned()
        };
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#1d2330\">{}</text>\n",
            start + slot * 0.35,
            frame.bottom + 18.0,
            escape(&label)
        ));
    }
    if chart.groups.is_empty() {
        svg.push_str(&no_data(&frame));
    }
    let legend: Vec<(&str, &str, bool)> = chart
        .series
        .iter()
        .map(|&(name, colour)| (name, colour, false))
        .collect();
    svg.push_str(&legend_row(&frame, &legend));
    svg.push_str("</svg>\n");
    svg
}

/// The opening tag (no `xmlns`: inline SVG in HTML needs none) and an accessible title.
fn open(title: &str, width: f64, height: f64) -> String {
    let title = escape(title);
    format!(
        "<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"{INK}\">\
         <title>{title}</title>\n"
    )
}

/// Horizontal grid lines with their values, the axes, and the y label above the axis.
fn y_axis(frame: &Frame, y_max: f64, y_step: f64, label: &str) -> String {
    let mut svg = String::new();
    for tick in ticks(y_max, y_step) {
        let at = frame.y(tick, y_max);
        svg.push_str(&format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            frame.left,
            frame.right,
            frame.left - 6.0,
            at + 4.0,
            tick_label(tick, y_step)
        ));
    }
    svg.push_str(&format!(
        "<path d=\"M{l:.1},{t:.1}V{b:.1}H{r:.1}\" fill=\"none\" stroke=\"{INK}\"/>\
         <text x=\"{l:.1}\" y=\"{:.1}\">{}</text>\n",
        frame.top - 12.0,
        escape(label),
        l = frame.left,
        t = frame.top,
        b = frame.bottom,
        r = frame.right,
    ));
    svg
}

/// The legend along the top right, right to left: (name, colour, dashed).
fn legend_row(frame: &Frame, items: &[(&str, &str, bool)]) -> String {
    let mut svg = String::new();
    let mut right = frame.right;
    let y = frame.top - 16.0;
    for &(name, colour, dashed) in items.iter().rev() {
        // System fonts at 12 units average under 7 units a character.
        let text_left = right - 7.0 * name.chars().count() as f64;
        let dash = if dashed {
            " stroke-dasharray=\"7 5\""
        } else {
            ""
        };
        svg.push_str(&format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{}\" \
             stroke-width=\"2.5\"{dash}/><text x=\"{text_left:.1}\" y=\"{:.1}\">{}</text>\n",
            text_left - 30.0,
            text_left - 6.0,
            escape(colour),
            y + 4.0,
            escape(name)
        ));
        right = text_left - 48.0;
    }
    svg
}

fn no_data(frame: &Frame) -> String {
    format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data</text>\n",
        (frame.left + frame.right) / 2.0,
        (frame.top + frame.bottom) / 2.0
    )
}

/// A round top for an axis holding `max`, and the step of its ticks (1, 2 or 5 × 10ⁿ, about
/// five ticks), so labels read 0, 20, 40 rather than 0, 17.3, 34.6.
fn nice_scale(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * magnitude)
        .find(|&step| step >= rough)
        .unwrap_or(10.0 * magnitude);
    // Float division can land a hair above a whole number (1 / 0.2): do not add a tick for it.
    ((max / step - 1e-9).ceil() * step, step)
}

/// 0, step, 2·step, … up to `max`.
fn ticks(max: f64, step: f64) -> impl Iterator<Item = f64> {
    let count = (max / step).round() as u64;
    (0..=count).map(move |i| i as f64 * step)
}

/// A tick's value with as many decimals as its step needs.
fn tick_label(value: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_scale(97.0), (100.0, 20.0));
        assert_eq!(nice_scale(3.2), (4.0, 1.0));
        for max in [0.0, 1.0, f64::NAN] {
            let (top, step) = nice_scale(max);
            assert!(
                (top - 1.0).abs() < 1e-12 && (step - 0.2).abs() < 1e-12,
                "{top} {step}"
            );
        }
        assert_eq!(tick_label(0.4, 0.2), "0.4");
        assert_eq!(ticks(100.0, 20.0).count(), 6);
    }

    #[test]
    fn a_step_line_holds_each_value_until_the_next_point() {
        let chart = LineChart {
            title: "t",
            y_label: "y",
            width: FULL_WIDTH,
            height: 200.0,
            x_max: 0.0,
            lines: vec![Line {
                name: "queue",
                colour: "#000",
                dashed: false,
                step: true,
                points: vec![(0.0, 1.0), (1.0, 0.0)],
            }],
        };
        let svg = line_chart(&chart);
        // (0, 1) → (1, 1) → (1, 0): three vertices, not two.
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next());
        assert_eq!(points.map(|points| points.split(' ').count()), Some(3));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let chart = LineChart {
            title: "t",
            y_label: "y",
            width: FULL_WIDTH,
            height: 200.0,
            x_max: 5.0,
            lines: vec![],
        };
        assert!(line_chart(&chart).contains("no data"));
    }

    #[test]
    fn bar_labels_and_legends_are_escaped() {
        let chart = BarChart {
            title: "<t>",
            y_label: "share",
            y_max: 1.0,
            series: vec![("<served>", "#000")],
            groups: vec![BarGroup {
                label: "<script>",
                values: vec![Some(0.5)],
            }],
        };
        let svg = bar_chart(&chart);
        assert!(!svg.contains("<script>") && !svg.contains("<served>") && !svg.contains("<t>"));
        assert!(svg.contains("&lt;script&gt;"));
    }
}
