// SPDX-License-Identifier: GPL-2.0

//! Host build of the protocol core of `nvmet_tcp_rs`.
//!
//! The kernel module compiles `src/proto.rs` as one of its own modules. This crate root exists so
//! that `cargo test` and cargo-fuzz can exercise the same code on the host.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod proto;
