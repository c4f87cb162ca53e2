//! The safetensors reader: the header is parsed and validated by `liven_core::safetensors`;
//! the TypeScript side allocates each tensor's Float32Array and has it filled here.

use crate::{check_apart, invalid, span, Float32Array, Uint8Array};
use liven_core::safetensors::{self, Dtype};
use napi::Result;
use napi_derive::napi;

#[napi(object)]
pub struct SafetensorsEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<f64>,
    /// Absolute byte offsets in the file, checked to lie inside it.
    pub begin: f64,
    pub end: f64,
}

#[napi(object)]
pub struct SafetensorsTable {
    /// In file order.
    pub tensors: Vec<SafetensorsEntry>,
    /// `[key, value]` pairs (an array, not an object, so that no key can act as `__proto__`).
    pub metadata: Vec<Vec<String>>,
}

/// Parses and validates a whole file's header; the message of the error says what is wrong.
#[napi(catch_unwind)]
pub fn safetensors_parse(file: Uint8Array) -> Result<SafetensorsTable> {
    let file = file.view()?;
    let header = safetensors::parse_header(file).map_err(|e| invalid(e.message))?;
    Ok(SafetensorsTable {
        tensors: header
            .tensors
            .into_iter()
            .map(|t| SafetensorsEntry {
                name: t.name,
                dtype: t.dtype.name().to_owned(),
                shape: t.shape.iter().map(|&d| d as f64).collect(),
                begin: t.data.start as f64,
                end: t.data.end as f64,
            })
            .collect(),
        metadata: header
            .metadata
            .into_iter()
            .map(|(k, v)| vec![k, v])
            .collect(),
    })
}

/// Converts one tensor's bytes (`dtype`, little-endian) into `out`.
#[napi(js_name = "safetensorsToF32", catch_unwind)]
pub fn safetensors_to_f32(bytes: Uint8Array, dtype: String, mut out: Float32Array) -> Result<()> {
    let bytes = bytes.view()?;
    let dtype = Dtype::from_name(&dtype)
        .ok_or_else(|| invalid(format!("safetensorsToF32: unknown dtype {dtype:?}")))?;
    check_apart(
        "safetensorsToF32",
        "out",
        span(out.view()?),
        &[("bytes", span(bytes))],
    )?;
    // SAFETY: `out` shares no memory with `bytes` (checked above), the only other slice of
    // this call; the JavaScript array outlives the call, which runs synchronously.
    let out = unsafe { out.view_mut()? };
    safetensors::to_f32(dtype, bytes, out).map_err(|e| invalid(e.message))
}
