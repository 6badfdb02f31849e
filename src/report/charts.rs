//! The report's charts, drawn with plotters' SVG backend into strings the
//! page inlines: nothing is fetched when the page opens.

use plotters::prelude::*;

use crate::error::{Error, Result};

const INK: RGBColor = RGBColor(40, 40, 40);
const MODEL: RGBColor = RGBColor(31, 94, 160);
const RULES: RGBColor = RGBColor(200, 120, 30);
const GRID: RGBColor = RGBColor(200, 200, 200);

fn fail(e: impl std::fmt::Display) -> Error {
    Error::other("drawing a chart", anyhow::anyhow!("{e}"))
}

/// Predicted against observed per decile, model and rules, with the diagonal.
pub fn calibration(model: &[(f64, f64)], rules: &[(f64, f64)]) -> Result<String> {
    let top = model.iter().chain(rules).flat_map(|(p, o)| [*p, *o]).fold(0.05f64, f64::max).min(1.0) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let mut c = ChartBuilder::on(&root)
            .caption("Calibration: predicted vs observed churn within 90 days", ("sans-serif", 14).into_font().color(&INK))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..top, 0.0..top)
            .map_err(fail)?;
        c.configure_mesh().light_line_style(GRID.mix(0.3)).x_desc("predicted").y_desc("observed").x_label_formatter(&|v| format!("{:.0}%", v * 100.0)).y_label_formatter(&|v| format!("{:.0}%", v * 100.0)).draw().map_err(fail)?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (top, top)], GRID.stroke_width(1))).map_err(fail)?.label("perfect").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GRID));
        c.draw_series(LineSeries::new(model.iter().copied(), MODEL.stroke_width(2))).map_err(fail)?.label("model").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], MODEL));
        c.draw_series(model.iter().map(|p| Circle::new(*p, 3, MODEL.filled()))).map_err(fail)?;
        if !rules.is_empty() {
            c.draw_series(LineSeries::new(rules.iter().copied(), RULES.stroke_width(2))).map_err(fail)?.label("rules score").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RULES));
        }
        c.configure_series_labels().border_style(GRID).background_style(WHITE).draw().map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Cumulative gains: share of churners caught against share of accounts
/// contacted, riskiest first, model and rules, with the random line.
pub fn gains(model: &[(f64, f64)], rules: &[(f64, f64)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let mut c = ChartBuilder::on(&root)
            .caption("Gains: churners found by contacting the riskiest first", ("sans-serif", 14).into_font().color(&INK))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(fail)?;
        c.configure_mesh().light_line_style(GRID.mix(0.3)).x_desc("accounts contacted").y_desc("churners found").x_label_formatter(&|v| format!("{:.0}%", v * 100.0)).y_label_formatter(&|v| format!("{:.0}%", v * 100.0)).draw().map_err(fail)?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], GRID.stroke_width(1))).map_err(fail)?.label("random").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GRID));
        c.draw_series(LineSeries::new(model.iter().copied(), MODEL.stroke_width(2))).map_err(fail)?.label("model").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], MODEL));
        if !rules.is_empty() {
            c.draw_series(LineSeries::new(rules.iter().copied(), RULES.stroke_width(2))).map_err(fail)?.label("rules score").legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RULES));
        }
        c.configure_series_labels().border_style(GRID).background_style(WHITE).position(SeriesLabelPosition::LowerRight).draw().map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Horizontal bars, one per label, with the value printed beside each (so
/// the chart reads without colour).
pub fn bars(title: &str, items: &[(String, f64)], format: &dyn Fn(f64) -> String) -> Result<String> {
    let n = items.len().max(1);
    let height = 50 + 22 * n as u32;
    let max = items.iter().map(|i| i.1.abs()).fold(0.0f64, f64::max).max(1e-9);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, height)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let root = root.titled(title, ("sans-serif", 14).into_font().color(&INK)).map_err(fail)?;
        let label_w = 190i32;
        let bar_w = 560 - label_w - 110;
        for (k, (label, v)) in items.iter().enumerate() {
            let y = 8 + 22 * k as i32;
            root.draw(&Text::new(label.clone(), (6, y + 3), ("sans-serif", 12).into_font().color(&INK))).map_err(fail)?;
            let w = ((v.abs() / max) * bar_w as f64).round() as i32;
            root.draw(&Rectangle::new([(label_w, y), (label_w + w.max(1), y + 15)], MODEL.filled())).map_err(fail)?;
            root.draw(&Text::new(format(*v), (label_w + w + 6, y + 3), ("sans-serif", 12).into_font().color(&INK))).map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// A small line of an account's health over its earlier scorings.
pub fn sparkline(points: &[f64]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (90, 22)).into_drawing_area();
        let n = points.len().max(2) as f64 - 1.0;
        let mut c = ChartBuilder::on(&root).margin(2).build_cartesian_2d(0.0..n, 0.0..100.0).map_err(fail)?;
        c.draw_series(LineSeries::new(points.iter().enumerate().map(|(i, v)| (i as f64, *v)), MODEL.stroke_width(1))).map_err(fail)?;
        if let Some(last) = points.last() {
            c.draw_series([Circle::new(((points.len() - 1) as f64, *last), 2, MODEL.filled())]).map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}
