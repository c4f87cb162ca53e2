//! Runtime choice of the instruction set.
//!
//! Every kernel body is written once, as a plain loop, and compiled several times by
//! [`multiversion!`](crate::multiversion): once per instruction-set level, with that level's
//! target features enabled so the compiler vectorises the loop for it. The level is chosen once,
//! at first use: the best the CPU supports, lowered by the `LIVEN_SIMD` environment variable
//! (`scalar`, `avx2`, `avx512`, `neon`). Tests run a kernel at every supported level with
//! [`with_isa`], which overrides the level for the calling thread only.

use std::cell::Cell;
use std::fmt;
use std::sync::OnceLock;

/// An instruction-set level, from the portable baseline up.
///
/// `Scalar` is the portable path: the loop compiled for the target's baseline (SSE2 on
/// x86-64, where the compiler may still use 128-bit vectors), with no runtime-detected features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Scalar,
    /// AArch64 Advanced SIMD (128-bit).
    Neon,
    /// AVX2 with FMA (256-bit).
    Avx2,
    /// AVX-512 F/BW/DQ/VL (512-bit).
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(name: &str) -> Option<Isa> {
        match name.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Isa::Scalar),
            "neon" => Some(Isa::Neon),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU can run code compiled for the level.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every level this CPU supports, lowest first.
pub fn supported() -> Vec<Isa> {
    [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|isa| isa.is_supported())
        .collect()
}

/// The best supported level, or the one `requested` names when that is lower.
/// An unknown or unsupported request is ignored (and reported by [`detected_level`]'s caller).
fn choose(requested: Option<&str>) -> Isa {
    let best = *supported().last().expect("scalar is always supported");
    match requested.and_then(Isa::parse) {
        Some(isa) if isa.is_supported() && isa <= best => isa,
        _ => best,
    }
}

static DETECTED: OnceLock<Isa> = OnceLock::new();

/// The process-wide level: chosen once, from the CPU and `LIVEN_SIMD`.
pub fn detected_level() -> Isa {
    *DETECTED.get_or_init(|| choose(std::env::var("LIVEN_SIMD").ok().as_deref()))
}

thread_local! {
    static OVERRIDE: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The level kernels called from this thread use.
pub fn active() -> Isa {
    OVERRIDE.with(Cell::get).unwrap_or_else(detected_level)
}

/// Runs `f` with kernels called from this thread at level `isa` (for tests and benchmarks).
/// Panics when the CPU does not support `isa`.
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    assert!(isa.is_supported(), "{isa} is not supported on this CPU");
    let previous = OVERRIDE.with(|o| o.replace(Some(isa)));
    struct Restore(Option<Isa>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Defines `fn $name(isa: Isa, args...)` that runs `$body` compiled for `isa`.
///
/// The body is an ordinary loop; each level gets its own copy compiled with that level's
/// target features, so LLVM vectorises it to the level's register width. Dispatch is one
/// `match` per call (per chunk, in parallel kernels), not per element.
#[macro_export]
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(unused_unsafe)]
        $vis fn $name(isa: $crate::simd::Isa, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }

            #[cfg(target_arch = "aarch64")]
            #[target_feature(enable = "neon")]
            unsafe fn neon($($arg: $ty),*) $(-> $ret)? { body($($arg),*) }

            // `Isa` values other than Scalar are only produced after checking `is_supported`
            // (see `detected_level` and `with_isa`), so the CPU has the features each arm enables.
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU supports AVX-512 F/BW/DQ/VL, AVX2 and FMA (see above).
                $crate::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU supports AVX2 and FMA (see above).
                $crate::simd::Isa::Avx2 => unsafe { avx2($($arg),*) },
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the CPU supports NEON (see above).
                $crate::simd::Isa::Neon => unsafe { neon($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_can_only_lower_the_level() {
        let best = *supported().last().unwrap();
        assert_eq!(choose(None), best);
        assert_eq!(choose(Some("scalar")), Isa::Scalar);
        assert_eq!(choose(Some("SCALAR ")), Isa::Scalar);
        assert_eq!(choose(Some("no-such-level")), best);
        for isa in supported() {
            assert_eq!(choose(Some(isa.name())), isa);
        }
    }

    #[test]
    fn with_isa_is_scoped_to_the_call() {
        let before = active();
        with_isa(Isa::Scalar, || assert_eq!(active(), Isa::Scalar));
        assert_eq!(active(), before);
    }
}
