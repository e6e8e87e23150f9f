// SPDX-License-Identifier: GPL-2.0

//! Work items on reference-counted objects, and the module's workqueue.
//!
//! The objects use the kernel's own [`Work`] and [`DelayedWork`] fields with
//! [`kernel::impl_has_work!`], so a queued work item holds a reference (an [`Arc`]) on its
//! object, and the work function gets it back. What `kernel::workqueue` of 7.3 lacks is here:
//! queueing on a given CPU (`queue_work_on`), moving a pending delayed work's expiry
//! (`mod_delayed_work_on`), cancelling (which must drop the reference the pending item held),
//! and allocating a workqueue.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::sys;
use core::ptr::NonNull;
use kernel::{
    prelude::*,
    sync::{
        Arc,
        ArcBorrow,
        SetOnce, //
    },
    workqueue::{
        HasDelayedWork,
        HasWork,
        RawWorkItem,
        Work,
        WorkItem, //
    },
};

/// A workqueue that stays alive while the module is loaded: the module's own or the core's.
///
/// # Invariants
///
/// `0` is a live workqueue until the module unloads.
#[derive(Clone, Copy)]
pub(crate) struct Wq(NonNull<sys::workqueue_struct>);

// SAFETY: Workqueues may be used from any thread.
unsafe impl Send for Wq {}
// SAFETY: Workqueues may be used from any thread.
unsafe impl Sync for Wq {}

/// The C `WORK_CPU_UNBOUND`: queue on any CPU.
pub(crate) const ANY_CPU: i32 = sys::wq_misc_consts_WORK_CPU_UNBOUND as i32;

/// Queues work `ID` of `item` on `wq`, preferably on `cpu`. When it is pending already,
/// nothing changes and the reference passed in is dropped.
pub(crate) fn enqueue_on<T, const ID: u64>(wq: Wq, cpu: i32, item: Arc<T>)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasWork<T, ID> + Send + Sync + 'static,
{
    // `queue_work_on` returns false when the work item is pending (or disabled while a cancel
    // runs, as for `kernel::workqueue::Queue::enqueue`): `__enqueue` gives our reference back.
    // Returning true, the workqueue owns the leaked reference until the work function
    // (`WorkItemPointer::run` of `Arc`, set by `Work::new`) takes it back.
    // SAFETY: As above; `wq` is live (type invariant).
    let ret = unsafe { item.__enqueue(|work| sys::queue_work_on(cpu, wq.0.as_ptr(), work)) };
    // Not queued: `ret` is our reference back, dropped here.
    drop(ret);
}

/// [`enqueue_on`] for a borrowed object: when the work item is pending already, returns
/// without taking a reference. The work function then still sees what the caller wrote
/// before (see `nvmet_tcp_rs_work_pending`).
pub(crate) fn kick_on<T, const ID: u64>(wq: Wq, cpu: i32, item: ArcBorrow<'_, T>)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasWork<T, ID> + Send + Sync + 'static,
{
    let ptr = core::ptr::from_ref::<T>(&item).cast_mut();
    // SAFETY: `ptr` points to a live `T` (borrowed), and `raw_get_work` gives its `Work`
    // field, which `Work::new` initialised when `T` was.
    let pending = unsafe { sys::nvmet_tcp_rs_work_pending(Work::raw_get(T::raw_get_work(ptr))) };
    if !pending {
        enqueue_on::<T, ID>(wq, cpu, Arc::from(item));
    }
}

/// Waits until work `ID` of `item` is neither pending nor running. A pending work item is
/// dequeued, and the reference it held is dropped.
pub(crate) fn cancel_sync<T, const ID: u64>(item: &Arc<T>)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasWork<T, ID>,
{
    let ptr = Arc::as_ptr(item).cast_mut();
    // SAFETY: `ptr` points to a live `T`, and `raw_get_work` gives its `Work` field.
    let work = unsafe { Work::raw_get(T::raw_get_work(ptr)) };
    // SAFETY: The work item was initialised by `Work::new` when `T` was.
    if unsafe { sys::cancel_work_sync(work) } {
        // SAFETY: It was pending and will not run: the reference that `__enqueue` leaked with
        // `Arc::into_raw` (of this same object) is ours to drop.
        drop(unsafe { Arc::from_raw(ptr) });
    }
}

/// Runs delayed work `ID` of `item` on `wq` after `delay` jiffies; a pending one is cancelled
/// first, so the new delay replaces the old one (unless another call queues it in between).
/// May be called in any context where dropping a reference that is not the last one is allowed.
pub(crate) fn schedule_delayed<T, const ID: u64>(wq: Wq, item: Arc<T>, delay: usize)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasDelayedWork<T, ID> + Send + Sync + 'static,
{
    cancel_delayed(&item);
    // `queue_delayed_work_on` returns false when the work item is pending (or disabled while a
    // cancel runs): `__enqueue` gives our reference back. Returning true, the workqueue owns
    // the leaked reference until the work function takes it back.
    // SAFETY: As above; the `work_struct` is the `work` field of a `delayed_work`
    // (`HasDelayedWork`), and `wq` is live (type invariant).
    let ret = unsafe {
        item.__enqueue(|work| {
            let dwork = kernel::container_of!(work, sys::delayed_work, work);
            sys::queue_delayed_work_on(ANY_CPU, wq.0.as_ptr(), dwork, delay)
        })
    };
    drop(ret);
}

/// The `delayed_work` of delayed work `ID` of `item`.
fn delayed_work_of<T, const ID: u64>(item: &Arc<T>) -> *mut sys::delayed_work
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasDelayedWork<T, ID>,
{
    // SAFETY: The pointer points to a live `T`, and `raw_get_work` gives its `Work` field.
    let work = unsafe { Work::raw_get(T::raw_get_work(Arc::as_ptr(item).cast_mut())) };
    // SAFETY: `HasDelayedWork` promises that the `work_struct` is the `work` field of a
    // `delayed_work`.
    unsafe { kernel::container_of!(work, sys::delayed_work, work) }
}

/// Cancels delayed work `ID` of `item` if it is pending (dropping the reference it held),
/// without waiting for it if it runs. May be called in any context where dropping a reference
/// that is not the last one is allowed.
pub(crate) fn cancel_delayed<T, const ID: u64>(item: &Arc<T>)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasDelayedWork<T, ID>,
{
    // SAFETY: The work item was initialised by `DelayedWork::new` when `T` was.
    if unsafe { sys::cancel_delayed_work(delayed_work_of(item)) } {
        // SAFETY: It was pending and will not run: the reference that `__enqueue` leaked with
        // `Arc::into_raw` (of this same object) is ours to drop, and it is not the last one
        // since `item` is another.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(item)) });
    }
}

/// Waits until delayed work `ID` of `item` is neither pending nor running; a pending one's
/// reference is dropped.
pub(crate) fn cancel_delayed_sync<T, const ID: u64>(item: &Arc<T>)
where
    T: WorkItem<ID, Pointer = Arc<T>> + HasDelayedWork<T, ID>,
{
    // SAFETY: The work item was initialised by `DelayedWork::new` when `T` was.
    if unsafe { sys::cancel_delayed_work_sync(delayed_work_of(item)) } {
        // SAFETY: It was pending and will not run: the reference that `__enqueue` leaked with
        // `Arc::into_raw` (of this same object) is ours to drop.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(item)) });
    }
}

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

    /// The workqueue, for work items of objects that the module's unload waits for.
    pub(crate) fn wq(&self) -> Wq {
        // INVARIANT: The module keeps this workqueue until it unloads.
        Wq(self.ptr)
    }
}

impl Drop for Workqueue {
    fn drop(&mut self) {
        // SAFETY: We own the workqueue (type invariant); `destroy_workqueue` drains it first.
        unsafe { sys::destroy_workqueue(self.ptr.as_ptr()) };
    }
}

/// Returns the nvmet core's workqueue, on which the C target runs accept and release work.
pub(crate) fn nvmet_wq() -> Wq {
    // INVARIANT: The core's workqueue outlives our module, which depends on the core.
    // The core's module init, which ran before ours (we use its symbols), sets `nvmet_wq` or
    // fails, and nothing changes it while we are loaded.
    // SAFETY: As above, the pointer is not NULL.
    Wq(unsafe { NonNull::new_unchecked(sys::nvmet_wq) })
}

/// Waits until all work queued on the nvmet core's workqueue so far has run.
pub(crate) fn flush_nvmet_wq() {
    // SAFETY: `nvmet_wq()` is the core's live workqueue (`Wq` invariant).
    unsafe { sys::__flush_workqueue(nvmet_wq().0.as_ptr()) };
}

/// The I/O workqueue, set while the module is loaded.
static IO_WQ: SetOnce<Wq> = SetOnce::new();

/// Publishes the I/O workqueue; called before the transport is registered.
pub(crate) fn set_io_wq(wq: &Workqueue) {
    IO_WQ.populate(wq.wq());
}

/// The I/O workqueue; the core's until ours is set (never, once a queue exists).
pub(crate) fn io_wq() -> Wq {
    IO_WQ.copy().unwrap_or_else(nvmet_wq)
}
