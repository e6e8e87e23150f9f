// SPDX-License-Identifier: GPL-2.0

//! Completed commands on their way to the I/O work: a lock-free stack of transfer tags.
//!
//! The core completes commands in any context, even hard IRQ, and on any CPU. Each
//! completion pushes its command's tag; the I/O work takes the whole stack at once. Only
//! those two operations exist, so the stack has no ABA problem: a tag is pushed again only
//! after the I/O work took it and sent its response. The links are indices into an array of
//! atomics, one per tag: no raw pointers.

use kernel::{
    prelude::*,
    sync::atomic::{
        Acquire,
        Atomic,
        Relaxed,
        Release, //
    },
};

/// The end of the stack.
const EMPTY: u32 = u32::MAX;

/// A lock-free stack of the tags `0 .. n`.
pub(super) struct Completions {
    /// The newest tag, or `EMPTY`.
    head: Atomic<u32>,
    /// For each tag on the stack, the tag below it (or `EMPTY`).
    next: KVVec<Atomic<u32>>,
}

impl Completions {
    /// An empty stack for the tags `0 .. n`.
    pub(super) fn new(n: u16) -> Result<Self> {
        let mut next = KVVec::with_capacity(usize::from(n), GFP_KERNEL)?;
        for _ in 0..n {
            next.push(Atomic::new(EMPTY), GFP_KERNEL)?;
        }
        Ok(Self {
            head: Atomic::new(EMPTY),
            next,
        })
    }

    /// Pushes `tag`; any context. Returns `false` for a tag out of range. A tag must not be
    /// pushed again before it was taken.
    pub(super) fn push(&self, tag: u16) -> bool {
        let Some(link) = self.next.get(usize::from(tag)) else {
            return false;
        };
        let mut head = self.head.load(Relaxed);
        loop {
            link.store(head, Relaxed);
            // Release: whoever takes the tag sees the link and what the completion wrote.
            match self.head.cmpxchg(head, u32::from(tag), Release) {
                Ok(_) => return true,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every tag off the stack; they come newest first.
    pub(super) fn take_all(&self) -> Taken<'_> {
        Taken {
            stack: self,
            cur: self.head.xchg(EMPTY, Acquire),
        }
    }
}

/// The tags taken off a [`Completions`] stack, newest first.
pub(super) struct Taken<'a> {
    stack: &'a Completions,
    cur: u32,
}

impl Iterator for Taken<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let tag = u16::try_from(self.cur).ok()?;
        self.cur = self
            .stack
            .next
            .get(usize::from(tag))
            .map_or(EMPTY, |link| link.load(Relaxed));
        Some(tag)
    }
}

#[kernel::prelude::kunit_tests(nvmet_tcp_rs_completions)]
mod tests {
    use super::*;

    #[test]
    fn empty_stack_gives_nothing() -> Result {
        let stack = Completions::new(4)?;
        assert_eq!(stack.take_all().next(), None);
        Ok(())
    }

    #[test]
    fn tags_come_back_newest_first_once() -> Result {
        let stack = Completions::new(8)?;
        for tag in [3u16, 0, 7, 5] {
            assert!(stack.push(tag));
        }
        let mut got = KVec::new();
        for tag in stack.take_all() {
            got.push(tag, GFP_KERNEL)?;
        }
        assert_eq!(&got[..], &[5, 7, 0, 3]);
        assert_eq!(stack.take_all().next(), None);
        Ok(())
    }

    #[test]
    fn out_of_range_tag_is_refused() -> Result {
        let stack = Completions::new(2)?;
        assert!(!stack.push(2));
        assert!(!stack.push(u16::MAX));
        assert_eq!(stack.take_all().next(), None);
        Ok(())
    }

    #[test]
    fn a_taken_tag_may_be_pushed_again() -> Result {
        let stack = Completions::new(3)?;
        assert!(stack.push(1));
        assert!(stack.push(2));
        assert_eq!(stack.take_all().count(), 2);
        assert!(stack.push(2));
        let mut taken = stack.take_all();
        assert_eq!(taken.next(), Some(2));
        assert_eq!(taken.next(), None);
        Ok(())
    }

    #[test]
    fn every_slot_of_a_full_queue_fits() -> Result {
        let n = 2 * 1024u16;
        let stack = Completions::new(n)?;
        for tag in 0..n {
            assert!(stack.push(tag));
        }
        let mut expect = n;
        for tag in stack.take_all() {
            expect -= 1;
            assert_eq!(tag, expect);
        }
        assert_eq!(expect, 0);
        Ok(())
    }
}
