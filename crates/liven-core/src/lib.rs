//! liven-core: the kernels of liven, a neural-network layer library for Node.js.
//!
//! Every kernel is a stateless function over `f32` slices in row-major order, one
//! `*_forward` / `*_backward` pair per layer, written as plain loops that read like the maths
//! and compiled once per instruction set (see [`simd`]). Large inputs are split across the
//! shared thread pool (see [`threads`]).

mod scratch;
pub mod simd;
pub mod stream;
pub mod threads;
pub mod transpose;

#[cfg(test)]
mod testutil;

pub mod activation;
pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod linear;
pub mod loss;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod safetensors;
pub mod softmax;
pub mod stats;
