// SPDX-License-Identifier: GPL-2.0

//! Where received data goes: straight into the command's pages.
//!
//! A lowmem page is always mapped, so `page_address()` gives the destination and the socket
//! receive writes PDU data there with no intermediate buffer and no kmap. A highmem page (only
//! our own buffers with the `highmem_buffers` parameter can be such) is mapped for the duration
//! of one receive by a local mapping ([`PageChunk::with_mapped`]), which the compiler keeps on
//! the thread that made it.

use crate::{
    ffi::{
        sg::{
            sg_page,
            SgBuffer, //
        },
        sys,
    },
    proto::{
        self,
        sgl, //
    },
};
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};

/// The chunks of `buf` that hold `len` bytes from `offset`, in order: one per piece of a page.
/// Fails if the range goes beyond the buffer.
///
/// The buffer is borrowed mutably, and a buffer that the transport holds is not in the core's
/// hands (only `Req::execute` gives it to the core, by taking it): nothing else reaches the
/// pages while the chunks live.
pub(crate) fn chunks(
    buf: &mut SgBuffer,
    offset: u32,
    len: u32,
) -> Result<impl Iterator<Item = PageChunk<'_>>, proto::Error> {
    let entries = buf.entries();
    let spans = sgl::spans(entries.iter().map(|e| e.length), offset, len)?;
    Ok(spans.filter_map(move |span| {
        let e = entries.get(span.index)?;
        // SAFETY: The page belongs to `buf`, which is borrowed mutably for the chunk's life and
        // is not the core's (see above); `spans` keeps the span within the entry, and an entry
        // of an `SgBuffer` within its page.
        Some(unsafe {
            PageChunk::new(
                sg_page(e)?,
                (e.offset + span.offset) as usize,
                span.len as usize,
            )
        })
    }))
}

/// A piece of one page of a data buffer, lent out once: it is not `Copy`, and each way of
/// reaching its memory consumes it, so safe code cannot get two `&mut` to the same bytes.
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
    unsafe fn new(page: NonNull<sys::page>, offset: usize, len: usize) -> Self {
        Self {
            page,
            offset,
            len,
            _buffer: PhantomData,
        }
    }

    /// The chunk as memory when its page is in lowmem (permanently mapped); the chunk back
    /// when it is in highmem, for [`PageChunk::with_mapped`].
    pub(crate) fn into_direct(self) -> Result<&'a mut [u8], Self> {
        // SAFETY: `page` is a live page (see `new`); the shim only reads its flags.
        if unsafe { sys::nvmet_tcp_rs_page_is_highmem(self.page.as_ptr()) } {
            return Err(self);
        }
        // SAFETY: `page` is a live page (see `new`); `page_address` of a lowmem page is its
        // permanent mapping.
        let base = unsafe { sys::nvmet_tcp_rs_page_address(self.page.as_ptr()) };
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            return Err(self);
        };
        // SAFETY: The mapping covers the whole page, `offset + len` is within it, and the page
        // is ours alone for `'a` (see `new`); `self` is consumed, so this is the only `&mut`.
        Ok(unsafe { core::slice::from_raw_parts_mut(base.as_ptr().add(self.offset), self.len) })
    }

    /// Calls `f` with the chunk's memory: directly for a lowmem page, and for a highmem page
    /// through a mapping made on this thread for the call and undone when it returns.
    ///
    /// The mapping is lent as a slice that cannot outlive the call, never as the guard
    /// itself: mappings made by nested calls are therefore undone in reverse order, as
    /// `kunmap_local()` requires (the reason `rust/kernel/page.rs` scopes its mappings the
    /// same way).
    pub(crate) fn with_mapped<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        match self.into_direct() {
            Ok(mem) => f(mem),
            Err(chunk) => {
                let mut map = LocalMapping::new(chunk);
                f(map.as_mut_slice())
            }
        }
    }
}

/// A thread-local mapping of a [`PageChunk`], made by `kmap_local_page()` and undone on drop;
/// only [`PageChunk::with_mapped`] makes one, and drops it before it returns.
///
/// It is neither `Send` nor `Sync`: a local mapping is only valid on the thread that made it,
/// and this is the rule that kept the C target from converting to `kmap_local_page()`.
///
/// # Invariants
///
/// `addr` is the start of the chunk inside a live `kmap_local_page()` mapping of its page, made
/// on the current thread and not yet undone.
struct LocalMapping<'a> {
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
    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: The mapping is live (type invariant) and the page is ours alone for `'a`.
        unsafe { core::slice::from_raw_parts_mut(self.addr.as_ptr(), self.len) }
    }
}

impl Drop for LocalMapping<'_> {
    fn drop(&mut self) {
        // SAFETY: The mapping was made on this thread and is still live (type invariant), and
        // it is the newest one: `with_mapped` drops it before returning; `kunmap_local` takes
        // any address inside the mapped page.
        unsafe { sys::kunmap_local(self.addr.as_ptr().cast()) };
    }
}

#[kernel::prelude::kunit_tests(nvmet_tcp_rs_placement)]
mod tests {
    use super::*;
    use kernel::{
        page::{
            Page,
            PAGE_SIZE, //
        },
        prelude::*,
    };

    /// A chunk of `len` bytes at `offset` of `page`.
    fn chunk(page: &mut Page, offset: usize, len: usize) -> PageChunk<'_> {
        assert!(offset + len <= PAGE_SIZE);
        let ptr = NonNull::new(page.as_ptr()).unwrap_or(NonNull::dangling());
        // SAFETY: The page is ours and borrowed mutably for the chunk's life; the range is
        // within it (asserted above).
        unsafe { PageChunk::new(ptr, offset, len) }
    }

    fn pattern(i: usize, seed: u8) -> u8 {
        (i as u8).wrapping_mul(31).wrapping_add(seed)
    }

    /// A lowmem chunk is its page's memory at its offset, and the local mapping (forced to a
    /// separate address by `DEBUG_KMAP_LOCAL_FORCE_MAP`) sees the same bytes.
    #[test]
    fn lowmem_chunk_and_local_mapping_agree() -> Result {
        let mut page = Page::alloc_page(GFP_KERNEL)?;
        let Ok(mem) = chunk(&mut page, 0, PAGE_SIZE).into_direct() else {
            panic!("a GFP_KERNEL page is not in lowmem");
        };
        for (i, b) in mem.iter_mut().enumerate() {
            *b = pattern(i, 1);
        }
        let mut map = LocalMapping::new(chunk(&mut page, 0, PAGE_SIZE));
        let seen = map.as_mut_slice();
        assert_eq!(seen.len(), PAGE_SIZE);
        assert!(seen.iter().enumerate().all(|(i, &b)| b == pattern(i, 1)));
        // And the other way round.
        for (i, b) in seen.iter_mut().enumerate() {
            *b = pattern(i, 7);
        }
        drop(map);
        let Ok(mem) = chunk(&mut page, 0, PAGE_SIZE).into_direct() else {
            panic!("a GFP_KERNEL page is not in lowmem");
        };
        assert!(mem.iter().enumerate().all(|(i, &b)| b == pattern(i, 7)));
        Ok(())
    }

    /// A chunk covers exactly its range: writes through it land at its offset and nowhere
    /// else, directly and through a mapping.
    #[test]
    fn chunk_covers_its_range() -> Result {
        let mut page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        chunk(&mut page, 100, 50).with_mapped(|mem| {
            assert_eq!(mem.len(), 50);
            mem.fill(0xaa);
        });
        let mut map = LocalMapping::new(chunk(&mut page, 4000, 96));
        map.as_mut_slice().fill(0xbb);
        drop(map);
        let Ok(mem) = chunk(&mut page, 0, PAGE_SIZE).into_direct() else {
            panic!("a GFP_KERNEL page is not in lowmem");
        };
        for (i, &b) in mem.iter().enumerate() {
            let want = match i {
                100..150 => 0xaa,
                4000..4096 => 0xbb,
                _ => 0,
            };
            assert_eq!(b, want);
        }
        Ok(())
    }

    /// Data placed at any offset of a command's buffer lands in the right page at the right
    /// place, across page and scatterlist entry boundaries, as the receive path places it
    /// (`sgl::spans` over the entries, then a chunk per span).
    #[test]
    fn offsets_map_across_pages_and_entries() -> Result {
        const LEN: u32 = 3 * PAGE_SIZE as u32 + 100;
        let mut buf = SgBuffer::alloc(LEN, false)?;
        let total = buf.entries().iter().map(|e| e.length).sum::<u32>();
        assert_eq!(total, LEN);
        // Each span of each write, through a chunk of its entry's page.
        let mut place = |offset: u32, len: u32, f: &mut dyn FnMut(u32, &mut [u8])| -> Result {
            let mut at = offset;
            for chunk in chunks(&mut buf, offset, len).map_err(|_| EINVAL)? {
                let n = chunk.with_mapped(|mem| {
                    f(at, mem);
                    mem.len() as u32
                });
                at += n;
            }
            assert_eq!(at, offset + len);
            Ok(())
        };
        let byte = |at: u32| pattern(at as usize, 3);
        // Pieces that start and end inside pages, on page boundaries, and across two and
        // three pages, in an order that is not the buffer's.
        for (offset, len) in [
            (4090, 12),
            (0, 4090),
            (4102, 8186),
            (12288, 100),
            (8192, 4096),
        ] {
            place(offset, len, &mut |at, mem| {
                for (i, b) in mem.iter_mut().enumerate() {
                    *b = byte(at + i as u32);
                }
            })?;
        }
        let mut bad = 0;
        place(0, LEN, &mut |at, mem| {
            bad += mem
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b != byte(at + i as u32))
                .count();
        })?;
        assert_eq!(bad, 0);
        assert!(chunks(&mut buf, LEN - 1, 2).is_err());
        Ok(())
    }

    /// Nested mappings, as `with_mapped` makes them for highmem pages, are undone in reverse
    /// order (`DEBUG_KMAP_LOCAL` warns otherwise, which fails the run) and each sees its page.
    #[test]
    fn nested_mappings() -> Result {
        let mut a = Page::alloc_page(GFP_KERNEL)?;
        let mut b = Page::alloc_page(GFP_KERNEL)?;
        let mut outer = LocalMapping::new(chunk(&mut a, 0, PAGE_SIZE));
        outer.as_mut_slice().fill(0x11);
        {
            let mut inner = LocalMapping::new(chunk(&mut b, 0, PAGE_SIZE));
            inner.as_mut_slice().fill(0x22);
            assert!(outer.as_mut_slice().iter().all(|&x| x == 0x11));
        }
        assert!(outer.as_mut_slice().iter().all(|&x| x == 0x11));
        drop(outer);
        chunk(&mut b, 0, PAGE_SIZE).with_mapped(|mem| {
            assert!(mem.iter().all(|&x| x == 0x22));
        });
        Ok(())
    }
}
