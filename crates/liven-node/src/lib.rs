//! N-API glue: argument checks and zero-copy views of JavaScript `Float32Array`s; the work is
//! done by `liven_core`.
//!
//! The TypeScript layer validates shapes and throws typed errors; the checks here are the last
//! line that keeps a direct or buggy call memory-safe: lengths must agree and an output may not
//! share memory with any other argument (that would alias a `&mut [f32]`).

use liven_core::{simd, threads};
use napi::bindgen_prelude::Float32ArraySlice;
use napi::{Error, Result, Status};
use napi_derive::napi;

pub mod activation;
pub mod buffers;
pub mod conv;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod safetensors;
pub mod softmax;
pub mod stats;

pub(crate) fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

/// The byte range of a slice, for overlap checks across element types.
pub(crate) fn span<T>(s: &[T]) -> (usize, usize) {
    let start = s.as_ptr() as usize;
    (start, start + size_of_val(s))
}

/// Checks that the output `out` shares no memory with any of `others` (whatever their types).
pub(crate) fn check_apart(
    kernel: &str,
    name: &str,
    out: (usize, usize),
    others: &[(&str, (usize, usize))],
) -> Result<()> {
    let hit = others
        .iter()
        .find(|(_, o)| out.0 < out.1 && o.0 < o.1 && out.0 < o.1 && o.0 < out.1);
    match hit {
        Some((other, _)) => Err(invalid(format!(
            "{kernel}: {name} shares memory with {other}; outputs must be separate arrays"
        ))),
        None => Ok(()),
    }
}

/// Checks that the output `out` shares no memory with any of `others`.
pub(crate) fn check_disjoint(
    kernel: &str,
    name: &str,
    out: &[f32],
    others: &[(&str, &[f32])],
) -> Result<()> {
    let others: Vec<(&str, (usize, usize))> = others.iter().map(|(n, o)| (*n, span(o))).collect();
    check_apart(kernel, name, span(out), &others)
}

/// A mutable view of an output array that [`check_disjoint`] has cleared.
///
/// SAFETY (for the caller): the array must share no memory with any other slice made for the
/// same call. The JavaScript array outlives the call, which runs synchronously.
pub(crate) unsafe fn output<'a>(out: &'a mut Float32ArraySlice) -> &'a mut [f32] {
    // SAFETY: the caller guarantees that no other slice of this call overlaps `out`.
    unsafe { out.as_mut() }
}

/// Checks that every output shares memory with no input and no other output.
pub(crate) fn check_outputs(
    kernel: &str,
    outputs: &[(&str, &[f32])],
    inputs: &[(&str, &[f32])],
) -> Result<()> {
    for (i, (name, out)) in outputs.iter().enumerate() {
        check_disjoint(kernel, name, out, inputs)?;
        check_disjoint(kernel, name, out, &outputs[i + 1..])?;
    }
    Ok(())
}

pub(crate) fn same_len(kernel: &str, name: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(invalid(format!(
            "{kernel}: {name} has {got} elements, expected {want}"
        )))
    }
}

/// The instruction set the kernels use: "avx512", "avx2", "neon" or "scalar".
#[napi]
pub fn simd_level() -> &'static str {
    simd::detected_level().name()
}

/// Every instruction set this CPU supports, lowest first.
#[napi]
pub fn supported_simd_levels() -> Vec<&'static str> {
    simd::supported().into_iter().map(|i| i.name()).collect()
}

#[napi]
pub fn set_num_threads(threads: u32) {
    threads::set_num_threads(threads as usize);
}

#[napi]
pub fn get_num_threads() -> u32 {
    threads::num_threads() as u32
}
