// SPDX-License-Identifier: GPL-2.0

//! The transport as the nvmet core sees it: the `nvmet_fabrics_ops` table and its callbacks.

use crate::{
    ffi::{
        self,
        nvmet::{
            Ops,
            PortRef, //
        },
        socket::SockAddr,
        sys,
        work::Workqueue,
    },
    port,
    proto::{digest::Crc32c, pdu::MAXH2CDATA},
    queue,
};
use kernel::{
    error::from_result,
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Release, //
    },
};

/// CRC32C through the kernel's `crc32c()`, which uses the CPU's instructions when it can.
pub(crate) struct KernelCrc;

impl Crc32c for KernelCrc {
    fn update(crc: u32, data: &[u8]) -> u32 {
        ffi::crc32c(crc, data)
    }
}

/// The transport's ops table.
pub(crate) static OPS: Ops = Ops(sys::nvmet_fabrics_ops {
    owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
    type_: sys::NVMF_TRTYPE_TCP,
    msdbd: 1,
    flags: 0,
    queue_response: Some(queue_response),
    add_port: Some(add_port),
    remove_port: Some(remove_port),
    delete_ctrl: Some(delete_ctrl),
    disc_traddr: Some(disc_traddr),
    host_traddr: Some(host_traddr),
    install_queue: Some(install_queue),
    get_mdts: Some(get_mdts),
    discovery_chg: None,
    get_max_queue_size: None,
    create_sq: None,
    delete_sq: None,
    create_cq: None,
    delete_cq: None,
    set_feature: None,
    get_feature: None,
});

/// The I/O workqueue, set while the module is loaded.
static IO_WQ: Atomic<*mut sys::workqueue_struct> = Atomic::new(core::ptr::null_mut());

/// Publishes the I/O workqueue; called before the transport is registered.
pub(crate) fn set_io_wq(wq: &Workqueue) {
    IO_WQ.store(wq.as_ptr(), Release);
}

/// The I/O workqueue.
pub(crate) fn io_wq() -> *mut sys::workqueue_struct {
    IO_WQ.load(Acquire)
}

/// # Safety
///
/// Called by the core with a live, enabled port, under its configuration lock.
unsafe extern "C" fn add_port(nport: *mut sys::nvmet_port) -> c_int {
    // SAFETY: The port is live while enabled.
    let nport = unsafe { PortRef::from_raw(nport) };
    from_result(|| port::add(nport).map(|()| 0))
}

/// # Safety
///
/// Called by the core with a port that `add_port` succeeded on.
unsafe extern "C" fn remove_port(nport: *mut sys::nvmet_port) {
    // SAFETY: The port is live.
    let nport = unsafe { PortRef::from_raw(nport) };
    // SAFETY: `add_port` succeeded on it and the core removes a port once.
    unsafe { port::remove(&nport) };
}

/// # Safety
///
/// Called by the core, in any context, with the request of one of our commands.
unsafe extern "C" fn queue_response(req: *mut sys::nvmet_req) {
    // SAFETY: As the core guarantees.
    unsafe { queue::queue_response(req) };
}

/// # Safety
///
/// Called by the core with a live controller.
unsafe extern "C" fn delete_ctrl(ctrl: *mut sys::nvmet_ctrl) {
    queue::delete_ctrl(ctrl);
}

/// # Safety
///
/// Called by the core with the sq of one of our queues, during Connect.
unsafe extern "C" fn install_queue(sq: *mut sys::nvmet_sq) -> u16 {
    // SAFETY: As the core guarantees.
    unsafe { queue::install_queue(sq) }
}

/// Writes the address a discovery log entry shows for `nport`: the port's address, or for a
/// wildcard port the local address of the connection the request came on.
///
/// This may run after `remove_port` (a discovery log page that waited for the configuration
/// lock while the port's last subsystem was unlinked), so it reads only the core's port,
/// which configfs keeps until the port's directory goes, and the request's queue, which
/// waits for its requests before it goes.
///
/// # Safety
///
/// Called by the core with one of our requests, a port, and a buffer of `NVMF_TRADDR_SIZE`
/// bytes.
unsafe extern "C" fn disc_traddr(
    req: *mut sys::nvmet_req,
    nport: *mut sys::nvmet_port,
    traddr: *mut c_char,
) {
    const NVMF_TRADDR_SIZE: usize = 256;
    // SAFETY: The buffer has `NVMF_TRADDR_SIZE` bytes (the core's contract).
    let out = unsafe { core::slice::from_raw_parts_mut(traddr.cast::<u8>(), NVMF_TRADDR_SIZE) };
    // SAFETY: The core passes a live port (`req->port`).
    let nport = unsafe { PortRef::from_raw(nport) };
    let any = SockAddr::parse(nport.adrfam(), nport.traddr(), nport.trsvcid())
        .is_ok_and(|addr| addr.is_any());
    if any {
        // SAFETY: `req` is one of our requests.
        unsafe { queue::local_addr_of(req) }.format(out);
    } else {
        let src = nport.traddr().to_bytes_with_nul();
        let len = src.len().min(NVMF_TRADDR_SIZE);
        out[..len].copy_from_slice(&src[..len]);
    }
}

/// Writes the host's address for the controller's `host_traddr` attribute.
///
/// # Safety
///
/// Called by the core with a live controller of ours and a buffer of `len` bytes.
unsafe extern "C" fn host_traddr(
    ctrl: *mut sys::nvmet_ctrl,
    traddr: *mut c_char,
    len: usize,
) -> isize {
    // SAFETY: The controller is live, and so is its array of sqs.
    let sq = unsafe { *(*ctrl).sqs };
    // The admin queue may be tearing down: look it up among the live queues rather than
    // follow the pointer.
    let Some(peer) = queue::peer_addr_of(ctrl, sq).filter(|peer| peer.is_set()) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: The buffer has `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(traddr.cast::<u8>(), len) };
    peer.format(out) as isize
}

/// The maximum data transfer size: 4 MiB, the most one command may carry here, in units of the
/// minimum memory page size (4 KiB): 2^10. The C target advertises no limit but refuses more.
extern "C" fn get_mdts(_ctrl: *const sys::nvmet_ctrl) -> u8 {
    const MPSMIN: u32 = 4096;
    (MAXH2CDATA / MPSMIN).ilog2() as u8
}
