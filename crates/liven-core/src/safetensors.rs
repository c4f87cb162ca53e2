//! Reading the safetensors format (the weights files of PyTorch's `safetensors` package),
//! defensively: every length and offset is checked against the file before anything is read,
//! so a truncated or lying file is an [`Error`], never a panic or an out-of-bounds read.
//!
//! Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON
//! `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {string: string}}`,
//! then the data section, to which the offsets are relative. As the reference reader requires,
//! the tensors' byte ranges must tile the data section exactly: no overlap, no hole, nothing
//! after the last one.
//!
//! [`parse_header`] returns the validated tensor table; [`to_f32`] converts one tensor's bytes.

use crate::multiversion;
use crate::simd;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;
use std::ops::Range;

/// Headers longer than this are rejected before anything else is read (a corrupt length field
/// would otherwise make a reader trust gigabytes of garbage). The reference reader uses the same
/// limit.
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// At most this many tensors in one file: real checkpoints hold a few thousand, and every entry
/// costs memory in both readers (a file of zero-size tensors would otherwise turn 100 MB of
/// header into gigabytes of tables).
pub const MAX_TENSORS: usize = 100_000;

/// At most this many dimensions per tensor (PyTorch's own limit is lower).
pub const MAX_RANK: usize = 64;

/// JSON nesting deeper than this is rejected (serde_json's recursion limit, and the TypeScript
/// reader's). A valid header nests three deep.
pub const MAX_DEPTH: usize = 127;

/// At most this many members in any object or array below the top level: the metadata's
/// entries (real files have a handful; sorting and handing over millions would take seconds),
/// a tensor's fields and dimensions.
pub const MAX_MEMBERS: usize = 65_536;

/// At most this many JSON values in the header, counted as one plus every `{`, `[` and `,`
/// outside strings (an upper bound): enough for [`MAX_TENSORS`] entries of rank 8 or
/// fewer, and a bound on what parsing may allocate whatever the header holds.
pub const MAX_VALUES: usize = 2_000_000;

/// Dimensions and offsets must be exact in a JavaScript number (2^53 - 1), since liven hands them
/// to JavaScript; no real file comes near.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The element types of the format (the sub-byte and exotic float types are not known here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
}

const DTYPES: [(Dtype, &str, usize); 15] = [
    (Dtype::Bool, "BOOL", 1),
    (Dtype::U8, "U8", 1),
    (Dtype::I8, "I8", 1),
    (Dtype::F8E5M2, "F8_E5M2", 1),
    (Dtype::F8E4M3, "F8_E4M3", 1),
    (Dtype::I16, "I16", 2),
    (Dtype::U16, "U16", 2),
    (Dtype::F16, "F16", 2),
    (Dtype::BF16, "BF16", 2),
    (Dtype::I32, "I32", 4),
    (Dtype::U32, "U32", 4),
    (Dtype::F32, "F32", 4),
    (Dtype::I64, "I64", 8),
    (Dtype::U64, "U64", 8),
    (Dtype::F64, "F64", 8),
];

impl Dtype {
    pub fn from_name(name: &str) -> Option<Dtype> {
        DTYPES.iter().find(|d| d.1 == name).map(|d| d.0)
    }

    pub fn name(self) -> &'static str {
        DTYPES.iter().find(|d| d.0 == self).map_or("?", |d| d.1)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        DTYPES.iter().find(|d| d.0 == self).map_or(1, |d| d.2)
    }

    /// Whether [`to_f32`] converts this type.
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16 | Dtype::I64 | Dtype::I32
        )
    }
}

/// One tensor of the table: its byte range is absolute (from the start of the file) and has
/// been checked to lie inside it and to hold exactly `shape`'s elements of `dtype`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Range<usize>,
}

/// The validated header: tensors in file order (by offset), metadata sorted by key.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Header {
    pub tensors: Vec<TensorEntry>,
    pub metadata: Vec<(String, String)>,
}

/// What is wrong with a file, as a sentence.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file ends before the header length or the header does.
    Truncated,
    HeaderTooLarge,
    InvalidUtf8,
    InvalidJson,
    DuplicateKey,
    /// A tensor entry or the metadata has the wrong form (missing field, bad type, unknown dtype).
    InvalidEntry,
    /// A tensor's byte range does not match its shape and dtype.
    SizeMismatch,
    /// A tensor's byte range reaches past the end of the file.
    OutOfBounds,
    Overlap,
    Hole,
    TrailingBytes,
    /// More tensors, dimensions, members or JSON values than the limits ([`MAX_TENSORS`],
    /// [`MAX_RANK`], [`MAX_MEMBERS`], [`MAX_VALUES`]) allow.
    LimitExceeded,
    /// [`to_f32`]: a type liven does not convert, or an integer it cannot represent.
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

fn err<T>(kind: ErrorKind, message: String) -> Result<T, Error> {
    Err(Error { kind, message })
}

/// A string as JSON writes it, for names in messages.
fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn format_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Reads and validates the header of a whole safetensors file.
pub fn parse_header(file: &[u8]) -> Result<Header, Error> {
    let Some(len_bytes) = file.get(..8) else {
        return err(
            ErrorKind::Truncated,
            format!(
                "the file has {} bytes, fewer than the 8 of the header length: truncated",
                file.len()
            ),
        );
    };
    let n = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if n > MAX_HEADER_LEN {
        return err(
            ErrorKind::HeaderTooLarge,
            format!("the header length is {n} bytes, more than the limit of {MAX_HEADER_LEN} (a corrupt file?)"),
        );
    }
    let rest = file.len() - 8;
    if n > rest as u64 {
        return err(
            ErrorKind::Truncated,
            format!("the header length is {n} bytes, but only {rest} bytes follow it: truncated"),
        );
    }
    let data_start = 8 + n as usize;
    let Ok(text) = std::str::from_utf8(&file[8..data_start]) else {
        return err(
            ErrorKind::InvalidUtf8,
            "the header is not valid UTF-8".to_owned(),
        );
    };
    if !text.starts_with('{') {
        return err(
            ErrorKind::InvalidJson,
            "the header does not start with '{'".to_owned(),
        );
    }
    check_structure(text.as_bytes())?;
    let root = match serde_json::from_str::<StrictValue>(text) {
        Ok(StrictValue(Value::Object(map))) => map,
        Ok(_) => unreachable!("a value that starts with '{{' is an object"),
        Err(e) if e.to_string().starts_with(DUPLICATE) => {
            // Without serde_json's " at line 1 column N", as the TypeScript reader says it.
            let message = e.to_string();
            let what = message.rsplit_once(" at line ").map_or(&*message, |m| m.0);
            return err(ErrorKind::DuplicateKey, format!("the header has a {what}"));
        }
        Err(e) => {
            return err(
                ErrorKind::InvalidJson,
                format!("the header is not valid JSON: {e}"),
            )
        }
    };

    let data_len = file.len() - data_start;
    let mut header = Header::default();
    for (name, value) in root {
        if name == "__metadata__" {
            header.metadata = metadata(value)?;
        } else {
            header
                .tensors
                .push(entry(name, &value, data_start, data_len)?);
        }
    }

    if header.tensors.len() > MAX_TENSORS {
        return err(ErrorKind::LimitExceeded, too_many_tensors());
    }

    // The ranges must tile the data section: sorted by offset, each begins where the last ended.
    header.tensors.sort_by_key(|t| (t.data.start, t.data.end));
    let mut expected = data_start;
    let mut previous: Option<&TensorEntry> = None;
    for t in &header.tensors {
        let offsets = format!(
            "data_offsets [{}, {}]",
            t.data.start - data_start,
            t.data.end - data_start
        );
        if t.data.start < expected {
            let other = previous.map_or(String::new(), |p| format!(" tensor {}", quote(&p.name)));
            return err(
                ErrorKind::Overlap,
                format!("tensor {} ({offsets}) overlaps{other}", quote(&t.name)),
            );
        }
        if t.data.start > expected {
            return err(
                ErrorKind::Hole,
                format!(
                    "{} unused bytes lie before tensor {} ({offsets})",
                    t.data.start - expected,
                    quote(&t.name)
                ),
            );
        }
        expected = t.data.end;
        previous = Some(t);
    }
    if expected != file.len() {
        return err(
            ErrorKind::TrailingBytes,
            format!(
                "{} bytes follow the last tensor's data",
                file.len() - expected
            ),
        );
    }
    Ok(header)
}

fn too_many_tensors() -> String {
    format!("the header has more than {MAX_TENSORS} tensors")
}

/// Bounds what parsing will cost before it starts, by one pass over the bytes: nesting depth,
/// members of the top-level object (tensors), members of any object or array below it
/// ([`MAX_MEMBERS`]) and JSON values ([`MAX_VALUES`]). Quotes and backslashes are ASCII, so the
/// byte scan sees the strings the parser sees; the TypeScript reader scans the same way and
/// fails at the same byte with the same message.
fn check_structure(text: &[u8]) -> Result<(), Error> {
    // Members so far (one plus the commas) of each open object or array.
    let mut open: Vec<usize> = Vec::new();
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                continue;
            }
            b'{' | b'[' => {
                open.push(1);
                values += 1;
            }
            b'}' | b']' => {
                open.pop();
                continue;
            }
            b',' => {
                values += 1;
                if let Some(members) = open.last_mut() {
                    *members += 1;
                }
            }
            _ => continue,
        }
        let members = open.last().copied().unwrap_or(0);
        if open.len() > MAX_DEPTH {
            return err(
                ErrorKind::InvalidJson,
                format!("the header is not valid JSON: nested more than {MAX_DEPTH} deep"),
            );
        }
        // The metadata is a member of the top level too.
        if open.len() == 1 && members > MAX_TENSORS + 1 {
            return err(ErrorKind::LimitExceeded, too_many_tensors());
        }
        if open.len() > 1 && members > MAX_MEMBERS {
            return err(
                ErrorKind::LimitExceeded,
                format!("the header has an object or array of more than {MAX_MEMBERS} members"),
            );
        }
        if values > MAX_VALUES {
            return err(
                ErrorKind::LimitExceeded,
                format!("the header holds more than {MAX_VALUES} JSON values"),
            );
        }
    }
    Ok(())
}

fn metadata(value: Value) -> Result<Vec<(String, String)>, Error> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                _ => err(
                    ErrorKind::InvalidEntry,
                    format!("__metadata__ {} is not a string", quote(&k)),
                ),
            })
            .collect(),
        _ => err(
            ErrorKind::InvalidEntry,
            "__metadata__ must be an object of strings".to_owned(),
        ),
    }
}

/// A JSON number that is an integer in `0..=MAX_SAFE_INTEGER` (3.0 counts, as in JavaScript).
fn safe_uint(v: &Value) -> Option<usize> {
    let n = v.as_u64().or_else(|| {
        let f = v.as_f64()?;
        (f >= 0.0 && f.fract() == 0.0 && f <= MAX_SAFE_INTEGER as f64).then_some(f as u64)
    })?;
    if n > MAX_SAFE_INTEGER {
        return None;
    }
    usize::try_from(n).ok()
}

fn entry(
    name: String,
    value: &Value,
    data_start: usize,
    data_len: usize,
) -> Result<TensorEntry, Error> {
    let q = quote(&name);
    let bad = |why: &str| err(ErrorKind::InvalidEntry, format!("tensor {q}: {why}"));
    let Some(obj) = value.as_object() else {
        return bad("the entry must be an object with dtype, shape and data_offsets");
    };
    let Some(dtype_name) = obj.get("dtype").and_then(Value::as_str) else {
        return bad("dtype must be a string");
    };
    let Some(dtype) = Dtype::from_name(dtype_name) else {
        return bad(&format!("unknown dtype {}", quote(dtype_name)));
    };
    let shape: Option<Vec<usize>> = obj
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|dims| dims.iter().map(safe_uint).collect());
    let Some(shape) = shape else {
        return bad("shape must be an array of non-negative integers");
    };
    if shape.len() > MAX_RANK {
        return err(
            ErrorKind::LimitExceeded,
            format!(
                "tensor {q}: shape has {} dimensions, more than {MAX_RANK}",
                shape.len()
            ),
        );
    }
    let offsets: Option<Vec<usize>> = obj
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|o| o.len() == 2)
        .and_then(|o| o.iter().map(safe_uint).collect());
    let Some(&[begin, end]) = offsets.as_deref() else {
        return bad("data_offsets must be two non-negative integers");
    };
    let offsets = format!("data_offsets [{begin}, {end}]");
    if end < begin {
        return bad(&format!("{offsets} end before they begin"));
    }
    // Left to right, as the TypeScript reader does, so both call the same shapes too large.
    let needed = shape.iter().try_fold(dtype.size(), |acc, &d| {
        acc.checked_mul(d).filter(|&n| n as u64 <= MAX_SAFE_INTEGER)
    });
    let Some(needed) = needed else {
        return bad(&format!("shape {} is too large", format_shape(&shape)));
    };
    if end - begin != needed {
        return err(
            ErrorKind::SizeMismatch,
            format!(
                "tensor {q}: shape {} of {} needs {needed} bytes, but {offsets} span {}",
                format_shape(&shape),
                dtype.name(),
                end - begin
            ),
        );
    }
    if end > data_len {
        return err(
            ErrorKind::OutOfBounds,
            format!("tensor {q}: {offsets} reach past the end of the data ({data_len} bytes): truncated"),
        );
    }
    Ok(TensorEntry {
        name,
        dtype,
        shape,
        data: data_start + begin..data_start + end,
    })
}

const DUPLICATE: &str = "duplicate key";

/// A JSON value whose objects, at every depth, have no key twice (serde_json's own `Value`
/// keeps the last silently, which would let a header say two things about one tensor).
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE} {}", quote(&key))));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Converts one tensor's little-endian bytes to f32: floats round to nearest (F64 overflows to
/// ±inf), F16 and BF16 widen exactly, integers round to the nearest f32 (exact up to 2^24). An
/// I64 beyond ±2^53 is an error: no count or index in a model is that large, so it means a
/// wrong dtype or a corrupt file.
pub fn to_f32(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<(), Error> {
    if !dtype.is_readable() {
        return err(
            ErrorKind::Unsupported,
            format!(
                "dtype {} is not supported; liven reads F32, F64, F16, BF16, I64 and I32",
                dtype.name()
            ),
        );
    }
    if out.len().checked_mul(dtype.size()) != Some(bytes.len()) {
        return err(
            ErrorKind::SizeMismatch,
            format!(
                "{} bytes of {} do not make {} elements",
                bytes.len(),
                dtype.name(),
                out.len()
            ),
        );
    }
    let isa = simd::active();
    match dtype {
        Dtype::F32 => f32_run(isa, bytes, out),
        Dtype::F64 => f64_run(isa, bytes, out),
        Dtype::F16 => f16_run(isa, bytes, out),
        Dtype::BF16 => bf16_run(isa, bytes, out),
        Dtype::I32 => i32_run(isa, bytes, out),
        Dtype::I64 => {
            // Check first, then convert: the loop without an exit vectorises.
            if let Some((i, v)) = bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .enumerate()
                .find(|(_, v)| v.unsigned_abs() > 1 << 53)
            {
                return err(
                    ErrorKind::Unsupported,
                    format!("I64 element {i} is {v}, beyond ±2^53"),
                );
            }
            i64_run(isa, bytes, out)
        }
        _ => unreachable!("is_readable covers the rest"),
    }
    Ok(())
}

// One loop per type, compiled per instruction set (see `simd`); `bytes.len()` is
// `out.len()` times the type's size, checked by `to_f32`.
multiversion! {
    fn f32_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
}

multiversion! {
    fn f64_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *o = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32;
        }
    }
}

multiversion! {
    fn f16_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
        }
    }
}

multiversion! {
    fn bf16_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *o = f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16);
        }
    }
}

multiversion! {
    fn i32_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32;
        }
    }
}

multiversion! {
    fn i64_run(bytes: &[u8], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
            *o = i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32;
        }
    }
}

/// IEEE half precision to single, exactly (subnormals, infinities and NaN payloads included),
/// without branches so that the loop vectorises: every case is computed and one is selected.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let em = h & 0x7fff;
    // Exponent and mantissa moved into place and rebiased from 15 to 127.
    let normal = (em << 13) + ((127 - 15) << 23);
    // Exponent 31 (inf, NaN) must become 255: rebias once more.
    let inf_nan = normal + ((128 - 16) << 23);
    // Subnormal: mant · 2^-24, computed exactly as (2^-14 + mant · 2^-24) - 2^-14.
    let sub = (f32::from_bits((em << 13) + (113 << 23)) - f32::from_bits(113 << 23)).to_bits();
    let bits = if em < 0x0400 {
        sub
    } else if em >= 0x7c00 {
        inf_nan
    } else {
        normal
    };
    f32::from_bits(sign | bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with `header` as its JSON (padded with spaces to 8 bytes) followed by `data`.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.as_bytes().to_vec();
        while !h.len().is_multiple_of(8) {
            h.push(b' ');
        }
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out
    }

    fn kind(bytes: &[u8]) -> ErrorKind {
        parse_header(bytes).expect_err("should be rejected").kind
    }

    #[test]
    fn reads_a_well_formed_file() {
        let data: Vec<u8> = [1.5f32, -2.0, 0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain(7i64.to_le_bytes())
            .collect();
        let f = file(
            r#"{"__metadata__":{"format":"pt","b":"ü"},"n":{"dtype":"I64","shape":[],"data_offsets":[12,20]},"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[12,12]}}"#,
            &data,
        );
        let h = parse_header(&f).unwrap();
        let names: Vec<&str> = h.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["w", "e", "n"]);
        assert_eq!(
            h.metadata,
            [("b".into(), "ü".into()), ("format".into(), "pt".into())]
        );
        let w = &h.tensors[0];
        let mut out = [0f32; 3];
        to_f32(w.dtype, &f[w.data.clone()], &mut out).unwrap();
        assert_eq!(out, [1.5, -2.0, 0.25]);
        let n = &h.tensors[2];
        assert_eq!(n.shape, Vec::<usize>::new());
        let mut one = [0f32];
        to_f32(n.dtype, &f[n.data.clone()], &mut one).unwrap();
        assert_eq!(one, [7.0]);
    }

    #[test]
    fn empty_table_and_null_metadata() {
        assert_eq!(parse_header(&file("{}", &[])).unwrap(), Header::default());
        assert!(parse_header(&file(r#"{"__metadata__":null}"#, &[])).is_ok());
    }

    #[test]
    fn rejects_truncated_files() {
        for n in 0..8 {
            assert_eq!(kind(&vec![0u8; n]), ErrorKind::Truncated);
        }
        let f = file(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        // Cut inside the header, then inside the data.
        assert_eq!(kind(&f[..20]), ErrorKind::Truncated);
        assert_eq!(kind(&f[..f.len() - 1]), ErrorKind::OutOfBounds);
    }

    #[test]
    fn rejects_a_huge_header_length_without_reading_it() {
        let mut f = (MAX_HEADER_LEN + 1).to_le_bytes().to_vec();
        f.extend_from_slice(b"{}");
        assert_eq!(kind(&f), ErrorKind::HeaderTooLarge);
        assert_eq!(kind(&u64::MAX.to_le_bytes()), ErrorKind::HeaderTooLarge);
    }

    #[test]
    fn rejects_bad_text() {
        let mut f = file("{}", &[]);
        f[9] = 0xff;
        assert_eq!(kind(&f), ErrorKind::InvalidUtf8);
        assert_eq!(kind(&file("[1]", &[])), ErrorKind::InvalidJson);
        assert_eq!(kind(&file(" {}", &[])), ErrorKind::InvalidJson);
        assert_eq!(kind(&file("{\"a\":", &[])), ErrorKind::InvalidJson);
        assert_eq!(kind(&file("{}x", &[])), ErrorKind::InvalidJson);
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(kind(&file(&deep, &[])), ErrorKind::InvalidJson);
    }

    #[test]
    fn checks_nesting_before_parsing() {
        let nest = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        // The root object is level 1: 126 arrays inside it reach the limit, 127 pass it.
        assert_eq!(
            kind(&file(&nest(MAX_DEPTH - 1), &[])),
            ErrorKind::InvalidEntry
        );
        let e = parse_header(&file(&nest(MAX_DEPTH), &[])).unwrap_err();
        assert_eq!(
            e.message,
            "the header is not valid JSON: nested more than 127 deep"
        );
        // Brackets inside strings (escaped quotes too) are text, not nesting.
        let quoted = format!(r#"{{"__metadata__":{{"k":"\"{}"}}}}"#, "[".repeat(1000));
        assert!(parse_header(&file(&quoted, &[])).is_ok());
    }

    #[test]
    fn limits_tensors_rank_and_values() {
        let zeros = |n: usize, metadata: bool| {
            let mut h = String::from("{");
            if metadata {
                h.push_str(r#""__metadata__":{},"#);
            }
            for i in 0..n {
                h.push_str(&format!(
                    r#""t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}},"#
                ));
            }
            h.pop();
            h.push('}');
            file(&h, &[])
        };
        assert_eq!(
            parse_header(&zeros(MAX_TENSORS, true))
                .unwrap()
                .tensors
                .len(),
            MAX_TENSORS
        );
        let e = parse_header(&zeros(MAX_TENSORS + 1, true)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(e.message, "the header has more than 100000 tensors");
        // Without metadata the scan lets one more member through; the table's count catches it.
        assert_eq!(parse_header(&zeros(MAX_TENSORS + 1, false)).unwrap_err(), e);

        let ranked = |r: usize| {
            let dims = vec!["1"; r].join(",");
            file(
                &format!(r#"{{"a":{{"dtype":"F32","shape":[{dims}],"data_offsets":[0,4]}}}}"#),
                &[0; 4],
            )
        };
        assert_eq!(
            parse_header(&ranked(MAX_RANK)).unwrap().tensors[0]
                .shape
                .len(),
            64
        );
        let e = parse_header(&ranked(MAX_RANK + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(
            e.message,
            r#"tensor "a": shape has 65 dimensions, more than 64"#
        );

        let members = |n: usize| file(&format!(r#"{{"x":[{}]}}"#, vec!["0"; n].join(",")), &[]);
        assert_eq!(kind(&members(MAX_MEMBERS)), ErrorKind::InvalidEntry);
        let e = parse_header(&members(MAX_MEMBERS + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(
            e.message,
            "the header has an object or array of more than 65536 members"
        );

        // Arrays of 20,000 zeros in one array: 2 + 20,001 per array (its bracket, its commas and
        // the comma before it; the outer bracket stands in for the first one's).
        let values = |arrays: usize| {
            let zeros = format!("[{}]", vec!["0"; 20_000].join(","));
            file(
                &format!(r#"{{"x":[{}]}}"#, vec![zeros; arrays].join(",")),
                &[],
            )
        };
        let arrays = (MAX_VALUES - 2) / 20_001;
        assert_eq!(kind(&values(arrays)), ErrorKind::InvalidEntry);
        let e = parse_header(&values(arrays + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert_eq!(e.message, "the header holds more than 2000000 JSON values");
    }

    #[test]
    fn rejects_duplicate_keys_at_any_depth() {
        let t = r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#;
        let e = parse_header(&file(&format!(r#"{{"a":{t},"a":{t}}}"#), &[0; 4])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateKey);
        assert_eq!(e.message, r#"the header has a duplicate key "a""#);
        let inner = r#"{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#;
        assert_eq!(kind(&file(inner, &[0; 4])), ErrorKind::DuplicateKey);
    }

    #[test]
    fn rejects_malformed_entries() {
        for header in [
            r#"{"a":1}"#,
            r#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[9007199254740992],"data_offsets":[0,4]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}"#,
            r#"{"__metadata__":{"k":1}}"#,
            r#"{"__metadata__":[]}"#,
        ] {
            assert_eq!(
                kind(&file(header, &[0; 4])),
                ErrorKind::InvalidEntry,
                "{header}"
            );
        }
        // A shape whose byte count overflows usize.
        let huge = r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
        assert_eq!(kind(&file(huge, &[0; 4])), ErrorKind::InvalidEntry);
    }

    #[test]
    fn rejects_sizes_that_disagree_with_shape_and_dtype() {
        let e = parse_header(&file(
            r#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#,
            &[0; 20],
        ))
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SizeMismatch);
        assert!(
            e.message.contains("shape [2, 3] of F32 needs 24 bytes"),
            "{}",
            e.message
        );
        let backwards = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#;
        assert_eq!(kind(&file(backwards, &[0; 4])), ErrorKind::InvalidEntry);
        let far = r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[9007199254740000,9007199254740004]}}"#;
        assert_eq!(kind(&file(far, &[0; 4])), ErrorKind::OutOfBounds);
    }

    #[test]
    fn rejects_overlaps_holes_and_trailing_bytes() {
        let two = |a: (u32, u32), b: (u32, u32), len: usize| {
            file(
                &format!(
                    r#"{{"a":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}},"b":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}}}}"#,
                    a.1 - a.0,
                    a.0,
                    a.1,
                    b.1 - b.0,
                    b.0,
                    b.1
                ),
                &vec![0; len],
            )
        };
        assert!(parse_header(&two((0, 4), (4, 8), 8)).is_ok());
        assert_eq!(kind(&two((0, 4), (2, 6), 6)), ErrorKind::Overlap);
        assert_eq!(kind(&two((0, 4), (0, 4), 4)), ErrorKind::Overlap);
        assert_eq!(kind(&two((0, 4), (5, 8), 8)), ErrorKind::Hole);
        assert_eq!(kind(&two((1, 4), (4, 8), 8)), ErrorKind::Hole);
        assert_eq!(kind(&two((0, 4), (4, 8), 9)), ErrorKind::TrailingBytes);
        assert_eq!(kind(&file("{}", &[0])), ErrorKind::TrailingBytes);
    }

    #[test]
    fn converts_every_readable_dtype() {
        for isa in crate::simd::supported() {
            crate::simd::with_isa(isa, converts_every_readable_dtype_at_this_level);
        }
    }

    fn converts_every_readable_dtype_at_this_level() {
        let mut out = [0f32; 4];
        let f64s: Vec<u8> = [1.0f64 / 3.0, -0.0, 1e300, f64::NEG_INFINITY]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32(Dtype::F64, &f64s, &mut out).unwrap();
        assert_eq!(
            out.map(f32::to_bits),
            [
                (1.0f32 / 3.0).to_bits(),
                0x8000_0000,
                0x7f80_0000,
                0xff80_0000
            ]
        );

        let halves: Vec<u8> = [0x3c00u16, 0x0001, 0x8400, 0x7c00]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32(Dtype::F16, &halves, &mut out).unwrap();
        assert_eq!(out, [1.0, 2f32.powi(-24), -(2f32.powi(-14)), f32::INFINITY]);

        let bf: Vec<u8> = [0x3f80u16, 0xc040, 0x0001, 0x7fc0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32(Dtype::BF16, &bf, &mut out).unwrap();
        assert_eq!(out[..3], [1.0, -3.0, f32::from_bits(0x0001_0000)]);
        assert!(out[3].is_nan());

        let ints: Vec<u8> = [16_777_217i32, -5, i32::MAX, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32(Dtype::I32, &ints, &mut out).unwrap();
        assert_eq!(out, [16_777_216.0, -5.0, 2_147_483_648.0, 0.0]);

        let longs: Vec<u8> = [1i64 << 53, -(1i64 << 53), 3, -1]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        to_f32(Dtype::I64, &longs, &mut out).unwrap();
        assert_eq!(out, [2f32.powi(53), -(2f32.powi(53)), 3.0, -1.0]);
    }

    #[test]
    fn f16_matches_a_reference_for_every_value() {
        let bytes: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
        for isa in crate::simd::supported() {
            let mut all = vec![0f32; 65536];
            crate::simd::with_isa(isa, || to_f32(Dtype::F16, &bytes, &mut all)).unwrap();
            for h in 0..=u16::MAX {
                assert_eq!(
                    all[h as usize].to_bits(),
                    f16_to_f32(h).to_bits(),
                    "{isa} {h:#06x}"
                );
            }
        }
        for h in 0..=u16::MAX {
            let got = f16_to_f32(h);
            let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
            let exp = ((h >> 10) & 0x1f) as i32;
            let mant = (h & 0x3ff) as f64;
            let want = match exp {
                0 => sign * mant * 2f64.powi(-24),
                31 if mant == 0.0 => sign * f64::INFINITY,
                31 => f64::NAN,
                _ => sign * (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
            };
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(got.to_bits(), (want as f32).to_bits(), "{h:#06x}");
            }
        }
    }

    /// Damaged copies of a valid file (bytes changed, digits changed, cut anywhere) and random
    /// bytes behind a plausible length: each is read or rejected, never a panic, and whatever is
    /// accepted converts within bounds. (A fuzz target does this at scale.)
    #[test]
    fn never_panics_on_damaged_files() {
        let t = |dtype: &str, shape: &str, b: usize, e: usize| {
            format!(r#"{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{b},{e}]}}"#)
        };
        let header = format!(
            r#"{{"__metadata__":{{"format":"pt"}},"a":{},"b":{},"c":{},"d":{}}}"#,
            t("F32", "[2,2]", 0, 16),
            t("F16", "[3]", 16, 22),
            t("I64", "[]", 22, 30),
            t("BF16", "[1,1]", 30, 32)
        );
        let base = file(&header, &(0..32u8).collect::<Vec<_>>());
        assert!(parse_header(&base).is_ok());
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut accepted = 0;
        for n in 0..20_000 {
            let mut f = base.clone();
            match n % 4 {
                0 => {
                    let at = next() as usize % f.len();
                    f[at] = next() as u8;
                }
                1 => {
                    let digits: Vec<usize> = (8..8 + header.len())
                        .filter(|&i| f[i].is_ascii_digit())
                        .collect();
                    let at = digits[next() as usize % digits.len()];
                    f[at] = b'0' + (next() % 10) as u8;
                }
                2 => f.truncate(next() as usize % f.len()),
                _ => {
                    let len = next() as usize % 64;
                    f = (len as u64).to_le_bytes().to_vec();
                    f.extend((0..len + next() as usize % 16).map(|_| next() as u8));
                }
            }
            if let Ok(h) = parse_header(&f) {
                accepted += 1;
                for e in &h.tensors {
                    let mut out = vec![0f32; e.shape.iter().product()];
                    let _ = to_f32(e.dtype, &f[e.data.clone()], &mut out);
                }
            }
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn conversion_errors() {
        let mut out = [0f32; 1];
        assert_eq!(
            to_f32(Dtype::U8, &[1], &mut out).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(
            to_f32(Dtype::F32, &[0; 3], &mut out).unwrap_err().kind,
            ErrorKind::SizeMismatch
        );
        let e = to_f32(Dtype::I64, &((1i64 << 53) + 1).to_le_bytes(), &mut out).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("9007199254740993"), "{}", e.message);
    }
}
