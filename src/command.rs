// SPDX-License-Identifier: GPL-2.0

//! Per-command state: the core's request with its SQE and CQE, the data buffer, the data
//! accounting and the send progress.

use crate::{
    ffi::{
        llist::LListNode,
        nvmet::Req,
        sg::SgBuffer, //
    },
    proto::{
        pdu::MAX_HEADER_LEN,
        r2t::{
            DataPlan,
            H2cTransfer, //
        },
    },
    queue::Queue,
};
use core::cell::UnsafeCell;
use kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

/// Where a command is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// In the free list.
    Free,
    /// Initialised by the core; waiting for its data from the host (in the capsule or after an
    /// R2T). Such a command must be uninitialised if the queue goes away.
    AwaitData,
    /// Rejected by the core, which completed it already; its in-capsule data is being skipped.
    InitFailed,
    /// With the core, or completed and waiting to be sent.
    Executing,
}

/// What the send path is doing for a command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Sending the R2T header.
    R2t,
    /// Sending the C2HData header.
    DataHeader,
    /// Sending the read data.
    Data,
    /// Sending the data digest.
    DataDigest,
    /// Sending the response capsule.
    Response,
}

/// State that only the queue's I/O work touches (and the release work, once the I/O work can no
/// longer run).
pub(crate) struct CmdState {
    /// Life cycle.
    pub(crate) life: Life,
    /// The command identifier from the SQE.
    pub(crate) cid: u16,
    /// The data plan decided when the command arrived.
    pub(crate) plan: DataPlan,
    /// Progress of host data.
    pub(crate) h2c: H2cTransfer,
    /// A data digest failed: complete with a transient transport error instead of executing.
    pub(crate) data_error: bool,
    /// The data buffer given to the core.
    pub(crate) buf: Option<SgBuffer>,
    /// The header being sent (with its digest).
    pub(crate) hdr: [u8; MAX_HEADER_LEN + 4],
    /// Length of `hdr`.
    pub(crate) hdr_len: usize,
    /// The data digest being sent.
    pub(crate) ddgst: [u8; 4],
    /// Send progress: current stage, bytes of it sent, and for data the current entry.
    pub(crate) stage: Stage,
    /// Bytes of the current stage sent (for data: within the current entry).
    pub(crate) sent: usize,
    /// For data: the current scatterlist entry.
    pub(crate) sg_index: usize,
    /// For data: whether the response capsule is skipped (C2HData SUCCESS flag).
    pub(crate) success_in_data: bool,
    /// The write's R2T had to wait for the queue's bound (counted once).
    pub(crate) r2t_deferred: bool,
    /// Link in the queue's send list or free list.
    pub(crate) next: *const Cmd,
}

/// A command slot of a queue.
///
/// # Invariants
///
/// `req` is the first field: the core's `nvmet_req` pointer is a pointer to the `Cmd`.
#[repr(C)]
pub(crate) struct Cmd {
    /// The core's request, pointing at the SQE and CQE inside.
    pub(crate) req: Req,
    /// Node on the queue's completion list.
    pub(crate) node: LListNode,
    /// The queue; it outlives its commands. Set once, when the queue is in place.
    pub(crate) queue: Atomic<*const Queue>,
    /// The transfer tag: the slot index, or `CONNECT_TTAG` for the Connect command.
    pub(crate) ttag: u16,
    /// Set while `nvmet_req_init` runs on this command: a completion then is the core's
    /// rejection, which the I/O work sends itself.
    pub(crate) in_init: Atomic<bool>,
    /// The core completed the command during `nvmet_req_init`.
    pub(crate) rejected: Atomic<bool>,
    st: UnsafeCell<CmdState>,
}

impl Cmd {
    /// A free command slot of `queue`.
    pub(crate) fn new(queue: *const Queue, ttag: u16) -> Self {
        Self {
            req: Req::new(),
            node: LListNode::new(),
            queue: Atomic::new(queue),
            ttag,
            in_init: Atomic::new(false),
            rejected: Atomic::new(false),
            st: UnsafeCell::new(CmdState {
                life: Life::Free,
                cid: 0,
                plan: DataPlan::None,
                h2c: H2cTransfer::default(),
                data_error: false,
                buf: None,
                hdr: [0; MAX_HEADER_LEN + 4],
                hdr_len: 0,
                ddgst: [0; 4],
                stage: Stage::Response,
                sent: 0,
                sg_index: 0,
                success_in_data: false,
                r2t_deferred: false,
                next: core::ptr::null(),
            }),
        }
    }

    /// The command whose request the core passes to `queue_response`.
    ///
    /// # Safety
    ///
    /// `req` must be the request of a live `Cmd`.
    pub(crate) unsafe fn from_req<'a>(req: *mut crate::ffi::sys::nvmet_req) -> &'a Self {
        // SAFETY: `req` is the first field of `Req`, which is the first field of this `repr(C)`
        // struct (type invariant), and the caller guarantees the command is live.
        unsafe { &*req.cast::<Self>() }
    }

    /// The I/O work's state of the command.
    ///
    /// # Safety
    ///
    /// Only the queue's I/O work may call this (or the release work once the I/O work cannot
    /// run any more), and no other reference from this function may be alive.
    #[expect(clippy::mut_from_ref)]
    pub(crate) unsafe fn st(&self) -> &mut CmdState {
        // SAFETY: As the caller guarantees, the access is exclusive.
        unsafe { &mut *self.st.get() }
    }

    /// Resets the slot for a new command.
    ///
    /// # Safety
    ///
    /// As for [`Cmd::st`].
    pub(crate) unsafe fn reset(&self) {
        self.rejected.store(false, Relaxed);
        // SAFETY: As the caller guarantees.
        let st = unsafe { self.st() };
        st.life = Life::AwaitData;
        st.plan = DataPlan::None;
        st.h2c = H2cTransfer::default();
        st.data_error = false;
        st.buf = None;
        st.sent = 0;
        st.sg_index = 0;
        st.success_in_data = false;
        st.r2t_deferred = false;
        st.next = core::ptr::null();
    }
}
