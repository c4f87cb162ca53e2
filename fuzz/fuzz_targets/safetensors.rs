//! `cargo +nightly fuzz run safetensors` (see fuzz/README.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    liven_fuzz::check(data);
});
