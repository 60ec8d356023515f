//! What every chart is drawn on: the plot frame, round scales and their ticks, the axes, the
//! legend, the opening tag with its accessible title.

use super::markup::escape;

/// Room around the plot for tick labels (left, right, top, bottom).
const MARGIN: (f64, f64, f64, f64) = (56.0, 16.0, 30.0, 34.0);
/// Colour of axes and tick labels, and of grid lines.
pub(super) const INK: &str = "#5b6472";
const GRID: &str = "#e6e9ee";

/// The plot area in SVG units: where data goes once ticks and labels have their room.
pub(super) struct Frame {
    pub(super) left: f64,
    pub(super) right: f64,
    pub(super) top: f64,
    pub(super) bottom: f64,
}

impl Frame {
    pub(super) fn new(width: f64, height: f64) -> Frame {
        let (left, right, top, bottom) = MARGIN;
        Frame {
            left,
            right: width - right,
            top,
            bottom: height - bottom,
        }
    }

    pub(super) fn x(&self, value: f64, x_max: f64) -> f64 {
        self.left + (self.right - self.left) * (value / x_max).clamp(0.0, 1.05)
    }

    pub(super) fn y(&self, value: f64, y_max: f64) -> f64 {
        self.bottom - (self.bottom - self.top) * (value / y_max).clamp(0.0, 1.05)
    }
}

/// The opening tag (no `xmlns`: inline SVG in HTML needs none) and an accessible title.
pub(super) fn open(title: &str, width: f64, height: f64) -> String {
    let title = escape(title);
    format!(
        "<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{title}\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"{INK}\">\
         <title>{title}</title>\n"
    )
}

/// Horizontal grid lines with their values, the axes, and the y label above the axis.
pub(super) fn y_axis(frame: &Frame, y_max: f64, y_step: f64, label: &str) -> String {
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

/// Vertical grid lines with their values under the axis, and the x label at its right end.
pub(super) fn x_axis(frame: &Frame, x_max: f64, x_step: f64, label: &str) -> String {
    let mut svg = String::new();
    for tick in ticks(x_max, x_step) {
        let at = frame.x(tick, x_max);
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
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
        frame.right,
        frame.bottom + 30.0,
        escape(label)
    ));
    svg
}

/// The legend along the top right, right to left: (name, colour, dashed).
pub(super) fn legend_row(frame: &Frame, items: &[(&str, &str, bool)]) -> String {
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

pub(super) fn no_data(frame: &Frame) -> String {
    format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no data</text>\n",
        (frame.left + frame.right) / 2.0,
        (frame.top + frame.bottom) / 2.0
    )
}

/// A round top for an axis holding `max`, and the step of its ticks (1, 2 or 5 × 10ⁿ, about
/// five ticks), so labels read 0, 20, 40 rather than 0, 17.3, 34.6.
pub(super) fn nice_scale(max: f64) -> (f64, f64) {
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
pub(super) fn ticks(max: f64, step: f64) -> impl Iterator<Item = f64> {
    let count = (max / step).round() as u64;
    (0..=count).map(move |i| i as f64 * step)
}

/// A tick's value with as many decimals as its step needs.
pub(super) fn tick_label(value: f64, step: f64) -> String {
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
}
