// SPDX-License-Identifier: GPL-2.0

//! First-in first-out lists of a queue's commands, linked through `CmdState::next`: the
//! commands ready to send and the writes waiting for their R2T. A command is on at most one
//! list (or the free list) at a time.

use crate::command::Cmd;

/// A list of commands, oldest first.
///
/// # Invariants
///
/// `head` and `tail` are both NULL or both commands of the queue that owns the list, and
/// following `next` from `head` reaches `tail`.
pub(super) struct CmdList {
    head: *const Cmd,
    tail: *const Cmd,
}

impl CmdList {
    /// An empty list.
    pub(super) const fn new() -> Self {
        Self {
            head: core::ptr::null(),
            tail: core::ptr::null(),
        }
    }

    /// Whether the list is empty.
    pub(super) fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// The oldest command, left on the list.
    pub(super) fn first(&self) -> *const Cmd {
        self.head
    }

    /// Appends `cmd`.
    ///
    /// # Safety
    ///
    /// Only the queue's I/O work may call this, with a command of the queue that is on no
    /// list, while no other reference to a command state is alive.
    pub(super) unsafe fn push(&mut self, cmd: &Cmd) {
        // SAFETY: As the caller guarantees.
        unsafe { cmd.st().next = core::ptr::null() };
        // SAFETY: As the caller guarantees, and `first..last` is that one command.
        unsafe { self.append(cmd, cmd) };
    }

    /// Appends the chain `first` .. `last`, already linked through `next` and ending in NULL.
    ///
    /// # Safety
    ///
    /// As for [`CmdList::push`], for every command of the chain.
    pub(super) unsafe fn append(&mut self, first: *const Cmd, last: *const Cmd) {
        if self.tail.is_null() {
            self.head = first;
        } else {
            // SAFETY: `tail` is a live command of the queue (type invariant); the caller
            // guarantees exclusive access to command states.
            unsafe { (*self.tail).st().next = first };
        }
        self.tail = last;
    }

    /// Takes the oldest command off the list.
    ///
    /// # Safety
    ///
    /// As for [`CmdList::push`]. The command lives as long as its queue; the caller must not
    /// use the reference beyond that.
    pub(super) unsafe fn pop<'a>(&mut self) -> Option<&'a Cmd> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: `head` is a live command of the queue (type invariant).
        let cmd = unsafe { &*self.head };
        // SAFETY: The caller guarantees exclusive access to command states.
        self.head = unsafe { cmd.st().next };
        if self.head.is_null() {
            self.tail = core::ptr::null();
        }
        Some(cmd)
    }
}
