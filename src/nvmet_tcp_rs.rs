// SPDX-License-Identifier: GPL-2.0

//! NVMe over TCP target transport for the in-kernel nvmet core, written in Rust.
//!
//! This is the crate root of `nvmet_tcp_rs.ko`. The transport does not register with the
//! nvmet core yet: until it serves I/O, loading the module only checks that its bindings
//! layer (the generated nvmet bindings and the C shim) is wired up correctly.

use kernel::prelude::*;

mod ffi;

module! {
    type: NvmetTcpRs,
    name: "nvmet_tcp_rs",
    authors: ["nvmet-tcp-rs developers"],
    description: "NVMe/TCP target transport in Rust",
    license: "GPL",
}

/// The module's state.
struct NvmetTcpRs;

/// Checks that the bindings reach the kernel's code: the exported `crc32c()` through the
/// generated bindings, and a static inline through the C shim.
fn check_bindings() -> Result {
    // RFC 3720, B.4: CRC32C of 32 bytes of zeroes (with the usual pre- and post-inversion).
    let crc = !ffi::crc32c(!0, &[0u8; 32]);
    if crc != 0x8a91_36aa {
        pr_err!("crc32c self-check failed: {crc:#010x}\n");
        return Err(EINVAL);
    }
    let mut sqe = [0u8; 64];
    // Opcode 0x01 is Write, 0x02 is Read.
    sqe[0] = 0x01;
    let write = ffi::sqe_is_write(&sqe);
    sqe[0] = 0x02;
    let read = ffi::sqe_is_write(&sqe);
    if !write || read {
        pr_err!("nvme_is_write shim self-check failed\n");
        return Err(EINVAL);
    }
    Ok(())
}

impl kernel::Module for NvmetTcpRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        check_bindings()?;
        pr_info!("loaded; the TCP transport is not registered yet\n");
        Ok(Self)
    }
}

impl Drop for NvmetTcpRs {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
