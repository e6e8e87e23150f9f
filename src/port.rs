// SPDX-License-Identifier: GPL-2.0

//! A port: the listening socket of one configfs port, and the work that accepts connections.

use crate::{
    ffi::{
        self,
        nvmet::{
            PortRef, //
        },
        socket::{
            ListenerOwner,
            SockAddr,
            Socket, //
        },
        work::{
            self as wq,
            ANY_CPU, //
        },
    },
    params,
    queue::{
        self,
        Origin,
        Queue,
        QueueMem, //
    },
    stats::STATS,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        ArcBorrow, //
    },
    workqueue::{
        DelayedWork,
        Work,
        WorkItem, //
    },
};

/// The work that accepts connections when the listener reports one.
const ACCEPT: u64 = 0;
/// The same, later: after an accept that failed (for memory, say), since the listener will
/// not report the connections still waiting.
const RETRY: u64 = 1;

/// How long after a failed accept the port tries again.
const RETRY_MS: u32 = 100;

/// The listen backlog, as in the C target.
const BACKLOG: i32 = 128;

/// The default in-capsule data size: 4 pages, as in the C target.
const DEFAULT_INLINE_DATA_SIZE: i32 = 4 * kernel::page::PAGE_SIZE as i32;

/// Numbers ports, so that queues can name theirs without holding it.
static NEXT_ID: Atomic<u32> = Atomic::new(0);

/// A listening port: an [`Arc`] held by the core's port (`priv`) while it is enabled, by its
/// listener's callbacks and by its queued accept works.
#[pin_data]
pub(crate) struct Port {
    #[pin]
    accept_work: Work<Port, ACCEPT>,
    #[pin]
    retry_work: DelayedWork<Port, RETRY>,
    sock: Socket<Port>,
    nport: PortRef,
    addr: SockAddr,
    id: u32,
}

kernel::impl_has_work! {
    impl HasWork<Port, ACCEPT> for Port { self.accept_work }
}

kernel::impl_has_delayed_work! {
    impl HasDelayedWork<Port, RETRY> for Port { self.retry_work }
}

impl WorkItem<ACCEPT> for Port {
    type Pointer = Arc<Port>;

    fn run(this: Arc<Port>) {
        this.accept_all();
    }
}

impl WorkItem<RETRY> for Port {
    type Pointer = Arc<Port>;

    fn run(this: Arc<Port>) {
        this.accept_all();
    }
}

impl Port {
    /// Where a connection accepted on this port comes from. The in-capsule data size is read
    /// now: configfs does not let it change while the port is enabled.
    fn origin(&self) -> Origin {
        Origin {
            port_id: self.id,
            nport: self.nport.core(),
            inline_data_size: u32::try_from(self.nport.inline_data_size()).unwrap_or(0),
        }
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
    let sock = Socket::listen(&addr, BACKLOG, params::so_priority()).inspect_err(|e| {
        pr_err!("failed to listen on port {}: {:?}\n", nport.portid(), e);
    })?;
    let portid = nport.portid();
    let port = Arc::pin_init(
        pin_init!(Port {
            accept_work <- kernel::new_work!("nvmet_tcp_rs accept_work"),
            retry_work <- kernel::new_delayed_work!("nvmet_tcp_rs accept_retry"),
            sock,
            nport,
            addr,
            id: NEXT_ID.fetch_add(1, Relaxed),
        }),
        GFP_KERNEL,
    )?;
    STATS.ports_live.add(1, Relaxed);
    // Neither can be in use already on a port that the core is enabling.
    if let Err(owner) = port.sock.attach_listener(port.clone()) {
        drop(owner);
        remove_port(port);
        return Err(EBUSY);
    }
    if let Err(owner) = port.nport.set_private(port.clone()) {
        drop(owner);
        remove_port(port);
        return Err(EBUSY);
    }
    let mut text = [0u8; 64];
    let len = port.addr.format(&mut text).min(text.len() - 1);
    pr_info!(
        "enabling port {} ({}:{})\n",
        portid,
        core::str::from_utf8(&text[..len]).unwrap_or("?"),
        port.nport.trsvcid().to_str().unwrap_or("?")
    );
    // Connections may have queued up before the callback was in place.
    port.as_arc_borrow().kick();
    Ok(())
}

/// `remove_port`: stops listening and shuts down the port's connections, but those that drain
/// because the core deleted their controller (see [`queue::shutdown_port_queues`]).
pub(crate) fn remove(nport: &PortRef) {
    // SAFETY: `add` stores an `Arc<Port>` in the port's private pointer, and nothing else.
    if let Some(port) = unsafe { nport.take_private::<Arc<Port>>() } {
        remove_port(port);
    }
}

/// Stops a port: its callbacks, its accept work, its queues, and its references.
fn remove_port(port: Arc<Port>) {
    drop(port.sock.detach());
    // Neither requeues the other; a retry that runs may requeue itself, which its
    // cancellation refuses.
    wq::cancel_sync::<_, ACCEPT>(&port);
    wq::cancel_delayed_sync::<_, RETRY>(&port);
    queue::shutdown_port_queues(port.id);
    STATS.ports_live.fetch_sub(1, Relaxed);
    // The listener is released with the last reference, which may be this one.
}

impl Port {
    fn kick(self: ArcBorrow<'_, Self>) {
        wq::enqueue_on::<_, ACCEPT>(wq::nvmet_wq(), ANY_CPU, Arc::from(self));
    }

    /// Accepts every waiting connection. After a failure the rest stay in the backlog, and
    /// the listener reports only new ones: a retry takes them [`RETRY_MS`] later.
    fn accept_all(self: Arc<Self>) {
        loop {
            match QueueMem::new().and_then(|mem| Ok((mem, self.sock.accept()?))) {
                Ok((mem, Some(sock))) => {
                    // A connection reset right away fails here (no addresses): not worth a
                    // message each time.
                    if let Err(e) = Queue::accept(mem, self.origin(), sock) {
                        STATS.conn_dropped.add(1, Relaxed);
                        if crate::ffi::warn_ratelimit() {
                            pr_err!("failed to take a connection: {:?}\n", e);
                        }
                    }
                }
                Ok((_, None)) => return,
                Err(e) => {
                    STATS.accept_retries.add(1, Relaxed);
                    if crate::ffi::warn_ratelimit() {
                        pr_warn!("failed to accept: {:?}, retrying\n", e);
                    }
                    let delay = ffi::msecs_to_jiffies(RETRY_MS);
                    wq::schedule_delayed::<_, RETRY>(wq::nvmet_wq(), self, delay);
                    return;
                }
            }
        }
    }
}

impl ListenerOwner for Port {
    fn accept_ready(this: ArcBorrow<'_, Self>) {
        this.kick();
    }
}
