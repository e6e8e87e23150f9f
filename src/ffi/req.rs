// SPDX-License-Identifier: GPL-2.0

//! Requests of the nvmet core, with the hand-offs between the transport and the core as states.
//!
//! A request goes `Idle` → (`init`) → `Initialised` → (`execute` or `complete`) → `Executing`
//! → (the core completes it) → `Completed` → (`finish`) → `Idle`; the core may also reject a
//! command inside `nvmet_req_init` (then `init` leaves it `Completed`), and a request that will
//! never execute goes back with `uninit`. Each step is one atomic transition, so a step taken
//! twice or out of order does nothing instead of corrupting the core's state. The data buffer
//! moves into the request when it executes and back out when it is finished: while the core
//! may use it, nothing else can reach it.
//!
//! C header: [`drivers/nvme/target/nvmet.h`](srctree/drivers/nvme/target/nvmet.h)

use super::{
    nvmet::{
        CorePort,
        Ops,
        QueuePair, //
    },
    sg::SgBuffer,
    sys, //
};
use core::cell::UnsafeCell;
use kernel::{
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        AtomicType,
        Release, //
    },
    types::Opaque,
};

/// Where a request is; see the module documentation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(i32)]
enum State {
    Idle = 0,
    /// `nvmet_req_init` runs: a completion now is the core's rejection.
    Initialising = 1,
    /// The core rejected the command inside `nvmet_req_init`.
    Rejected = 2,
    Initialised = 3,
    Executing = 4,
    Completed = 5,
    /// `transfer_len` reads the initialised request.
    Inspecting = 6,
}

// SAFETY: `State` is `repr(i32)`, so it has the size and alignment of `i32`, and an
// `Atomic<State>` only holds values stored as a `State`, which transmute back.
unsafe impl AtomicType for State {
    type Repr = i32;
}

/// The completion entry as it goes on the wire.
pub(crate) type Cqe = [u8; 16];

/// A request of the core, with the submission and completion entries it points to, and the
/// command's transfer tag.
///
/// It is only made in place ([`Req::new`] is a pinned initialiser): the core keeps pointers
/// into it.
///
/// # Invariants
///
/// - `req` is the first field: the core's `nvmet_req` pointer is a pointer to the `Req`.
/// - `data` is only accessed by the caller that moved `state` to `Executing` (to fill it) or
///   from `Completed` (to empty it); in between, the core may use the buffer through
///   `req->sg`.
/// - The C request is only read or written by the caller that moved `state` out of `Idle`
///   (`init`), into `Inspecting` (`transfer_len`) or `Executing`, or out of `Completed`
///   (`finish`), and by the core between `execute` and its completion.
#[pin_data]
#[repr(C)]
pub(crate) struct Req {
    #[pin]
    req: Opaque<sys::nvmet_req>,
    sqe: UnsafeCell<sys::nvme_command>,
    cqe: UnsafeCell<sys::nvme_completion>,
    tag: u16,
    state: Atomic<State>,
    data: UnsafeCell<Option<SgBuffer>>,
}

// SAFETY: The request is handed between the transport and the core, in any context; every
// access to its cells follows a transition of `state` (type invariants), which orders them.
unsafe impl Send for Req {}
// SAFETY: Each `&self` method takes its step with one atomic transition of `state` and touches
// the C request or `data` only when that step won (type invariants), so two threads never
// access them at once.
unsafe impl Sync for Req {}

impl Req {
    /// A blank request for the command with transfer tag `tag`.
    pub(crate) fn new(tag: u16) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            req: Opaque::zeroed(),
            sqe: UnsafeCell::new(sys::nvme_command::default()),
            cqe: UnsafeCell::new(sys::nvme_completion::default()),
            tag,
            state: Atomic::new(State::Idle),
            data: UnsafeCell::new(None),
        }? Error)
    }

    /// The command's transfer tag.
    pub(crate) fn tag(&self) -> u16 {
        self.tag
    }

    /// The request behind a pointer the core passes to an op.
    ///
    /// # Safety
    ///
    /// `req` must be the request of a live `Req`.
    pub(super) unsafe fn from_raw<'a>(req: *mut sys::nvmet_req) -> &'a Self {
        // SAFETY: `req` is the first field of this `repr(C)` struct (type invariant), and the
        // caller guarantees it is live.
        unsafe { &*req.cast::<Self>() }
    }

    /// The sq of a request that the core is executing (it calls an op with it), read before
    /// the completion can let the request go back to `Idle`.
    fn executing_sq(&self) -> Option<*mut sys::nvmet_sq> {
        match self.state.load(Acquire) {
            // SAFETY: `nvmet_req_init` wrote the field, and while the request is executing no
            // `init` can run (it needs `Idle`, which only `finish` sets, after the completion).
            State::Executing => Some(unsafe { (*self.req.get()).sq }),
            _ => None,
        }
    }

    /// The sq of a request that the core is executing, for an op it calls with it
    /// (`disc_traddr`).
    pub(super) fn sq_of_executing(&self) -> Option<*mut sys::nvmet_sq> {
        self.executing_sq()
    }

    /// Loads a new submission entry and initialises the request with the core on `pair`.
    /// Returns `Ok(false)` when the core rejected the command: it has then completed it
    /// (see [`Req::finish`]). Fails when the request is not idle or the pair not live.
    ///
    /// # Safety
    ///
    /// - `pair` must belong to the queue object of the transport whose table `ops` is (the
    ///   table's ops find the queue from the request's sq, see `ops::HasQueuePair`), and
    ///   must not be destroyed while this runs.
    /// - The request must stay alive until the pair is destroyed (which waits for every
    ///   request initialised on it).
    pub(crate) unsafe fn init(
        &self,
        sqe: &[u8; 64],
        pair: &QueuePair,
        port: CorePort,
        ops: &'static Ops,
    ) -> Result<bool> {
        if !pair.is_live() {
            return Err(EINVAL);
        }
        if self
            .state
            .cmpxchg(State::Idle, State::Initialising, Acquire)
            .is_err()
        {
            return Err(EBUSY);
        }
        let sqe_ptr = self.sqe.get();
        let req = self.req.get();
        // SAFETY: The request was idle, so neither the core nor anyone else uses it; the sizes
        // match. Only the fields the transport owns are set, as the C transports do before
        // `nvmet_req_init`.
        unsafe {
            core::ptr::copy_nonoverlapping(sqe.as_ptr(), sqe_ptr.cast::<u8>(), sqe.len());
            *self.cqe.get() = sys::nvme_completion::default();
            (*req).cmd = sqe_ptr;
            (*req).cqe = self.cqe.get();
            (*req).port = port.as_ptr();
            (*req).sg = core::ptr::null_mut();
            (*req).sg_cnt = 0;
            (*req).transfer_len = 0;
        }
        // The request and its entries stay in place (pinned) and alive while the core may use
        // them (caller); the pair is live (checked above; the caller excludes a destroy).
        // SAFETY: As above, and `ops` lives forever; its ops find the pair's queue (caller).
        let accepted = unsafe { sys::nvmet_req_init(req, pair.sq_ptr(), ops.as_ptr()) };
        let next = if accepted {
            State::Initialised
        } else {
            // The rejection went through `completed` (`Initialising` → `Rejected`).
            State::Completed
        };
        self.state.store(next, Release);
        Ok(accepted)
    }

    /// The data length the command implies from its own fields, as the core computes it
    /// (`nvmet_req_transfer_len()`: for example the blocks of a Read or Write); 0 when the
    /// core knows none or the request is not initialised.
    pub(crate) fn transfer_len(&self) -> u32 {
        if self
            .state
            .cmpxchg(State::Initialised, State::Inspecting, Acquire)
            .is_err()
        {
            return 0;
        }
        // An initialised request has its sq, command and namespace set, and its sq's controller
        // (if any) is live while the sq holds it: that is all `nvmet_req_transfer_len` reads.
        // SAFETY: As above; this call moved the state to `Inspecting`: nothing else touches it.
        let len = unsafe { sys::nvmet_req_transfer_len(self.req.get()) };
        self.state.store(State::Initialised, Release);
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// Takes an initialised request to the core: the next step of the request is its
    /// completion. Returns `false` (and does nothing) if it is not initialised.
    fn start(&self) -> bool {
        self.state
            .cmpxchg(State::Initialised, State::Executing, Acquire)
            .is_ok()
    }

    /// Executes an initialised request with its data buffer (`len` bytes of it); it completes
    /// through `queue_response`. Gives the buffer back if the request is not initialised.
    pub(crate) fn execute(&self, data: Option<SgBuffer>, len: u32) -> Result<(), Option<SgBuffer>> {
        if !self.start() {
            return Err(data);
        }
        let req = self.req.get();
        // SAFETY: This call moved the state to `Executing`, so it alone may fill `data` (type
        // invariant), and the core does not look at the request before `execute` below.
        let data = unsafe {
            *self.data.get() = data;
            (*self.data.get()).as_ref()
        };
        if let Some(buf) = data {
            let (sg, nents) = buf.as_raw();
            // SAFETY: Before execution the transport owns these fields; the buffer stays in
            // `data` until `finish`, after the core completed the request.
            unsafe {
                (*req).sg = sg;
                (*req).sg_cnt = nents as i32;
                (*req).transfer_len = len as usize;
            }
        }
        // SAFETY: `nvmet_req_init` set `execute` when it accepted the command, and the request
        // executes once (it left `Initialised` above).
        unsafe {
            if let Some(execute) = (*req).execute {
                execute(req);
            }
        }
        Ok(())
    }

    /// Completes an initialised request with `status` without executing it. Returns `false`
    /// if it is not initialised.
    pub(crate) fn complete(&self, status: u16) -> bool {
        if !self.start() {
            return false;
        }
        // SAFETY: Initialised and never executed (it left `Initialised` above).
        unsafe { sys::nvmet_req_complete(self.req.get(), status) };
        true
    }

    /// Drops an initialised request that will never execute (its sq reference with it).
    pub(crate) fn uninit(&self) {
        if self
            .state
            .cmpxchg(State::Initialised, State::Idle, Acquire)
            .is_ok()
        {
            // SAFETY: Initialised and never executed.
            unsafe { sys::nvmet_req_uninit(self.req.get()) };
        }
    }

    /// Records that the core completed the request (its `queue_response`). Returns the sq to
    /// deliver it to, or `None`: for a rejection inside `nvmet_req_init`, which [`Req::init`]
    /// reports, and for a completion of a request that is not executing.
    pub(super) fn completed(&self) -> Option<*mut sys::nvmet_sq> {
        if self
            .state
            .cmpxchg(State::Initialising, State::Rejected, Release)
            .is_ok()
        {
            return None;
        }
        // Read while still executing: once completed, the request may be finished and reused.
        let sq = self.executing_sq()?;
        self.state
            .cmpxchg(State::Executing, State::Completed, Release)
            .ok()?;
        Some(sq)
    }

    /// Takes a completed request back from the core: returns its completion entry and its
    /// data buffer, and leaves it idle. `None` if it is not completed.
    pub(crate) fn finish(&self) -> Option<(Cqe, Option<SgBuffer>)> {
        self.state
            .cmpxchg(State::Completed, State::Idle, Acquire)
            .ok()?;
        let mut cqe = [0u8; 16];
        // SAFETY: The core completed the request (it wrote the entry before `completed`,
        // whose release this acquire pairs with) and no longer touches it; this call moved
        // the state out of `Completed`, so it alone may empty `data` (type invariant).
        let data = unsafe {
            core::ptr::copy_nonoverlapping(self.cqe.get().cast::<u8>(), cqe.as_mut_ptr(), 16);
            let req = self.req.get();
            (*req).sg = core::ptr::null_mut();
            (*req).sg_cnt = 0;
            (*self.data.get()).take()
        };
        Some((cqe, data))
    }
}

/// The status in a completion entry (0 = success).
pub(crate) fn cqe_status(cqe: &Cqe) -> u16 {
    u16::from_le_bytes([cqe[14], cqe[15]])
}

#[kernel::prelude::kunit_tests(nvmet_tcp_rs_req)]
mod tests {
    use super::*;

    /// Every step taken out of order on an idle request is refused and changes nothing: no
    /// call reaches the core, and a buffer offered to `execute` comes back.
    #[test]
    fn steps_out_of_order_do_nothing() -> Result {
        let req = KBox::pin_init(Req::new(7), GFP_KERNEL)?;
        assert_eq!(req.tag(), 7);
        assert_eq!(req.transfer_len(), 0);
        assert!(!req.complete(0));
        req.uninit();
        assert!(req.completed().is_none());
        assert!(req.finish().is_none());
        let buf = SgBuffer::alloc(4096, false)?;
        assert!(matches!(req.execute(Some(buf), 4096), Err(Some(_))));
        assert!(matches!(req.execute(None, 0), Err(None)));
        assert!(req.sq_of_executing().is_none());
        Ok(())
    }

    /// A completion entry's status is its last two bytes, little endian.
    #[test]
    fn status_of_a_completion_entry() {
        let mut cqe = [0u8; 16];
        assert_eq!(cqe_status(&cqe), 0);
        cqe[14] = 0x04;
        cqe[15] = 0x80;
        assert_eq!(cqe_status(&cqe), 0x8004);
    }
}
