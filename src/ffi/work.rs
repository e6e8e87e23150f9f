// SPDX-License-Identifier: GPL-2.0

//! Work items and a workqueue of the module's own, with the CPU selection (`queue_work_on`)
//! and cancellation that `kernel::workqueue` does not offer.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::sys;
use core::ptr::NonNull;
use kernel::{
    prelude::*,
    sync::LockClassKey,
    types::Opaque, //
};

/// The function a [`RawWork`] runs.
pub(crate) type WorkFn = unsafe extern "C" fn(*mut sys::work_struct);

/// A `work_struct` embedded in a larger object, which the `WorkFn` finds with `container_of!`.
///
/// # Invariants
///
/// Once [`RawWork::init`] has run, the `work_struct` is initialised with a function.
#[repr(transparent)]
pub(crate) struct RawWork(Opaque<sys::work_struct>);

impl RawWork {
    /// An uninitialised work item; [`RawWork::init`] must run before it is queued.
    pub(crate) const fn uninit() -> Self {
        Self(Opaque::uninit())
    }

    /// Initialises the work item to run `func`. `name` and `key` are its lockdep class: each
    /// kind of work needs its own, as each `INIT_WORK()` call site has in C, or flushing one
    /// kind of work from another looks like recursive locking.
    pub(crate) fn init(&self, func: WorkFn, name: &'static CStr, key: Pin<&'static LockClassKey>) {
        // SAFETY: The pointer is valid for writes; nobody can have queued an uninitialised
        // work item, so nobody else accesses it now. `name` and `key` are static.
        unsafe {
            sys::init_work_with_key(
                self.0.get(),
                Some(func),
                false,
                name.as_char_ptr(),
                key.as_ptr(),
            )
        };
    }

    /// Queues the work item on `wq`, preferably on `cpu`; no-op when it is already pending.
    ///
    /// # Safety
    ///
    /// The object that embeds `self` must stay alive until the work has run or has been
    /// cancelled with [`RawWork::cancel_sync`].
    pub(crate) unsafe fn queue_on(&self, wq: *mut sys::workqueue_struct, cpu: i32) {
        // SAFETY: `self` was initialised by `init` (type invariant), `wq` is a live workqueue
        // (callers pass the module's or the core's), and the caller keeps `self` alive.
        unsafe { sys::queue_work_on(cpu, wq, self.0.get()) };
    }

    /// Waits until the work item is neither pending nor running.
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: The work item is initialised (type invariant) and alive, as `self` is.
        unsafe { sys::cancel_work_sync(self.0.get()) };
    }
}

/// A `delayed_work` embedded in a larger object, which the `WorkFn` finds with
/// [`RawDelayedWork::from_work`] and `container_of!`.
///
/// # Invariants
///
/// Once [`RawDelayedWork::init`] has run, the `delayed_work` is initialised with a function.
#[repr(transparent)]
pub(crate) struct RawDelayedWork(Opaque<sys::delayed_work>);

impl RawDelayedWork {
    /// An uninitialised delayed work item; [`RawDelayedWork::init`] must run before it is
    /// queued.
    pub(crate) const fn uninit() -> Self {
        Self(Opaque::uninit())
    }

    /// Initialises the delayed work item to run `func`. All delayed work items of the module
    /// share one lockdep class (the shim's `INIT_DELAYED_WORK()` call site): there is one kind.
    pub(crate) fn init(&self, func: WorkFn) {
        // SAFETY: The pointer is valid for writes; nobody can have queued an uninitialised
        // work item, so nobody else accesses it now.
        unsafe { sys::nvmet_tcp_rs_init_delayed_work(self.0.get(), Some(func)) };
    }

    /// Runs the work item on `wq` after `delay` jiffies, or sooner or later than planned if it
    /// was already pending (the new delay replaces the old one).
    ///
    /// # Safety
    ///
    /// The object that embeds `self` must stay alive until the work has run or has been
    /// cancelled with [`RawDelayedWork::cancel_sync`].
    pub(crate) unsafe fn schedule(&self, wq: *mut sys::workqueue_struct, delay: usize) {
        // SAFETY: `self` was initialised by `init` (type invariant), `wq` is a live workqueue
        // (callers pass the core's), and the caller keeps `self` alive. `mod_delayed_work_on`
        // may be called in any context.
        unsafe { sys::mod_delayed_work_on(ANY_CPU, wq, self.0.get(), delay) };
    }

    /// Cancels the work item if it is pending, without waiting for it if it runs; may be
    /// called in any context.
    pub(crate) fn cancel(&self) {
        // SAFETY: The work item is initialised (type invariant) and alive, as `self` is.
        unsafe { sys::cancel_delayed_work(self.0.get()) };
    }

    /// Waits until the work item is neither pending nor running.
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: The work item is initialised (type invariant) and alive, as `self` is.
        unsafe { sys::cancel_delayed_work_sync(self.0.get()) };
    }

    /// The delayed work item whose `work_struct` the work function was called with.
    ///
    /// # Safety
    ///
    /// `work` must be the `work` field of a live `RawDelayedWork`.
    pub(crate) unsafe fn from_work<'a>(work: *mut sys::work_struct) -> &'a Self {
        // SAFETY: `work` is the `work` field of a `delayed_work`, which `RawDelayedWork` wraps
        // transparently, and the caller guarantees it is live.
        unsafe { &*kernel::container_of!(work, sys::delayed_work, work).cast::<Self>() }
    }
}

/// The C `WORK_CPU_UNBOUND`: queue on any CPU.
pub(crate) const ANY_CPU: i32 = sys::wq_misc_consts_WORK_CPU_UNBOUND as i32;

/// The module's own workqueue for per-queue I/O work, like the C target's `nvmet_tcp_wq`.
///
/// # Invariants
///
/// `ptr` is a workqueue allocated by this object and destroyed on drop.
pub(crate) struct Workqueue {
    ptr: NonNull<sys::workqueue_struct>,
}

// SAFETY: Workqueues may be used from any thread.
unsafe impl Send for Workqueue {}
// SAFETY: Workqueues may be used from any thread.
unsafe impl Sync for Workqueue {}

impl Workqueue {
    /// Allocates the per-CPU, high-priority, memory-reclaim-safe I/O workqueue.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: No preconditions.
        let ptr = unsafe { sys::nvmet_tcp_rs_alloc_wq() };
        // INVARIANT: A non-NULL pointer is a workqueue that we own.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::workqueue_struct {
        self.ptr.as_ptr()
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: We own the workqueue (type invariant); `destroy_workqueue` drains it first.
        unsafe { sys::destroy_workqueue(self.ptr.as_ptr()) };
    }
}

/// Returns the nvmet core's workqueue, on which the C target runs accept and release work.
pub(crate) fn nvmet_wq() -> *mut sys::workqueue_struct {
    // SAFETY: `nvmet_wq` is set by the nvmet core's module init, which ran before ours as we
    // depend on its symbols, and is never changed while we are loaded.
    unsafe { sys::nvmet_wq }
}

/// Waits until all work queued on the nvmet core's workqueue so far has run.
pub(crate) fn flush_nvmet_wq() {
    // SAFETY: See `nvmet_wq`.
    unsafe { sys::__flush_workqueue(nvmet_wq()) };
}
