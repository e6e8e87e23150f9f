// SPDX-License-Identifier: GPL-2.0

//! The `nvmet_fabrics_ops` table of a transport, built from the [`Transport`] trait as
//! `rust/kernel/block/mq/operations.rs` builds a blk-mq table: only the trampolines here touch
//! the core's raw pointers, and the trait's methods get safe types.
//!
//! C header: [`drivers/nvme/target/nvmet.h`](srctree/drivers/nvme/target/nvmet.h)

use super::{
    nvmet::{
        CtrlRef,
        Ops,
        PortRef,
        QueuePair,
        SqId, //
    },
    req::Req,
    sys,
};
use core::marker::PhantomData;
use kernel::{
    error::from_result,
    prelude::*,
    sync::ArcBorrow, //
};

/// The size of the core's `traddr` buffers (`NVMF_TRADDR_SIZE`).
const TRADDR_SIZE: usize = 256;

/// An object that owns a queue pair of the core.
///
/// # Safety
///
/// - Every value whose pair the core sees lives in an [`Arc`](kernel::sync::Arc), which keeps
///   a reference while the pair is live.
/// - [`HasQueuePair::from_pair`] gives the object that holds the pair.
pub(crate) unsafe trait HasQueuePair {
    /// The object whose pair is at `pair`.
    ///
    /// # Safety
    ///
    /// `pair` must be the pair of a value of this type.
    unsafe fn from_pair(pair: *const QueuePair) -> *const Self;
}

/// A transport as the nvmet core calls it.
pub(crate) trait Transport: 'static {
    /// What owns a queue pair.
    type Queue: HasQueuePair + Send + Sync;
    /// The transport type (`NVMF_TRTYPE_*`).
    const TYPE: u32;
    /// Data descriptors per command (`msdbd`).
    const MSDBD: u32;

    /// The port is enabled on this transport.
    fn add_port(port: PortRef) -> Result;
    /// The port is disabled; it was enabled by a successful `add_port`.
    fn remove_port(port: &PortRef);
    /// `req`, a request of `queue`, completed; any context.
    fn queue_response(queue: ArcBorrow<'_, Self::Queue>, req: &Req);
    /// The Connect command of `queue` installs it in a controller; returns an NVMe status.
    fn install_queue(queue: ArcBorrow<'_, Self::Queue>) -> u16;
    /// The controller is going away: shut its queues down.
    fn delete_ctrl(ctrl: CtrlRef);
    /// Writes the address that a discovery log entry of `port` shows to `queue`'s host.
    fn disc_traddr(queue: ArcBorrow<'_, Self::Queue>, port: &PortRef, out: &mut [u8]);
    /// Writes the host address of the controller whose admin sq is `admin_sq`; returns its
    /// length.
    fn host_traddr(ctrl: CtrlRef, admin_sq: SqId, out: &mut [u8]) -> Result<usize>;
    /// The maximum data transfer size, as a power of two of the minimum page size.
    fn get_mdts() -> u8;
}

/// The table of transport `T`.
pub(crate) struct Vtable<T: Transport>(PhantomData<T>);

impl<T: Transport> Vtable<T> {
    /// The table, for a `static` that the registration keeps.
    pub(crate) const OPS: Ops = Ops(sys::nvmet_fabrics_ops {
        owner: kernel::module::this_module::<crate::LocalModule>().as_ptr(),
        type_: T::TYPE,
        msdbd: T::MSDBD,
        queue_response: Some(Self::queue_response),
        add_port: Some(Self::add_port),
        remove_port: Some(Self::remove_port),
        delete_ctrl: Some(Self::delete_ctrl),
        disc_traddr: Some(Self::disc_traddr),
        host_traddr: Some(Self::host_traddr),
        install_queue: Some(Self::install_queue),
        get_mdts: Some(Self::get_mdts),
        ..pin_init::zeroed()
    });

    /// The queue of an sq that the core passes.
    ///
    /// # Safety
    ///
    /// `sq` must be the sq of a pair of a `T::Queue`, live for `'a`.
    unsafe fn queue_of<'a>(sq: *mut sys::nvmet_sq) -> ArcBorrow<'a, T::Queue> {
        // SAFETY: `sq` is the sq of a live pair (caller).
        let pair = unsafe { QueuePair::from_sq(sq) };
        // SAFETY: The pair is a `T::Queue`'s (caller).
        let queue = unsafe { T::Queue::from_pair(pair) };
        // SAFETY: The queue lives in an `Arc` whose owner keeps a reference until the pair is
        // destroyed (`HasQueuePair`), which it is not for `'a` (caller).
        unsafe { ArcBorrow::from_raw(queue) }
    }

    /// # Safety
    ///
    /// Called by the core with a live port that it is enabling, under its configuration lock.
    unsafe extern "C" fn add_port(nport: *mut sys::nvmet_port) -> c_int {
        // SAFETY: The port is live while enabled.
        let port = unsafe { PortRef::from_raw(nport) };
        from_result(|| T::add_port(port).map(|()| 0))
    }

    /// # Safety
    ///
    /// Called by the core with a live port that `add_port` succeeded on.
    unsafe extern "C" fn remove_port(nport: *mut sys::nvmet_port) {
        // SAFETY: The port is live.
        let port = unsafe { PortRef::from_raw(nport) };
        T::remove_port(&port);
    }

    /// # Safety
    ///
    /// Called by the core, in any context, with a request that our `init` initialised on a
    /// `T::Queue`'s pair, and that it completed.
    unsafe extern "C" fn queue_response(req: *mut sys::nvmet_req) {
        // SAFETY: Our requests are `Req`s, live while the core completes them.
        let req = unsafe { Req::from_raw(req) };
        // `None`: the core rejected the command inside `nvmet_req_init`, which `init` reports.
        let Some(sq) = req.completed() else {
            return;
        };
        // SAFETY: `Req::init` requires the sq to be a `T::Queue`'s pair's, and the queue keeps
        // a reference (`HasQueuePair`) until the pair is destroyed, which waits for this call
        // to return (the core drops the request's sq reference after `queue_response`).
        let queue = unsafe { Self::queue_of(sq) };
        T::queue_response(queue, req);
    }

    /// # Safety
    ///
    /// Called by the core with a live controller.
    unsafe extern "C" fn delete_ctrl(ctrl: *mut sys::nvmet_ctrl) {
        T::delete_ctrl(CtrlRef::new(ctrl));
    }

    /// # Safety
    ///
    /// Called by the core with the sq of one of our queues, while it executes that queue's
    /// Connect command.
    unsafe extern "C" fn install_queue(sq: *mut sys::nvmet_sq) -> u16 {
        // SAFETY: The sq is a `T::Queue`'s pair's, live while its Connect command executes.
        T::install_queue(unsafe { Self::queue_of(sq) })
    }

    /// # Safety
    ///
    /// Called by the core with one of our requests (executing), a live port, and a buffer of
    /// `NVMF_TRADDR_SIZE` bytes.
    unsafe extern "C" fn disc_traddr(
        req: *mut sys::nvmet_req,
        nport: *mut sys::nvmet_port,
        traddr: *mut c_char,
    ) {
        // SAFETY: The buffer has `TRADDR_SIZE` bytes (the core's contract).
        let out = unsafe { core::slice::from_raw_parts_mut(traddr.cast::<u8>(), TRADDR_SIZE) };
        // SAFETY: The core passes a live port (`req->port`).
        let port = unsafe { PortRef::from_raw(nport) };
        // SAFETY: Our requests are `Req`s, live while they execute.
        let req = unsafe { Req::from_raw(req) };
        let Some(sq) = req.sq_of_executing() else {
            return;
        };
        // SAFETY: `Req::init` requires the sq to be a `T::Queue`'s pair's, and the queue keeps
        // a reference until the pair is destroyed, which waits for this executing request.
        let queue = unsafe { Self::queue_of(sq) };
        T::disc_traddr(queue, &port, out);
    }

    /// # Safety
    ///
    /// Called by the core with a live controller of ours and a buffer of `len` bytes.
    unsafe extern "C" fn host_traddr(
        ctrl: *mut sys::nvmet_ctrl,
        traddr: *mut c_char,
        len: usize,
    ) -> isize {
        // SAFETY: The controller is live, and so is its array of sqs, whose first is the admin
        // queue's (only compared, never followed).
        let admin_sq = unsafe { *(*ctrl).sqs };
        // SAFETY: The buffer has `len` bytes.
        let out = unsafe { core::slice::from_raw_parts_mut(traddr.cast::<u8>(), len) };
        match T::host_traddr(CtrlRef::new(ctrl), SqId::new(admin_sq), out) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    extern "C" fn get_mdts(_ctrl: *const sys::nvmet_ctrl) -> u8 {
        T::get_mdts()
    }
}
