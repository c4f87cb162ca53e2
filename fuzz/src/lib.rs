//! The invariants of liven-core's safetensors reader on arbitrary bytes: it never panics, never
//! reads outside the file, and what it accepts is consistent. Used by the libFuzzer target
//! (`fuzz_targets/safetensors.rs`) and, through `#[path]`, by liven-core's corpus replay test,
//! so the fuzzer and CI check the same things.

use liven_core::safetensors::{parse_header, to_f32, Dtype, ErrorKind, MAX_RANK, MAX_TENSORS};

/// Parses `data`; on success checks the table against the file and converts every tensor.
/// Panics (the fuzzer's finding) when an invariant fails. Returns whether the file was accepted.
pub fn check(data: &[u8]) -> bool {
    let header = match parse_header(data) {
        Ok(h) => h,
        Err(e) => {
            // Every rejection is a sentence, and no conversion-only error comes from parsing.
            assert!(!e.message.is_empty(), "an empty error message");
            assert_ne!(e.kind, ErrorKind::Unsupported, "{}", e.message);
            return false;
        }
    };
    // The limits hold for whatever is accepted.
    assert!(header.tensors.len() <= MAX_TENSORS, "too many tensors");
    assert!(
        header.tensors.iter().all(|t| t.shape.len() <= MAX_RANK),
        "a rank past the limit"
    );
    let n = u64::from_le_bytes(data[..8].try_into().unwrap()) as usize;
    let data_start = 8 + n;
    // The byte ranges tile the data section in file order: no overlap, no hole, no tail.
    let mut at = data_start;
    for t in &header.tensors {
        assert_eq!(
            t.data.start, at,
            "tensor {:?} starts at {}, expected {at}",
            t.name, t.data.start
        );
        assert!(
            t.data.end <= data.len(),
            "tensor {:?} ends past the file",
            t.name
        );
        let elements = t
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .expect("shape overflows");
        assert_eq!(
            elements.checked_mul(t.dtype.size()),
            Some(t.data.len()),
            "tensor {:?}: range does not hold its shape",
            t.name
        );
        at = t.data.end;
        let mut out = vec![0f32; elements];
        let bytes = &data[t.data.clone()];
        match to_f32(t.dtype, bytes, &mut out) {
            Ok(()) => {
                assert!(t.dtype.is_readable());
                if t.dtype == Dtype::F32 {
                    // F32 is a bit-exact copy.
                    for (v, b) in out.iter().zip(bytes.chunks_exact(4)) {
                        assert_eq!(v.to_bits(), u32::from_le_bytes(b.try_into().unwrap()));
                    }
                }
            }
            Err(e) => assert!(
                e.kind == ErrorKind::Unsupported
                    && (!t.dtype.is_readable() || t.dtype == Dtype::I64),
                "tensor {:?} ({}): {}",
                t.name,
                t.dtype.name(),
                e.message
            ),
        }
        // A wrong output length is an error, not a panic or a short write.
        let mut longer = vec![0f32; elements + 1];
        assert!(to_f32(t.dtype, bytes, &mut longer).is_err());
    }
    assert_eq!(at, data.len(), "bytes after the last tensor were accepted");
    // Metadata comes back sorted by key, keys unique.
    assert!(
        header.metadata.windows(2).all(|w| w[0].0 < w[1].0),
        "metadata not sorted or duplicated"
    );
    true
}
