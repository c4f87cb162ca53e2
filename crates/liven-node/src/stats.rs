//! Per-unit activation statistics for the dying-ReLU monitor.

use crate::{check_apart, invalid, same_len, span, Float32Array, Float64Array};
use liven_core::stats;
use napi::Result;
use napi_derive::napi;

/// Merges one forward's per-unit statistics into `acc` (`9 × units` float64, field-major:
/// active, zeros, maxAbs, sumAbs, sum, sumSq, min, max, saturated). `pre` and `y` may be the
/// same array; outputs `<= lo` or `>= hi` count as saturated (NaN bounds: none).
#[napi(catch_unwind)]
pub fn unit_stats(
    pre: Float32Array,
    y: Float32Array,
    units: u32,
    inner: u32,
    mut acc: Float64Array,
    lo: f64,
    hi: f64,
) -> Result<()> {
    const K: &str = "unitStats";
    let (pre, y) = (pre.view()?, y.view()?);
    same_len(K, "y", y.len(), pre.len())?;
    stats::layout_check(y.len(), units as usize, inner as usize)
        .map_err(|e| invalid(format!("{K}: {e}")))?;
    same_len(K, "acc", acc.view()?.len(), stats::FIELDS * units as usize)?;
    check_apart(
        K,
        "acc",
        span(acc.view()?),
        &[("pre", span(pre)), ("y", span(y))],
    )?;
    // SAFETY: acc shares no memory with the inputs (checked above); the call is synchronous.
    let acc = unsafe { acc.view_mut()? };
    let (lo, hi) = (lo as f32, hi as f32);
    stats::unit_stats(pre, y, units as usize, inner as usize, acc, lo, hi);
    Ok(())
}

/// Adds a histogram of at most `maxSamples` elements of `y` (stratified sample drawn from
/// `seed`) into `hist` (`histogramBins()` float64 counts).
#[napi(catch_unwind)]
pub fn sampled_histogram(
    y: Float32Array,
    max_samples: u32,
    seed: u32,
    mut hist: Float64Array,
) -> Result<()> {
    const K: &str = "sampledHistogram";
    let y = y.view()?;
    same_len(K, "hist", hist.view()?.len(), stats::HIST_BINS)?;
    if max_samples == 0 {
        return Err(invalid(format!("{K}: maxSamples must be positive")));
    }
    check_apart(K, "hist", span(hist.view()?), &[("y", span(y))])?;
    // SAFETY: hist shares no memory with y (checked above); the call is synchronous.
    let hist = unsafe { hist.view_mut()? };
    stats::sampled_histogram(y, max_samples as usize, seed, hist);
    Ok(())
}
