//! PNG line charts of the scale curves, drawn with `plotters` (text in a system TrueType font).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::{BenchError, Result};

/// TrueType fonts tried in turn for the charts' text (Debian/Ubuntu `fonts-dejavu-core`, Fedora `dejavu-sans-fonts`).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
];

/// One line of a chart: its legend and its points.
#[derive(Debug, Clone)]
pub struct Line {
    /// The legend.
    pub label: String,
    /// (x, y) points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A chart to draw.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File name in the output directory.
    pub file: String,
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub lines: Vec<Line>,
}

/// Registers the first DejaVu Sans found in the usual system font paths as `sans-serif`; whether one was.
#[must_use]
pub fn load_font() -> bool {
    FONTS.iter().any(|path| {
        std::fs::read(path).is_ok_and(|bytes| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        })
    })
}

fn draw_error(path: &Path, error: impl std::fmt::Display) -> BenchError {
    BenchError::WriteResults {
        path: path.to_path_buf(),
        source: std::io::Error::other(error.to_string()),
    }
}

/// Draws `chart` as an 900×540 PNG into `out`; call [`load_font`] first.
///
/// # Errors
///
/// [`BenchError::WriteResults`] when drawing or writing fails.
pub fn draw(chart: &Chart, out: &Path) -> Result<PathBuf> {
    let path = out.join(&chart.file);
    render(chart, &path)?;
    Ok(path)
}

fn render(chart: &Chart, path: &Path) -> Result<()> {
    let all = || chart.lines.iter().flat_map(|line| line.points.iter());
    let x_max = all().map(|p| p.0).fold(0.0_f64, f64::max).max(1.0) * 1.05;
    let y_max = all().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0) * 1.15;
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_error(path, e))?;
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| draw_error(path, e))?;
    plot.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| draw_error(path, e))?;
    for (index, line) in chart.lines.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        plot.draw_series(LineSeries::new(
            line.points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(|e| draw_error(path, e))?
        .label(line.label.as_str())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        plot.draw_series(
            line.points
                .iter()
                .map(|&point| Circle::new(point, 4, color.filled())),
        )
        .map_err(|e| draw_error(path, e))?;
    }
    plot.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| draw_error(path, e))?;
    root.present().map_err(|e| draw_error(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Chart, Line, draw, load_font};

    #[test]
    fn a_chart_is_written_as_a_png() {
        if !load_font() {
            // No TrueType font on this machine: nothing to draw with (bench-scale says so and skips its plots).
            return;
        }
        let dir = std::env::temp_dir().join(format!("plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let chart = Chart {
            file: "t.png".to_owned(),
            title: "t".to_owned(),
            x_label: "x".to_owned(),
            y_label: "y".to_owned(),
            lines: vec![Line {
                label: "a".to_owned(),
                points: vec![(0.0, 1.0), (2.0, 3.0)],
            }],
        };
        let path = draw(&chart, &dir).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
