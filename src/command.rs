// SPDX-License-Identifier: GPL-2.0

//! Commands of a queue, in two halves: the request that the core sees (a [`Req`], in place for
//! the queue's life), and the state that only the queue's I/O work touches ([`CmdState`],
//! owned by that work and found by transfer tag, see [`Cmds`]).
//!
//! [`Req`]: crate::ffi::req::Req

use crate::{
    ffi::{
        req::Cqe,
        sg::SgBuffer, //
    },
    proto::{
        pdu::MAX_HEADER_LEN,
        r2t::{
            DataPlan,
            H2cTransfer,
            CONNECT_TTAG, //
        },
    },
};
use kernel::prelude::*;

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

/// The I/O work's state of one command.
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
    /// The data buffer, while the command is not with the core (which has it while it
    /// executes the command, see `Req::execute`).
    pub(crate) buf: Option<SgBuffer>,
    /// The completion entry, once the command completed.
    pub(crate) cqe: Cqe,
    /// The header being sent (with its digest).
    pub(crate) hdr: [u8; MAX_HEADER_LEN + 4],
    /// Length of `hdr`.
    pub(crate) hdr_len: usize,
    /// The data digest being sent.
    pub(crate) ddgst: [u8; 4],
    /// Send progress: the current stage.
    pub(crate) stage: Stage,
    /// Bytes of the current stage sent (for data: within the current entry).
    pub(crate) sent: usize,
    /// For data: the current scatterlist entry.
    pub(crate) sg_index: usize,
    /// For data: whether the response capsule is skipped (C2HData SUCCESS flag).
    pub(crate) success_in_data: bool,
    /// The write's R2T had to wait for the queue's bound (counted once).
    pub(crate) r2t_deferred: bool,
    /// An Asynchronous Event Request: the core holds it until an event or the queue's end.
    pub(crate) held: bool,
    /// The next command on the list this one is on (see [`TagList`]).
    next: Option<u16>,
}

impl CmdState {
    /// The state of a free slot.
    pub(crate) fn new() -> Self {
        Self {
            life: Life::Free,
            cid: 0,
            plan: DataPlan::None,
            h2c: H2cTransfer::default(),
            data_error: false,
            buf: None,
            cqe: [0; 16],
            hdr: [0; MAX_HEADER_LEN + 4],
            hdr_len: 0,
            ddgst: [0; 4],
            stage: Stage::Response,
            sent: 0,
            sg_index: 0,
            success_in_data: false,
            r2t_deferred: false,
            held: false,
            next: None,
        }
    }

    /// Resets the slot for a new command with identifier `cid`.
    fn reset(&mut self, cid: u16) {
        self.life = Life::AwaitData;
        self.cid = cid;
        self.plan = DataPlan::None;
        self.h2c = H2cTransfer::default();
        self.data_error = false;
        self.buf = None;
        self.cqe = [0; 16];
        self.sent = 0;
        self.sg_index = 0;
        self.success_in_data = false;
        self.r2t_deferred = false;
        self.held = false;
        self.next = None;
    }
}

/// A first-in first-out list of commands, by transfer tag, linked through their states. A
/// command is on at most one list at a time; the lists belong to the I/O work, as the states.
#[derive(Default)]
pub(crate) struct TagList {
    head: Option<u16>,
    tail: Option<u16>,
}

impl TagList {
    /// Whether the list is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The oldest command, left on the list.
    pub(crate) fn first(&self) -> Option<u16> {
        self.head
    }
}

/// The command states of a queue, owned by its I/O work: the Connect command's before the
/// queue is installed, then one per slot, with the free list.
pub(crate) struct Cmds {
    connect: CmdState,
    slots: KVVec<CmdState>,
    /// Free slots, a stack linked through `next`.
    free: Option<u16>,
}

impl Cmds {
    /// The states of a queue that has no slots yet.
    pub(crate) fn new() -> Self {
        Self {
            connect: CmdState::new(),
            slots: KVVec::new(),
            free: None,
        }
    }

    /// Allocates the states of `nr` slots, all free.
    pub(crate) fn alloc_slots(nr: u16) -> Result<KVVec<CmdState>> {
        let mut slots = KVVec::with_capacity(usize::from(nr), GFP_KERNEL)?;
        for _ in 0..nr {
            slots.push(CmdState::new(), GFP_KERNEL)?;
        }
        Ok(slots)
    }

    /// Takes over the slot states made by [`Cmds::alloc_slots`] once the queue is installed.
    pub(crate) fn install(&mut self, slots: KVVec<CmdState>) {
        self.slots = slots;
        self.free = None;
        for tag in (0..self.nr()).rev() {
            if let Some(st) = self.slots.get_mut(usize::from(tag)) {
                st.next = self.free;
                self.free = Some(tag);
            }
        }
    }

    /// Whether a command is with the core, or completed with its response not yet sent;
    /// Asynchronous Event Requests, which the core holds until the queue's end, aside.
    pub(crate) fn any_executing(&self) -> bool {
        let executing = |st: &CmdState| st.life == Life::Executing && !st.held;
        executing(&self.connect) || self.slots.iter().any(executing)
    }

    /// The number of slots.
    pub(crate) fn nr(&self) -> u16 {
        self.slots.len().try_into().unwrap_or(u16::MAX)
    }

    /// The state of the command with transfer tag `ttag`.
    pub(crate) fn get(&mut self, ttag: u16) -> Option<&mut CmdState> {
        if ttag == CONNECT_TTAG {
            return Some(&mut self.connect);
        }
        self.slots.get_mut(usize::from(ttag))
    }

    /// Every command state, with its tag (for the teardown).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u16, &mut CmdState)> {
        let slots = (0u16..).zip(self.slots.iter_mut());
        Iterator::chain(slots, core::iter::once((CONNECT_TTAG, &mut self.connect)))
    }

    /// Takes a free command (the Connect command before the slots exist) and resets it for
    /// command identifier `cid`; returns its tag.
    pub(crate) fn take(&mut self, cid: u16) -> Option<u16> {
        let tag = if self.slots.is_empty() {
            (self.connect.life == Life::Free).then_some(CONNECT_TTAG)?
        } else {
            let tag = self.free?;
            self.free = self.get(tag)?.next;
            tag
        };
        self.get(tag)?.reset(cid);
        Some(tag)
    }

    /// Returns the command with tag `ttag` to the free list.
    pub(crate) fn put(&mut self, ttag: u16) {
        let free = self.free;
        let Some(st) = self.get(ttag) else {
            return;
        };
        st.life = Life::Free;
        st.buf = None;
        if ttag != CONNECT_TTAG {
            st.next = free;
            self.free = Some(ttag);
        }
    }

    /// Appends the command with tag `ttag`, which is on no list, to `list`.
    pub(crate) fn push(&mut self, list: &mut TagList, ttag: u16) {
        let Some(st) = self.get(ttag) else {
            return;
        };
        st.next = None;
        match list.tail.and_then(|tail| self.get(tail)) {
            Some(tail) => tail.next = Some(ttag),
            None => list.head = Some(ttag),
        }
        list.tail = Some(ttag);
    }

    /// Puts the command with tag `ttag`, which is on no list, first on `list`.
    pub(crate) fn push_front(&mut self, list: &mut TagList, ttag: u16) {
        let head = list.head;
        let Some(st) = self.get(ttag) else {
            return;
        };
        st.next = head;
        list.head = Some(ttag);
        if list.tail.is_none() {
            list.tail = Some(ttag);
        }
    }

    /// Moves every command of `other` to the end of `list`, in order.
    pub(crate) fn append(&mut self, list: &mut TagList, other: TagList) {
        let Some(first) = other.head else {
            return;
        };
        match list.tail.and_then(|tail| self.get(tail)) {
            Some(tail) => tail.next = Some(first),
            None => list.head = Some(first),
        }
        list.tail = other.tail;
    }

    /// Takes the oldest command off `list`.
    pub(crate) fn pop(&mut self, list: &mut TagList) -> Option<u16> {
        let tag = list.head?;
        list.head = self.get(tag).and_then(|st| st.next.take());
        if list.head.is_none() {
            list.tail = None;
        }
        Some(tag)
    }
}
