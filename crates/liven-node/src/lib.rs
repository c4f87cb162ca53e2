//! N-API glue: argument checks and zero-copy views of JavaScript typed arrays; the work is done
//! by `liven_core`.
//!
//! The TypeScript layer validates shapes and throws typed errors; the checks here are the last
//! line that keeps a direct or buggy call memory-safe: lengths must agree and an output may not
//! share memory with any other argument (that would alias a `&mut [f32]`).
//!
//! # Why typed arrays arrive as `Array`, not as napi's slices
//!
//! napi-rs converts a `#[napi]` function's arguments one by one, in declaration order, before the
//! body runs. Converting a `#[napi(object)]` argument (`Conv2dShape`, `Pool2dGeometry`) reads its
//! properties, which runs JavaScript: a getter or a Proxy trap can detach an `ArrayBuffer`
//! (`structuredClone(b, { transfer: [b] })`) or shrink a resizable one. napi's
//! `Float32ArraySlice` takes its pointer when it is converted, so a typed array before the object
//! in the argument list would be left pointing at freed memory. An `Array` keeps only the
//! JavaScript handle and looks its memory up when the body asks (`Array::view`), after every
//! argument is converted. From then until the body returns no JavaScript runs on this thread
//! (glue bodies take no `Env`, JavaScript objects or callbacks; the return value is converted
//! after the body, when no view is left), so nothing can detach, resize or free the memory under
//! a view, and the call's handles keep the arrays alive. Another thread can't detach or shrink
//! them either: only a `SharedArrayBuffer` is shared, and it never shrinks. `clippy.toml`
//! disallows napi's typed-array types, so no glue can take a pointer early (nor take `&[f32]`
//! arguments, which napi also converts early: don't).
//!
//! Scratch memory a kernel sizes from shape arguments (not from the arrays' lengths) must be
//! bounded by the arrays or checked here: the pools fall back to window loops (`liven_core::pool`),
//! and `conv` refuses an unfolded sample over [`conv::UNFOLD_LIMIT`].
//!
//! Every export is `#[napi(catch_unwind)]`: a panic (a bug, since the glue checks what the
//! kernels assert) becomes a JavaScript `Error` instead of aborting the process.
//!
//! Memory on a `SharedArrayBuffer` can change under a view (another thread may write it):
//! float arguments are read as they are, racing writers give unspecified numbers (every address
//! the kernels compute from values is bounds-checked); arguments that are validated and then used
//! as indices are copied first (`Array::stable`), so the values checked are the values used.

use liven_core::{simd, threads};
use napi::{Error, Result, Status};
use napi_derive::napi;

mod array;
pub(crate) use array::{view_opt, Array};

/// The glue's typed-array arguments (`Array<T>`), named as in JavaScript: napi's TypeScript
/// generator (`native/index.d.ts`) knows these names.
pub(crate) type Float32Array = Array<f32>;
pub(crate) type Float64Array = Array<f64>;
pub(crate) type Uint32Array = Array<u32>;
pub(crate) type Int32Array = Array<i32>;
pub(crate) type Uint8Array = Array<u8>;

pub mod activation;
pub mod buffers;
pub mod conv;
pub mod elementwise;
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
#[napi(catch_unwind)]
pub fn simd_level() -> &'static str {
    simd::detected_level().name()
}

/// Every instruction set this CPU supports, lowest first.
#[napi(catch_unwind)]
pub fn supported_simd_levels() -> Vec<&'static str> {
    simd::supported().into_iter().map(|i| i.name()).collect()
}

#[napi(catch_unwind)]
pub fn set_num_threads(threads: u32) {
    threads::set_num_threads(threads as usize);
}

#[napi(catch_unwind)]
pub fn get_num_threads() -> u32 {
    threads::num_threads() as u32
}

/// Gives the calling JS thread (the main thread or a worker) its own budget of kernel threads,
/// or puts it back on the process-wide pool (`null`); see `threads::set_thread_budget`.
#[napi(catch_unwind)]
pub fn set_thread_budget(threads: Option<u32>) {
    threads::set_thread_budget(threads.map(|t| t as usize));
}

/// The calling JS thread's own budget, or null when it uses the process-wide pool.
#[napi(catch_unwind)]
pub fn get_thread_budget() -> Option<u32> {
    threads::thread_budget().map(|t| t as u32)
}
