// SPDX-License-Identifier: GPL-2.0

//! A port: the listening socket of one configfs port, and the work that accepts connections.

use crate::{
    ffi::{
        nvmet::PortRef,
        socket::{
            SkHooks,
            SockAddr,
            Socket, //
        },
        sys,
        work::{
            self,
            RawWork, //
        },
    },
    queue::{
        self,
        Queue, //
    },
    stats::STATS,
};
use kernel::{
    prelude::*,
    sync::atomic::Relaxed, //
};

/// The listen backlog, as in the C target.
const BACKLOG: i32 = 128;

/// The default in-capsule data size: 4 pages, as in the C target.
const DEFAULT_INLINE_DATA_SIZE: i32 = 4 * kernel::page::PAGE_SIZE as i32;

/// A listening port.
///
/// # Invariants
///
/// - `hooks` is the first field: the listener's `sk_user_data` points to the `Port`.
/// - The port lives in a `KBox` leaked by [`add`] into the core port's private pointer and
///   reclaimed by [`remove`], after the listener callbacks are detached and the accept work is
///   idle.
#[repr(C)]
pub(crate) struct Port {
    hooks: SkHooks,
    accept_work: RawWork,
    sock: Socket,
    nport: PortRef,
    addr: SockAddr,
}

impl Port {
    /// The core's port, for `req->port`.
    pub(crate) fn nport(&self) -> *mut sys::nvmet_port {
        self.nport.as_ptr()
    }

    /// The port's in-capsule data size, which configfs does not let change while the port
    /// is enabled.
    pub(crate) fn inline_data_size(&self) -> u32 {
        u32::try_from(self.nport.inline_data_size()).unwrap_or(0)
    }
}

/// `add_port`: starts listening on the port's address.
pub(crate) fn add(nport: PortRef) -> Result {
    if nport.wants_tls() {
        // Serving such a port in plaintext would silently drop what the operator asked for.
        pr_err!(
            "port {}: TLS is not supported by nvmet_tcp_rs\n",
            nport.portid()
        );
        return Err(EOPNOTSUPP);
    }
    let addr = match SockAddr::parse(nport.adrfam(), nport.traddr(), nport.trsvcid()) {
        Ok(addr) => addr,
        Err(e) => {
            pr_err!(
                "malformed address {}:{} (family {})\n",
                nport.traddr().to_str().unwrap_or("?"),
                nport.trsvcid().to_str().unwrap_or("?"),
                nport.adrfam()
            );
            return Err(e);
        }
    };
    if nport.inline_data_size() < 0 {
        nport.set_inline_data_size(DEFAULT_INLINE_DATA_SIZE);
    }
    let sock = Socket::listen(&addr, BACKLOG, crate::so_priority()).inspect_err(|e| {
        pr_err!("failed to listen on port {}: {:?}\n", nport.portid(), e);
    })?;
    let portid = nport.portid();
    let port = KBox::new(
        Port {
            hooks: SkHooks::new(),
            accept_work: RawWork::uninit(),
            sock,
            nport,
            addr,
        },
        GFP_KERNEL,
    )?;
    let ptr = KBox::into_raw(port);
    STATS.ports_live.add(1, Relaxed);
    // SAFETY: Leaked above; reclaimed only by `remove`.
    let port = unsafe { &*ptr };
    port.accept_work.init(
        accept_work_fn,
        c"nvmet_tcp_rs accept_work",
        kernel::static_lock_class!(),
    );
    port.nport.set_private(ptr.cast());
    // SAFETY: The hooks stay in place until `remove` detaches them.
    unsafe { port.sock.attach_listener(&port.hooks) };
    let mut text = [0u8; 64];
    let len = port.addr.format(&mut text).min(text.len() - 1);
    pr_info!(
        "enabling port {} ({}:{})\n",
        portid,
        core::str::from_utf8(&text[..len]).unwrap_or("?"),
        port.nport.trsvcid().to_str().unwrap_or("?")
    );
    // Connections may have queued up before the callback was in place.
    port.kick();
    Ok(())
}

/// `remove_port`: stops listening and shuts down the port's connections that no controller
/// owns yet (the core deletes the others).
///
/// # Safety
///
/// `nport` must be a port that [`add`] succeeded on, and not removed yet.
pub(crate) unsafe fn remove(nport: &PortRef) {
    let ptr = nport.private().cast::<Port>();
    // SAFETY: `add` stored a leaked `Port` there, which is live until below.
    let port = unsafe { &*ptr };
    port.sock.detach(&port.hooks);
    port.accept_work.cancel_sync();
    queue::shutdown_port_queues(ptr);
    nport.set_private(core::ptr::null_mut());
    // SAFETY: Leaked by `add`; the callbacks are detached and the accept work is idle, so
    // nothing refers to the port any more (queues keep its address only to compare it).
    drop(unsafe { KBox::from_raw(ptr) });
    STATS.ports_live.fetch_sub(1, Relaxed);
}

impl Port {
    fn kick(&self) {
        // SAFETY: The port outlives its accept work: `remove` cancels it before freeing.
        unsafe { self.accept_work.queue_on(work::nvmet_wq(), work::ANY_CPU) };
    }

    fn accept_all(&self) {
        loop {
            match self.sock.accept() {
                Ok(Some(sock)) => {
                    // A connection reset right away fails here (no addresses): not worth a
                    // message each time.
                    if let Err(e) = Queue::accept(self, sock) {
                        if crate::ffi::warn_ratelimit() {
                            pr_err!("failed to take a connection: {:?}\n", e);
                        }
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    pr_warn!("failed to accept: {:?}\n", e);
                    return;
                }
            }
        }
    }
}

/// The accept work function.
///
/// # Safety
///
/// Called by the workqueue with the `accept_work` of a live port.
unsafe extern "C" fn accept_work_fn(work: *mut sys::work_struct) {
    // SAFETY: `work` is the `accept_work` field of a live port (`RawWork` is transparent).
    let port = unsafe { &*kernel::container_of!(work.cast::<RawWork>(), Port, accept_work) };
    port.accept_all();
}

/// Called by the listener's `data_ready` callback when a connection waits to be accepted.
///
/// # Safety
///
/// `hooks` must be the hooks of a live port, attached to its listener.
#[no_mangle]
unsafe extern "C" fn nvmet_tcp_rs_port_accept_ready(hooks: *mut sys::nvmet_tcp_rs_sk_hooks) {
    // SAFETY: `hooks` is the first field of a live `Port` (type invariant); `remove` detaches
    // the callback (under `sk_callback_lock`) before freeing the port.
    let port = unsafe { &*hooks.cast::<Port>() };
    port.kick();
}
