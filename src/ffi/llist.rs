// SPDX-License-Identifier: GPL-2.0

//! A lock-free, IRQ-safe list to hand completions from any context to the I/O work.
//!
//! C header: [`include/linux/llist.h`](srctree/include/linux/llist.h)

use super::sys;
use kernel::types::Opaque;

/// A node embedded in an object that is put on an [`LList`].
#[repr(transparent)]
pub(crate) struct LListNode(Opaque<sys::llist_node>);

impl LListNode {
    /// A node that is not on any list.
    pub(crate) const fn new() -> Self {
        Self(Opaque::zeroed())
    }

    /// Returns the raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut sys::llist_node {
        self.0.get()
    }
}

/// The head of a lock-free list of [`LListNode`]s.
#[repr(transparent)]
pub(crate) struct LList(Opaque<sys::llist_head>);

impl LList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self(Opaque::zeroed())
    }

    /// Pushes `node`; callable from any context, including hard IRQ.
    ///
    /// # Safety
    ///
    /// `node` must not be on any list, and must stay alive until it is taken off again.
    pub(crate) unsafe fn push(&self, node: &LListNode) {
        // SAFETY: Both pointers are valid; the caller guarantees the node is free.
        unsafe { sys::nvmet_tcp_rs_llist_add(node.as_ptr(), self.0.get()) };
    }

    /// Takes every node off the list; they come back newest first.
    pub(crate) fn take_all(&self) -> LListIter {
        // SAFETY: The head is valid.
        let first = unsafe { sys::nvmet_tcp_rs_llist_del_all(self.0.get()) };
        LListIter { next: first }
    }
}

/// The nodes taken off an [`LList`], newest first.
pub(crate) struct LListIter {
    next: *mut sys::llist_node,
}

impl Iterator for LListIter {
    type Item = *mut sys::llist_node;

    fn next(&mut self) -> Option<Self::Item> {
        let node = self.next;
        if node.is_null() {
            return None;
        }
        // SAFETY: `node` was taken off the list by `take_all` and is alive (see `push`); its
        // `next` link is only written by `llist_add`, which no longer sees it.
        self.next = unsafe { (*node).next };
        Some(node)
    }
}
