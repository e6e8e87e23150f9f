// SPDX-License-Identifier: GPL-2.0

//! Where received data goes: straight into the command's pages.
//!
//! A lowmem page is always mapped, so `page_address()` gives the destination and the socket
//! receive writes PDU data there with no intermediate buffer and no kmap. A highmem page (only
//! our own buffers with the `highmem_buffers` parameter can be such) is mapped for the duration
//! of one receive by a [`LocalMapping`], which the compiler keeps on the thread that made it.

use crate::ffi::sys;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// A piece of one page of a data buffer.
#[derive(Clone, Copy)]
pub(crate) struct PageChunk<'a> {
    page: NonNull<sys::page>,
    offset: usize,
    len: usize,
    _buffer: PhantomData<&'a mut [u8]>,
}

impl<'a> PageChunk<'a> {
    /// A chunk of `len` bytes at `offset` in `page`.
    ///
    /// # Safety
    ///
    /// `page` must be a page that stays alive and that nobody else accesses for `'a`, and
    /// `offset + len` must not exceed the page's size.
    pub(crate) unsafe fn new(page: NonNull<sys::page>, offset: usize, len: usize) -> Self {
        Self {
            page,
            offset,
            len,
            _buffer: PhantomData,
        }
    }

    /// The chunk as memory, when its page is in lowmem (permanently mapped).
    pub(crate) fn direct(self) -> Option<&'a mut [u8]> {
        // SAFETY: `page` is a live page (see `new`); the shim only reads its flags.
        if unsafe { sys::nvmet_tcp_rs_page_is_highmem(self.page.as_ptr()) } {
            return None;
        }
        // SAFETY: As above; `page_address` of a lowmem page is its permanent mapping.
        let base = unsafe { sys::nvmet_tcp_rs_page_address(self.page.as_ptr()) };
        let base = NonNull::new(base.cast::<u8>())?;
        // SAFETY: The mapping covers the whole page, `offset + len` is within it, and the page
        // is ours alone for `'a` (see `new`).
        Some(unsafe { core::slice::from_raw_parts_mut(base.as_ptr().add(self.offset), self.len) })
    }

    /// Maps the chunk on this thread, for any page.
    pub(crate) fn map_local(self) -> LocalMapping<'a> {
        LocalMapping::new(self)
    }
}

/// A thread-local mapping of a [`PageChunk`], made by `kmap_local_page()` and undone on drop.
///
/// It is neither `Send` nor `Sync`: a local mapping is only valid on the thread that made it,
/// and this is the rule that kept the C target from converting to `kmap_local_page()`. Nested
/// mappings must be undone in reverse order, which scoping gives.
///
/// # Invariants
///
/// `addr` is the start of the chunk inside a live `kmap_local_page()` mapping of its page, made
/// on the current thread and not yet undone.
pub(crate) struct LocalMapping<'a> {
    addr: NonNull<u8>,
    len: usize,
    _chunk: PhantomData<&'a mut [u8]>,
    _not_send: PhantomData<*mut u8>,
}

impl<'a> LocalMapping<'a> {
    fn new(chunk: PageChunk<'a>) -> Self {
        // SAFETY: The page is alive for `'a` (see `PageChunk::new`).
        let base = unsafe { sys::kmap_local_page(chunk.page.as_ptr()) };
        // `kmap_local_page` cannot fail; a NULL here would be a kernel bug.
        let base = NonNull::new(base.cast::<u8>()).unwrap_or(NonNull::dangling());
        // INVARIANT: The mapping is live until `drop`, and `offset` is within the page.
        Self {
            // SAFETY: `offset` is within the mapped page (see `PageChunk::new`).
            addr: unsafe { base.add(chunk.offset) },
            len: chunk.len,
            _chunk: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The mapped memory.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: The mapping is live (type invariant) and the page is ours alone for `'a`.
        unsafe { core::slice::from_raw_parts_mut(self.addr.as_ptr(), self.len) }
    }
}

impl Drop for LocalMapping<'_> {
    fn drop(&mut self) {
        // SAFETY: The mapping was made on this thread and is still live (type invariant);
        // `kunmap_local` takes any address inside the mapped page.
        unsafe { sys::kunmap_local(self.addr.as_ptr().cast()) };
    }
}
