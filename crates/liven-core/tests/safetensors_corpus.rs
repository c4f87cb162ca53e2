//! Replays the fuzz corpus (`fuzz/corpus/safetensors`: valid files of every dtype, cut, garbled
//! and the fuzzer's finds) through the fuzz target's checks, on stable Rust, in `cargo test`.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_check;

use std::fs;
use std::path::Path;

#[test]
fn the_fuzz_corpus_replays_without_a_finding() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/safetensors");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut accepted = 0;
    for path in &files {
        let bytes = fs::read(path).unwrap();
        // Also every prefix of the small files: each truncation point is a distinct case.
        let cuts = if bytes.len() <= 512 {
            0..=bytes.len()
        } else {
            bytes.len()..=bytes.len()
        };
        for cut in cuts {
            let ok = fuzz_check::check(&bytes[..cut]);
            if cut == bytes.len() && ok {
                accepted += 1;
            }
        }
    }
    // The seeds hold valid files of each dtype and broken ones: both verdicts are exercised.
    assert!(files.len() >= 20, "only {} corpus files", files.len());
    assert!(
        accepted >= 6 && accepted < files.len(),
        "{accepted} of {} accepted",
        files.len()
    );
}
