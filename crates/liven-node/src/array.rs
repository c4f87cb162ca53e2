//! [`Array`]: a typed-array argument whose memory is looked up only after every argument of the
//! call has been converted (see the crate's docs for why).

// The one module that may touch napi's typed-array slice types (`clippy.toml` disallows them
// elsewhere): it converts them into views only inside a glue body.
#![allow(clippy::disallowed_types)]

use napi::bindgen_prelude::{
    Float32ArraySlice, Float64ArraySlice, FromNapiValue, Int32ArraySlice, Uint32ArraySlice,
    Uint8ArraySlice,
};
use napi::{sys, Result};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::ops::Deref;

/// An element type of a JavaScript typed array, and napi's slice type that reads it.
pub trait Element: Copy + 'static {
    #[doc(hidden)]
    type Slice<'a>: FromNapiValue + Deref<Target = [Self]>;
}

macro_rules! element {
    ($($t:ty => $slice:ident),*) => {
        $(impl Element for $t {
            type Slice<'a> = $slice<'a>;
        })*
    };
}
element!(f32 => Float32ArraySlice, f64 => Float64ArraySlice, u32 => Uint32ArraySlice,
    i32 => Int32ArraySlice, u8 => Uint8ArraySlice);

/// A typed-array argument (`Float32Array` for `Array<f32>`, `Uint32Array` for `Array<u32>`, ...)
/// held as its JavaScript handle. Its type is checked when napi-rs converts it, so a wrong
/// argument fails as before; its memory is looked up by [`view`](Array::view) in the body.
pub struct Array<T: Element> {
    env: sys::napi_env,
    value: sys::napi_value,
    _element: PhantomData<T>,
}

impl<T: Element> FromNapiValue for Array<T> {
    unsafe fn from_napi_value(env: sys::napi_env, value: sys::napi_value) -> Result<Self> {
        // The type check only: the pointer it finds is dropped here, on purpose.
        // SAFETY: env and value are the ones napi-rs passes for this argument.
        unsafe { T::Slice::from_napi_value(env, value) }?;
        Ok(Array {
            env,
            value,
            _element: PhantomData,
        })
    }
}

impl<T: Element> Array<T> {
    /// The array's current memory (empty when its buffer was detached).
    ///
    /// Sound in a glue body: the call's handle keeps the array alive, and no JavaScript runs on
    /// this thread before the function returns, so nothing can detach, resize or free the
    /// memory while the view lives. Memory on a `SharedArrayBuffer` may still be written by
    /// another thread (see the crate's docs).
    pub fn view(&self) -> Result<&[T]> {
        // SAFETY: env and value are a live handle of this call (the Array is a glue argument).
        let slice = unsafe { T::Slice::from_napi_value(self.env, self.value) }?;
        // SAFETY: napi's slice points at the array's `len` elements (dangling but non-null when
        // empty); that memory stays valid as long as `self` (see above), which bounds the view.
        Ok(unsafe { std::slice::from_raw_parts(slice.as_ptr(), slice.len()) })
    }

    /// The array's current memory, writable.
    ///
    /// # Safety
    /// No other view made for the same call may overlap this one (checked with
    /// [`check_apart`](crate::check_apart) or [`check_outputs`](crate::check_outputs)).
    pub unsafe fn view_mut(&mut self) -> Result<&mut [T]> {
        let view = self.view()?;
        // SAFETY: as for `view`; the caller guarantees that nothing else aliases it, and `&mut
        // self` that this Array hands out no other view while this one lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(view.as_ptr().cast_mut(), view.len()) })
    }

    /// A view no other thread can change: the array itself, or a copy when its memory is a
    /// `SharedArrayBuffer`. For values that are validated and then used (indices, class
    /// targets), so that the values checked are the values used.
    pub fn stable(&self) -> Result<Cow<'_, [T]>> {
        let view = self.view()?;
        Ok(if self.is_shared()? {
            Cow::Owned(view.to_vec())
        } else {
            Cow::Borrowed(view)
        })
    }

    /// Whether the array's buffer is a `SharedArrayBuffer` (`napi_is_arraybuffer` is false for
    /// those).
    fn is_shared(&self) -> Result<bool> {
        let mut buffer = std::ptr::null_mut();
        // SAFETY: a live handle of this call; the out-pointers are valid locals or null (unused).
        let status = unsafe {
            sys::napi_get_typedarray_info(
                self.env,
                self.value,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut buffer,
                std::ptr::null_mut(),
            )
        };
        napi::check_status!(status, "typed array info")?;
        let mut plain = false;
        // SAFETY: `buffer` is the handle napi just returned.
        napi::check_status!(unsafe { sys::napi_is_arraybuffer(self.env, buffer, &mut plain) })?;
        Ok(!plain)
    }
}

/// The view of an optional array.
pub fn view_opt<T: Element>(a: &Option<Array<T>>) -> Result<Option<&[T]>> {
    a.as_ref().map(Array::view).transpose()
}
