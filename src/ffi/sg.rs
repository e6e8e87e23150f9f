// SPDX-License-Identifier: GPL-2.0

//! Data buffers of commands: flat scatterlists of whole pages (from highmem with the
//! `highmem_buffers` parameter), which the nvmet core reads and writes through `req->sg`.
//!
//! C header: [`include/linux/scatterlist.h`](srctree/include/linux/scatterlist.h)

use super::sys;
use crate::stats::STATS;
use core::ptr::NonNull;
use kernel::{
    prelude::*,
    sync::atomic::Relaxed, //
};

/// An owned, flat (unchained) scatterlist of whole pages covering `len` bytes.
///
/// # Invariants
///
/// `sg` points to an array of `nents` initialised entries, each with a page of its own,
/// allocated like `sgl_alloc()` does and freed with `sgl_free()` on drop.
pub(crate) struct SgBuffer {
    sg: NonNull<sys::scatterlist>,
    nents: u32,
}

// SAFETY: The buffer is plain memory owned by this object.
unsafe impl Send for SgBuffer {}

impl SgBuffer {
    /// Allocates pages for `len` bytes, from highmem if `highmem` is set.
    pub(crate) fn alloc(len: u32, highmem: bool) -> Result<Self> {
        let mut nents = 0u32;
        // SAFETY: `nents` is valid for writes.
        let sg = unsafe { sys::nvmet_tcp_rs_sgl_alloc(len, highmem, &mut nents) };
        let sg = NonNull::new(sg).ok_or(ENOMEM)?;
        STATS.buffers_live.add(1, Relaxed);
        // INVARIANT: The shim returns NULL or a flat array of `nents` entries with pages, which
        // `sgl_free` frees.
        Ok(Self { sg, nents })
    }

    /// The entries.
    pub(crate) fn entries(&self) -> &[sys::scatterlist] {
        // SAFETY: By the type invariant the array has `nents` initialised entries, alive as
        // long as `self`.
        unsafe { core::slice::from_raw_parts(self.sg.as_ptr(), self.nents as usize) }
    }

    /// The raw list and its entry count, for `req->sg` and `req->sg_cnt`.
    pub(super) fn as_raw(&self) -> (*mut sys::scatterlist, u32) {
        (self.sg.as_ptr(), self.nents)
    }
}

impl Drop for SgBuffer {
    fn drop(&mut self) {
        // SAFETY: We own the list (type invariant).
        unsafe { sys::sgl_free(self.sg.as_ptr()) };
        STATS.buffers_live.fetch_sub(1, Relaxed);
    }
}

/// Returns the page of a scatterlist entry, or `None` for an entry without one.
pub(crate) fn sg_page(sg: &sys::scatterlist) -> Option<NonNull<sys::page>> {
    // SAFETY: `sg` is a valid entry; the shim only decodes `page_link`.
    let page = unsafe { sys::nvmet_tcp_rs_sg_page(core::ptr::from_ref(sg).cast_mut()) };
    NonNull::new(page)
}
