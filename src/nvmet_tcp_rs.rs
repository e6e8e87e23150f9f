// SPDX-License-Identifier: GPL-2.0

//! NVMe over TCP target transport for the in-kernel nvmet core, written in Rust.
//!
//! This is the crate root of `nvmet_tcp_rs.ko`. It registers with the nvmet core as the TCP
//! transport (type 3) and replaces the in-tree `nvmet-tcp`; only one of them can be loaded.
//!
//! Layers, bottom up; each imports only from those below it:
//! - [`proto`] (the protocol logic: safe, `no_std`, tested on the host), [`stats`] and
//!   [`params`];
//! - [`ffi`]: the generated bindings, the C shim and small safe wrappers;
//! - [`command`] (per-command state) and [`placement`] (received data into the commands'
//!   pages);
//! - [`queue`]: a connection;
//! - [`port`]: a listener, which hands accepted connections to [`queue`];
//! - [`transport`]: the ops table the core calls;
//! - this root: init and unload, which give [`queue`] the ops table it initialises requests
//!   with.

use kernel::{
    debugfs,
    prelude::*, //
};

mod command;
mod ffi;
mod params;
mod placement;
mod port;
pub mod proto;
mod queue;
mod stats;
mod transport;

module! {
    type: NvmetTcpRs,
    name: "nvmet_tcp_rs",
    authors: ["nvmet-tcp-rs developers"],
    description: "NVMe/TCP target transport in Rust",
    license: "GPL",
    alias: ["nvmet-transport-3"],
    params: {
        so_priority: i32 {
            default: 0,
            description: "nvmet tcp socket optimize priority: Default 0",
        },
        idle_poll_period_usecs: i32 {
            default: 0,
            description: "nvmet tcp io_work poll till idle time period in usecs: Default 0",
        },
        highmem_buffers: bool {
            default: false,
            description: "allocate command data buffers from highmem (exercises the kmap_local path)",
        },
        icreq_timeout_ms: u32 {
            default: 10000,
            description: "close a connection that sent no ICReq within this time (ms): Default 10000",
        },
        connect_timeout_ms: u32 {
            default: 10000,
            description: "close a connection whose queue is not connected within this time after the ICReq (ms): Default 10000",
        },
    },
}

/// The module's state. Field order is drop order.
struct NvmetTcpRs {
    registration: Option<ffi::nvmet::Registration>,
    _stats: Pin<KBox<debugfs::File<stats::StatsFile>>>,
    _debugfs: debugfs::Dir,
    _io_wq: ffi::work::Workqueue,
}

impl kernel::Module for NvmetTcpRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before the transport is registered; `transport::OPS` is
        // `Vtable::<NvmetTcp>::OPS`, and `NvmetTcp`'s queue type is `Queue`.
        unsafe { queue::init(&transport::OPS) };
        let io_wq = ffi::work::Workqueue::new()?;
        ffi::work::set_io_wq(&io_wq);
        let dir = debugfs::Dir::new(c"nvmet_tcp_rs");
        let stats = KBox::pin_init(dir.read_only_file(c"stats", stats::StatsFile), GFP_KERNEL)?;
        let registration = ffi::nvmet::Registration::new(&transport::OPS).inspect_err(|_| {
            pr_err!("cannot register the TCP transport: is nvmet-tcp loaded?\n");
        })?;
        Ok(Self {
            registration: Some(registration),
            _stats: stats,
            _debugfs: dir,
            _io_wq: io_wq,
        })
    }
}

impl Drop for NvmetTcpRs {
    fn drop(&mut self) {
        // No new ports after this; enabled ports hold a module reference, so there are none.
        drop(self.registration.take());
        // Queues of removed ports may still be tearing down on the core's workqueue.
        ffi::work::flush_nvmet_wq();
        queue::shutdown_all();
        ffi::work::flush_nvmet_wq();
        queue::free_list();
        stats::check_unload();
    }
}
