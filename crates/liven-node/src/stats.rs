//! Per-unit activation statistics for the dying-ReLU monitor.

use crate::{check_apart, invalid, same_len, span};
use liven_core::stats;
use napi::bindgen_prelude::{Float32ArraySlice, Float64ArraySlice};
use napi::Result;
use napi_derive::napi;

/// Merges one forward's per-unit statistics into `acc` (`9 × units` float64, field-major:
/// active, zeros, maxAbs, sumAbs, sum, sumSq, min, max, saturated). `pre` and `y` may be the
/// same array; outputs `<= lo` or `>= hi` count as saturated (NaN bounds: none).
#[napi]
pub fn unit_stats(
    pre: Float32ArraySlice,
    y: Float32ArraySlice,
    units: u32,
    inner: u32,
    mut acc: Float64ArraySlice,
    lo: f64,
    hi: f64,
) -> Result<()> {
    const K: &str = "unitStats";
    same_len(K, "y", y.len(), pre.len())?;
    stats::layout_check(y.len(), units as usize, inner as usize)
        .map_err(|e| invalid(format!("{K}: {e}")))?;
    same_len(K, "acc", acc.len(), stats::FIELDS * units as usize)?;
    check_apart(
        K,
        "acc",
        span(&acc),
        &[("pre", span(&pre)), ("y", span(&y))],
    )?;
    // SAFETY: acc shares no memory with the inputs (checked above); the call is synchronous.
    let acc = unsafe { acc.as_mut() };
    stats::unit_stats(
        &pre,
        &y,
        units as usize,
        inner as usize,
        acc,
        lo as f32,
        hi as f32,
    );
    Ok(())
}

/// Adds a histogram of at most `maxSamples` elements of `y` (stratified sample drawn from
/// `seed`) into `hist` (`histogramBins()` float64 counts).
#[napi]
pub fn sampled_histogram(
    y: Float32ArraySlice,
    max_samples: u32,
    seed: u32,
    mut hist: Float64ArraySlice,
) -> Result<()> {
    const K: &str = "sampledHistogram";
    same_len(K, "hist", hist.len(), stats::HIST_BINS)?;
    if max_samples == 0 {
        return Err(invalid(format!("{K}: maxSamples must be positive")));
    }
    check_apart(K, "hist", span(&hist), &[("y", span(&y))])?;
    // SAFETY: hist shares no memory with y (checked above); the call is synchronous.
    let hist = unsafe { hist.as_mut() };
    stats::sampled_histogram(&y, max_samples as usize, seed, hist);
    Ok(())
}
