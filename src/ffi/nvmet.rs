// SPDX-License-Identifier: GPL-2.0

//! The nvmet core's objects as the transport sees them: the transport registration, ports,
//! submission and completion queues, and requests.
//!
//! C header: [`drivers/nvme/target/nvmet.h`](srctree/drivers/nvme/target/nvmet.h)

use super::sys;
use kernel::{
    error::to_result,
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Relaxed,
        Release, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    },
};

/// The transport's ops table, registered with the nvmet core.
///
/// It is a `static` in the transport module; the wrapper only makes it shareable.
#[repr(transparent)]
pub(crate) struct Ops(pub(super) sys::nvmet_fabrics_ops);

// SAFETY: The table is immutable and only holds function pointers and the module pointer.
unsafe impl Sync for Ops {}

impl Ops {
    /// The table as the core takes it.
    pub(super) fn as_ptr(&'static self) -> *const sys::nvmet_fabrics_ops {
        &self.0
    }
}

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

// SAFETY: The core's port may be used from any thread; the fields read through it are fixed
// while the port is enabled, and the ones written are the transport's own (see the setters).
unsafe impl Send for PortRef {}
// SAFETY: Shared use only reads fields that are fixed while the port is enabled; the setters
// run in `add_port`/`remove_port`, which the core serialises.
unsafe impl Sync for PortRef {}

/// A controller of the core, as the transport compares it: a handle, never dereferenced here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct CtrlRef(*mut sys::nvmet_ctrl);

// SAFETY: An opaque handle that is only compared and passed back to the core.
unsafe impl Send for CtrlRef {}
// SAFETY: A copyable pointer value that this module never dereferences.
unsafe impl Sync for CtrlRef {}

impl CtrlRef {
    /// Wraps a controller pointer the core passed.
    pub(super) fn new(ptr: *mut sys::nvmet_ctrl) -> Self {
        Self(ptr)
    }
}

/// An sq of the core, as the transport compares it: a handle, never dereferenced here.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqId(*mut sys::nvmet_sq);

// SAFETY: An opaque handle that is only compared.
unsafe impl Send for SqId {}
// SAFETY: A copyable pointer value that this module never dereferences.
unsafe impl Sync for SqId {}

impl SqId {
    /// Wraps an sq pointer the core passed.
    pub(super) fn new(ptr: *mut sys::nvmet_sq) -> Self {
        Self(ptr)
    }
}

/// The core's port as a request names it (`req->port`): a handle, never dereferenced here.
#[derive(Clone, Copy)]
pub(crate) struct CorePort(*mut sys::nvmet_port);

impl CorePort {
    /// The raw pointer, for `req->port`.
    pub(super) fn as_ptr(self) -> *mut sys::nvmet_port {
        self.0
    }
}

// SAFETY: An opaque handle that is only passed back to the core.
unsafe impl Send for CorePort {}
// SAFETY: A copyable pointer value that this module never dereferences.
unsafe impl Sync for CorePort {}

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

    /// Stores a reference that the transport keeps in the port (`priv`) while it is enabled;
    /// an earlier one is given back.
    pub(crate) fn set_private<O: ForeignOwnable>(&self, owner: O) -> Result<(), O> {
        if !self.get().priv_.is_null() {
            return Err(owner);
        }
        // SAFETY: Only the transport uses `priv`, from `add_port`/`remove_port`, which the core
        // serialises under its configuration lock.
        unsafe { (*self.ptr).priv_ = owner.into_foreign() };
        Ok(())
    }

    /// Takes back the reference stored by [`PortRef::set_private`].
    ///
    /// # Safety
    ///
    /// What `set_private` stored must have been an `O`.
    pub(crate) unsafe fn take_private<O: ForeignOwnable>(&self) -> Option<O> {
        let ptr = self.get().priv_;
        if ptr.is_null() {
            return None;
        }
        // SAFETY: Only the transport uses `priv`, from `add_port`/`remove_port`, which the core
        // serialises under its configuration lock.
        unsafe { (*self.ptr).priv_ = core::ptr::null_mut() };
        // SAFETY: `ptr` came from `O::into_foreign` (caller), and was cleared above: it is
        // turned back once.
        Some(unsafe { O::from_foreign(ptr) })
    }

    /// The handle for `req->port`.
    pub(crate) fn core(&self) -> CorePort {
        CorePort(self.ptr)
    }
}

fn cstr_field(field: &[c_char]) -> &CStr {
    // SAFETY: `c_char` and `u8` have the same layout.
    let bytes = unsafe { core::slice::from_raw_parts(field.as_ptr().cast::<u8>(), field.len()) };
    CStr::from_bytes_until_nul(bytes).unwrap_or(c"")
}

/// A queue pair of the core: a submission queue and its completion queue.
///
/// It is only made in place ([`QueuePair::new`] is a pinned initialiser), so the core's
/// pointers to it stay valid: `init` may rely on that.
///
/// # Reading the sq
///
/// The transport reads a few fields of the sq (`ctrl`, `qid`, `size`, `sqhd_disabled`) once
/// each, with a volatile read (C's `READ_ONCE`) through the raw pointer, never through a
/// reference: the sq is valid memory for the pair's life (zeroed, then initialised in place),
/// the core writes those fields while it executes Connect or destroys the sq, and readers on
/// other threads tolerate a stale value (they compare it).
///
/// # Invariants
///
/// `sq` and `cq` are initialised exactly while `state` is `LIVE`.
#[pin_data(PinnedDrop)]
pub(crate) struct QueuePair {
    #[pin]
    sq: Opaque<sys::nvmet_sq>,
    #[pin]
    cq: Opaque<sys::nvmet_cq>,
    state: Atomic<u32>,
}

// SAFETY: The core uses its sqs and cqs from any context, with their own synchronisation
// (percpu references and atomics); the transport only reads fields that the core writes
// while it executes Connect, on the queue's I/O work.
unsafe impl Send for QueuePair {}
// SAFETY: Shared use is the core's, synchronised by the core, and the transport's volatile
// reads of fields written during Connect ("Reading the sq"), which other threads only compare.
unsafe impl Sync for QueuePair {}

const PAIR_UNINIT: u32 = 0;
const PAIR_INITIALISING: u32 = 1;
const PAIR_LIVE: u32 = 2;
const PAIR_DESTROYED: u32 = 3;

impl QueuePair {
    /// An uninitialised pair, made in place.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            sq: Opaque::zeroed(),
            cq: Opaque::zeroed(),
            state: Atomic::new(PAIR_UNINIT),
        })
    }

    /// Initialises both queues with the core; only the first call does anything.
    pub(crate) fn init(&self) -> Result {
        if self
            .state
            .cmpxchg(PAIR_UNINIT, PAIR_INITIALISING, Relaxed)
            .is_err()
        {
            return Err(EBUSY);
        }
        // SAFETY: The cq is zeroed memory that stays in place (made by a pinned initialiser).
        unsafe { sys::nvmet_cq_init(self.cq.get()) };
        // SAFETY: Both are in place for good and the cq is initialised.
        let ret = to_result(unsafe { sys::nvmet_sq_init(self.sq.get(), self.cq.get()) });
        if ret.is_err() {
            // SAFETY: The cq was initialised above and nothing else holds it.
            unsafe { sys::nvmet_cq_put(self.cq.get()) };
            self.state.store(PAIR_DESTROYED, Release);
            return ret;
        }
        // INVARIANT: Both queues are initialised now.
        self.state.store(PAIR_LIVE, Release);
        ret
    }

    /// Whether both queues are initialised and not destroyed.
    pub(crate) fn is_live(&self) -> bool {
        self.state.load(Acquire) == PAIR_LIVE
    }

    /// Waits until every request of the sq has completed, then releases both queues; only
    /// the first call on an initialised pair does anything.
    pub(crate) fn destroy(&self) {
        if self
            .state
            .cmpxchg(PAIR_LIVE, PAIR_DESTROYED, Acquire)
            .is_err()
        {
            return;
        }
        // SAFETY: The pair was live (type invariant), and only this call destroys it.
        unsafe { sys::nvmet_sq_destroy(self.sq.get()) };
        // SAFETY: The cq was initialised with the pair and is put once, here; the destroyed sq
        // no longer uses it.
        unsafe { sys::nvmet_cq_put(self.cq.get()) };
    }

    /// The raw sq pointer, for `nvmet_req_init`.
    pub(super) fn sq_ptr(&self) -> *mut sys::nvmet_sq {
        self.sq.get()
    }

    /// The controller the queue belongs to, `None` before Connect.
    pub(crate) fn ctrl(&self) -> Option<CtrlRef> {
        let sq = self.sq.get();
        // SAFETY: See "Reading the sq" in the type's documentation.
        let ctrl = unsafe { core::ptr::read_volatile(&raw const (*sq).ctrl) };
        (!ctrl.is_null()).then_some(CtrlRef(ctrl))
    }

    /// The sq, as the core names it in its ops.
    pub(crate) fn id(&self) -> SqId {
        SqId(self.sq.get())
    }

    /// Reports a fatal error on the queue's controller, if it has one: the core then tears
    /// down all its queues.
    ///
    /// # Safety
    ///
    /// The pair must not be destroyed while this runs.
    pub(crate) unsafe fn ctrl_fatal_error(&self) {
        if let Some(ctrl) = self.ctrl() {
            // SAFETY: The sq holds a reference on its controller until it is destroyed, which
            // the caller excludes.
            unsafe { sys::nvmet_ctrl_fatal_error(ctrl.0) };
        }
    }

    /// The queue ID (0 is the admin queue).
    pub(crate) fn qid(&self) -> u16 {
        let sq = self.sq.get();
        // SAFETY: See "Reading the sq" in the type's documentation.
        unsafe { core::ptr::read_volatile(&raw const (*sq).qid) }
    }

    /// The queue size the host asked for at Connect.
    pub(crate) fn size(&self) -> u16 {
        let sq = self.sq.get();
        // SAFETY: See "Reading the sq" in the type's documentation.
        unsafe { core::ptr::read_volatile(&raw const (*sq).size) }
    }

    /// Whether SQ flow control is disabled, so reads may complete with a C2HData SUCCESS flag.
    pub(crate) fn sqhd_disabled(&self) -> bool {
        let sq = self.sq.get();
        // SAFETY: See "Reading the sq" in the type's documentation.
        unsafe { core::ptr::read_volatile(&raw const (*sq).sqhd_disabled) }
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

#[pinned_drop]
impl PinnedDrop for QueuePair {
    fn drop(self: Pin<&mut Self>) {
        self.destroy();
    }
}
