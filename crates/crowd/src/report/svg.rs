//! Charts as inline SVG drawn here, so a report is one file that opens anywhere offline, with
//! no script and no library to fetch.

use super::markup::escape;
use super::plot::{Frame, INK, legend_row, nice_scale, no_data, open, x_axis, y_axis};

/// The width of a full-column chart in SVG units (the page scales it to the column, so at
/// about this width text shows at its own size); half of it suits a chart in a two-column grid.
pub(super) const FULL_WIDTH: f64 = 960.0;

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

/// Dots against the dashed diagonal y = x, one scale from 0 on both axes, so a dot above the
/// line has a y larger than its x (a buyer who waited longer than told).
pub(super) struct ScatterChart<'a> {
    pub(super) title: &'a str,
    /// Written under the x axis, at its right end.
    pub(super) x_label: &'a str,
    pub(super) y_label: &'a str,
    /// The dots' name in the legend, and their colour.
    pub(super) name: &'a str,
    pub(super) colour: &'a str,
    /// The diagonal's name in the legend.
    pub(super) diagonal: &'a str,
    /// (x, y) in data units; points that are not finite are left out.
    pub(super) points: Vec<(f64, f64)>,
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

/// Draws a line chart.
pub(super) fn line_chart(chart: &LineChart<'_>) -> String {
    let frame = Frame::new(chart.width, chart.height);
    let points = chart.lines.iter().flat_map(|line| line.points.iter());
    let data_x = points.clone().map(|point| point.0).fold(0.0, f64::max);
    let data_y = points.map(|point| point.1).fold(0.0, f64::max);
    let (x_max, x_step) = nice_scale(data_x.max(chart.x_max));
    let (y_max, y_step) = nice_scale(data_y);
    let x = |value: f64| frame.x(value, x_max);

    let mut svg = open(chart.title, chart.width, chart.height);
    svg.push_str(&y_axis(&frame, y_max, y_step, chart.y_label));
    svg.push_str(&x_axis(&frame, x_max, x_step, "time (s)"));
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

/// Draws a scatter chart: the diagonal first, the dots over it, half transparent so that where
/// they crowd shows darker.
pub(super) fn scatter_chart(chart: &ScatterChart<'_>) -> String {
    let height = 360.0;
    let frame = Frame::new(FULL_WIDTH, height);
    let points: Vec<(f64, f64)> = chart
        .points
        .iter()
        .copied()
        .filter(|(px, py)| px.is_finite() && py.is_finite())
        .collect();
    let data_max = points
        .iter()
        .flat_map(|&(px, py)| [px, py])
        .fold(0.0, f64::max);
    let (max, step) = nice_scale(data_max);
    let mut svg = open(chart.title, FULL_WIDTH, height);
    svg.push_str(&y_axis(&frame, max, step, chart.y_label));
    svg.push_str(&x_axis(&frame, max, step, chart.x_label));
    if points.is_empty() {
        svg.push_str(&no_data(&frame));
    } else {
        svg.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{INK}\" \
             stroke-width=\"1.5\" stroke-dasharray=\"7 5\"/>\n<g fill=\"{}\" fill-opacity=\"0.5\">\n",
            frame.x(0.0, max),
            frame.y(0.0, max),
            frame.x(max, max),
            frame.y(max, max),
            escape(chart.colour)
        ));
        for (px, py) in points {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"/>\n",
                frame.x(px, max),
                frame.y(py, max)
            ));
        }
        svg.push_str("</g>\n");
    }
    let legend = [
        (chart.name, chart.colour, false),
        (chart.diagonal, INK, true),
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn scatter(points: Vec<(f64, f64)>) -> String {
        scatter_chart(&ScatterChart {
            title: "<estimates>",
            x_label: "told (s)",
            y_label: "waited (s)",
            name: "<buyer>",
            colour: "#000",
            diagonal: "told = waited",
            points,
        })
    }

    #[test]
    fn a_scatter_draws_one_dot_per_point_over_a_dashed_diagonal() {
        let svg = scatter(vec![(1.0, 4.0), (3.0, 3.0), (f64::NAN, 1.0)]);
        assert_eq!(
            svg.matches("<circle").count(),
            2,
            "the NaN point is left out"
        );
        // One scale for both axes, 0 to 4: the diagonal runs from corner to corner of the plot.
        let frame = Frame::new(FULL_WIDTH, 360.0);
        let diagonal = format!(
            "x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"",
            frame.left, frame.bottom, frame.right, frame.top
        );
        assert!(svg.contains(&diagonal), "{svg}");
        assert!(svg.contains("stroke-dasharray"));
        // (3, 3) lies on the diagonal: three quarters along each axis.
        let on_line = format!(
            "cx=\"{:.1}\" cy=\"{:.1}\"",
            frame.left + (frame.right - frame.left) * 0.75,
            frame.bottom - (frame.bottom - frame.top) * 0.75
        );
        assert!(svg.contains(&on_line), "{svg}");
        assert!(!svg.contains("<buyer>") && !svg.contains("<estimates>"));
        assert!(svg.contains("<title>&lt;estimates&gt;</title>"));
    }

    #[test]
    fn an_empty_scatter_says_so() {
        let svg = scatter(vec![]);
        assert!(svg.contains("no data") && !svg.contains("<circle"));
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
