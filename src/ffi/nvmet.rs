// SPDX-License-Identifier: GPL-2.0

//! The nvmet core's objects as the transport sees them: the transport registration, ports,
//! submission and completion queues, and requests.
//!
//! C header: [`drivers/nvme/target/nvmet.h`](srctree/drivers/nvme/target/nvmet.h)

use super::{
    sg::SgBuffer,
    sys, //
};
use core::cell::UnsafeCell;
use kernel::{
    error::to_result,
    prelude::*,
    types::Opaque, //
};

/// The transport's ops table, registered with the nvmet core.
///
/// It is a `static` in the transport module; the wrapper only makes it shareable.
#[repr(transparent)]
pub(crate) struct Ops(pub(crate) sys::nvmet_fabrics_ops);

// SAFETY: The table is immutable and only holds function pointers and the module pointer.
unsafe impl Sync for Ops {}

/// The registration of a transport with the nvmet core, undone on drop.
///
/// # Invariants
///
/// `ops` is registered with the core.
pub(crate) struct Registration {
    ops: &'static Ops,
}

impl Registration {
    /// Registers `ops` for its transport type. Fails with `EINVAL` when another transport
    /// (such as the in-tree `nvmet-tcp`) holds the type already.
    pub(crate) fn new(ops: &'static Ops) -> Result<Self> {
        // SAFETY: `ops` is a valid table that lives forever.
        to_result(unsafe { sys::nvmet_register_transport(&ops.0) })?;
        // INVARIANT: Registration succeeded.
        Ok(Self { ops })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: `ops` is registered (type invariant).
        unsafe { sys::nvmet_unregister_transport(&self.ops.0) };
    }
}

/// A port of the nvmet core (a configfs `ports/N` directory), as given to `add_port`.
///
/// # Invariants
///
/// `ptr` is a live port for as long as the transport is enabled on it.
pub(crate) struct PortRef {
    ptr: *mut sys::nvmet_port,
}

impl PortRef {
    /// Wraps a port the core passed to an op.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live port for the life of the returned object.
    pub(crate) unsafe fn from_raw(ptr: *mut sys::nvmet_port) -> Self {
        Self { ptr }
    }

    fn get(&self) -> &sys::nvmet_port {
        // SAFETY: The port is live (type invariant); the fields we read are configured before
        // the port is enabled and not changed while it is.
        unsafe { &*self.ptr }
    }

    /// The NVMe-oF address family (`adrfam`).
    pub(crate) fn adrfam(&self) -> u8 {
        self.get().disc_addr.adrfam
    }

    /// The port ID.
    pub(crate) fn portid(&self) -> u16 {
        u16::from_le(self.get().disc_addr.portid)
    }

    /// The transport address (`traddr`).
    pub(crate) fn traddr(&self) -> &CStr {
        cstr_field(&self.get().disc_addr.traddr)
    }

    /// The transport service ID, the TCP port (`trsvcid`).
    pub(crate) fn trsvcid(&self) -> &CStr {
        cstr_field(&self.get().disc_addr.trsvcid)
    }

    /// Whether the port asks for TLS (`addr_tsas` set to a TLS version).
    pub(crate) fn wants_tls(&self) -> bool {
        // SAFETY: For a TCP port the transport-specific address subtype is the `tcp` member.
        let sectype = unsafe { self.get().disc_addr.tsas.tcp.as_ref().sectype };
        u32::from(sectype) == sys::NVMF_TCP_SECTYPE_TLS12
            || u32::from(sectype) == sys::NVMF_TCP_SECTYPE_TLS13
    }

    /// The maximum in-capsule data size; the core sets it before `add_port` (-1 = unset).
    pub(crate) fn inline_data_size(&self) -> i32 {
        self.get().inline_data_size
    }

    /// Sets the maximum in-capsule data size.
    pub(crate) fn set_inline_data_size(&self, size: i32) {
        // SAFETY: `add_port` runs under the core's configuration lock, which is the only
        // writer of this field.
        unsafe { (*self.ptr).inline_data_size = size };
    }

    /// The transport's private pointer.
    pub(crate) fn private(&self) -> *mut c_void {
        self.get().priv_
    }

    /// Sets the transport's private pointer.
    pub(crate) fn set_private(&self, ptr: *mut c_void) {
        // SAFETY: Only the transport uses `priv`, from `add_port`/`remove_port`, which the core
        // serialises.
        unsafe { (*self.ptr).priv_ = ptr };
    }

    /// The raw pointer, for `req->port`.
    pub(crate) fn as_ptr(&self) -> *mut sys::nvmet_port {
        self.ptr
    }
}

fn cstr_field(field: &[c_char]) -> &CStr {
    // SAFETY: `c_char` and `u8` have the same layout.
    let bytes = unsafe { core::slice::from_raw_parts(field.as_ptr().cast::<u8>(), field.len()) };
    CStr::from_bytes_until_nul(bytes).unwrap_or(c"")
}

/// A queue pair of the core: a submission queue and its completion queue.
///
/// # Invariants
///
/// After [`QueuePair::init`] succeeded, `sq` and `cq` are initialised, and stay so until
/// [`QueuePair::destroy`].
pub(crate) struct QueuePair {
    sq: Opaque<sys::nvmet_sq>,
    cq: Opaque<sys::nvmet_cq>,
}

impl QueuePair {
    /// An uninitialised pair.
    pub(crate) const fn new() -> Self {
        Self {
            sq: Opaque::zeroed(),
            cq: Opaque::zeroed(),
        }
    }

    /// Initialises both queues in place.
    ///
    /// # Safety
    ///
    /// `self` must not move any more, and `init` must be called once.
    pub(crate) unsafe fn init(&self) -> Result {
        // SAFETY: The cq is zeroed memory in its final place.
        unsafe { sys::nvmet_cq_init(self.cq.get()) };
        // SAFETY: Both are in their final place and the cq is initialised.
        let ret = to_result(unsafe { sys::nvmet_sq_init(self.sq.get(), self.cq.get()) });
        if ret.is_err() {
            // SAFETY: The cq was initialised above and nothing else holds it.
            unsafe { sys::nvmet_cq_put(self.cq.get()) };
        }
        ret
    }

    /// Waits until every request of the sq has completed, then releases both queues.
    ///
    /// # Safety
    ///
    /// `init` must have succeeded, and `destroy` must be called once.
    pub(crate) unsafe fn destroy(&self) {
        // SAFETY: Initialised (caller), destroyed once.
        unsafe { sys::nvmet_sq_destroy(self.sq.get()) };
        // SAFETY: As above; the sq no longer uses the cq.
        unsafe { sys::nvmet_cq_put(self.cq.get()) };
    }

    /// The raw sq pointer, for `nvmet_req_init` and for matching the core's `sq` arguments.
    pub(crate) fn sq_ptr(&self) -> *mut sys::nvmet_sq {
        self.sq.get()
    }

    fn sq(&self) -> &sys::nvmet_sq {
        // SAFETY: The fields read below are written by the core while it executes the Connect
        // command, which happens on the queue's own I/O work; other readers tolerate stale
        // values (they only compare pointers).
        unsafe { &*self.sq.get() }
    }

    /// The controller the queue belongs to, NULL before Connect.
    pub(crate) fn ctrl(&self) -> *mut sys::nvmet_ctrl {
        self.sq().ctrl
    }

    /// The queue ID (0 is the admin queue).
    pub(crate) fn qid(&self) -> u16 {
        self.sq().qid
    }

    /// The queue size the host asked for at Connect.
    pub(crate) fn size(&self) -> u16 {
        self.sq().size
    }

    /// Whether SQ flow control is disabled, so reads may complete with a C2HData SUCCESS flag.
    pub(crate) fn sqhd_disabled(&self) -> bool {
        self.sq().sqhd_disabled
    }

    /// Recovers the pair from the sq pointer the core passes to `install_queue`.
    ///
    /// # Safety
    ///
    /// `sq` must point to the `sq` field of a live `QueuePair`.
    pub(crate) unsafe fn from_sq<'a>(sq: *mut sys::nvmet_sq) -> &'a Self {
        // SAFETY: `Opaque<T>` is `repr(transparent)`, so the field is at the pointer.
        let pair = unsafe { kernel::container_of!(Opaque::cast_from(sq), Self, sq) };
        // SAFETY: The caller guarantees the pair is live.
        unsafe { &*pair }
    }
}

/// Reports a fatal error on a controller: the core then tears down all its queues.
///
/// # Safety
///
/// `ctrl` must be a live controller (held by one of our queues).
pub(crate) unsafe fn ctrl_fatal_error(ctrl: *mut sys::nvmet_ctrl) {
    // SAFETY: The caller guarantees `ctrl` is live.
    unsafe { sys::nvmet_ctrl_fatal_error(ctrl) };
}

/// A request of the core, with the submission and completion entries it points to.
///
/// `req->cmd` and `req->cqe` point into this object, so it must not move once used.
#[repr(C)]
pub(crate) struct Req {
    req: Opaque<sys::nvmet_req>,
    sqe: UnsafeCell<sys::nvme_command>,
    cqe: UnsafeCell<sys::nvme_completion>,
}

impl Req {
    /// A blank request.
    pub(crate) fn new() -> Self {
        Self {
            req: Opaque::zeroed(),
            sqe: UnsafeCell::new(sys::nvme_command::default()),
            cqe: UnsafeCell::new(sys::nvme_completion::default()),
        }
    }

    /// Loads a new submission entry and initialises the request with the core. Returns `false`
    /// when the core rejected the command; it has then already completed it with an error
    /// status (through `queue_response`).
    ///
    /// # Safety
    ///
    /// The request must be idle (not in use by the core), `self` must not move until it is
    /// idle again, and `pair` must be initialised.
    pub(crate) unsafe fn init(
        &self,
        sqe: &[u8; 64],
        pair: &QueuePair,
        port: *mut sys::nvmet_port,
        ops: &'static Ops,
    ) -> bool {
        let sqe_ptr = self.sqe.get();
        // SAFETY: The request is idle, so nobody else accesses the entries; the sizes match.
        unsafe {
            core::ptr::copy_nonoverlapping(sqe.as_ptr(), sqe_ptr.cast::<u8>(), sqe.len());
            *self.cqe.get() = sys::nvme_completion::default();
        }
        let req = self.req.get();
        // SAFETY: The request is idle; only the fields the transport owns are set, as the C
        // transports do before `nvmet_req_init`.
        unsafe {
            (*req).cmd = sqe_ptr;
            (*req).cqe = self.cqe.get();
            (*req).port = port;
            (*req).sg = core::ptr::null_mut();
            (*req).sg_cnt = 0;
            (*req).transfer_len = 0;
        }
        // SAFETY: All pointers are valid and stay so while the core uses the request.
        unsafe { sys::nvmet_req_init(req, pair.sq_ptr(), &ops.0) }
    }

    /// The data length the command implies from its own fields, as the core computes it
    /// (`nvmet_req_transfer_len()`: for example the blocks of a Read or Write), or 0 when the
    /// core knows none.
    ///
    /// # Safety
    ///
    /// `init` must have returned `true` and the request must not have been executed.
    pub(crate) unsafe fn transfer_len(&self) -> u32 {
        // SAFETY: An initialised request has its sq, command and namespace set, and its sq's
        // controller (if any) is live while the sq holds it: that is all
        // `nvmet_req_transfer_len` reads.
        let len = unsafe { sys::nvmet_req_transfer_len(self.req.get()) };
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// Gives the data buffer to the core.
    ///
    /// # Safety
    ///
    /// The request must be initialised and not yet executed, and `buf` must outlive the
    /// request's use of it (until the response is sent).
    pub(crate) unsafe fn set_data(&self, buf: &SgBuffer, len: u32) {
        let (sg, nents) = buf.as_raw();
        let req = self.req.get();
        // SAFETY: Before execution the transport owns these fields.
        unsafe {
            (*req).sg = sg;
            (*req).sg_cnt = nents as i32;
            (*req).transfer_len = len as usize;
        }
    }

    /// Forgets the data buffer (before it is freed).
    ///
    /// # Safety
    ///
    /// The core must be done with the request.
    pub(crate) unsafe fn clear_data(&self) {
        let req = self.req.get();
        // SAFETY: The core is done with the request (caller).
        unsafe {
            (*req).sg = core::ptr::null_mut();
            (*req).sg_cnt = 0;
        }
    }

    /// Executes an initialised request; it completes through `queue_response`.
    ///
    /// # Safety
    ///
    /// `init` must have returned `true`, all host data must be in place, and `execute` must
    /// be called once.
    pub(crate) unsafe fn execute(&self) {
        let req = self.req.get();
        // SAFETY: `nvmet_req_init` set `execute` when it returned true (caller).
        unsafe {
            if let Some(execute) = (*req).execute {
                execute(req);
            }
        }
    }

    /// Completes an initialised request with `status` without executing it.
    ///
    /// # Safety
    ///
    /// `init` must have returned `true` and the request must not have been executed.
    pub(crate) unsafe fn complete(&self, status: u16) {
        // SAFETY: As the caller guarantees.
        unsafe { sys::nvmet_req_complete(self.req.get(), status) };
    }

    /// Drops an initialised request that will never execute (its sq reference with it).
    ///
    /// # Safety
    ///
    /// `init` must have returned `true` and the request must not have been executed.
    pub(crate) unsafe fn uninit(&self) {
        // SAFETY: As the caller guarantees.
        unsafe { sys::nvmet_req_uninit(self.req.get()) };
    }

    /// The completion entry as it goes on the wire.
    ///
    /// # Safety
    ///
    /// The request must be completed (the core has written the entry).
    pub(crate) unsafe fn cqe_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: The entry is 16 plain bytes that nobody writes after completion.
        unsafe {
            core::ptr::copy_nonoverlapping(self.cqe.get().cast::<u8>(), out.as_mut_ptr(), 16)
        };
        out
    }

    /// The status the core put in the completion entry (0 = success).
    ///
    /// # Safety
    ///
    /// The request must be completed.
    pub(crate) unsafe fn status(&self) -> u16 {
        // SAFETY: As the caller guarantees.
        u16::from_le(unsafe { (*self.cqe.get()).status })
    }
}
