// SPDX-License-Identifier: GPL-2.0

//! Global statistics, shown in `/sys/kernel/debug/nvmet_tcp_rs/stats`.

use core::fmt;
use kernel::{
    debugfs::Writer,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// A counter.
pub(crate) type Counter = Atomic<u64>;

/// The counters; updated with relaxed atomics, read as a snapshot that may tear across fields.
pub(crate) struct Stats {
    /// Data bytes received straight into lowmem pages through `page_address()`.
    pub(crate) bytes_direct: Counter,
    /// Data bytes received into highmem pages through a local mapping.
    pub(crate) bytes_highmem: Counter,
    /// Data bytes sent.
    pub(crate) bytes_sent: Counter,
    /// PDUs received, per type.
    pub(crate) rx_icreq: Counter,
    pub(crate) rx_cmd: Counter,
    pub(crate) rx_h2c_data: Counter,
    pub(crate) rx_h2c_term: Counter,
    /// PDUs sent, per type.
    pub(crate) tx_icresp: Counter,
    pub(crate) tx_rsp: Counter,
    pub(crate) tx_c2h_data: Counter,
    pub(crate) tx_r2t: Counter,
    pub(crate) tx_c2h_term: Counter,
    /// Header digest errors (fatal for the connection).
    pub(crate) hdgst_errors: Counter,
    /// Data digest errors (fatal for the command only).
    pub(crate) ddgst_errors: Counter,
    /// Other protocol errors.
    pub(crate) protocol_errors: Counter,
    /// Connections accepted since load.
    pub(crate) conn_accepted: Counter,
    /// Connections accepted and closed at once, as a queue could not be made for them (no
    /// memory, or already reset).
    pub(crate) conn_dropped: Counter,
    /// Connections not yet released.
    pub(crate) conn_active: Counter,
    /// Ports enabled and not yet removed.
    pub(crate) ports_live: Counter,
    /// Command data buffers allocated and not yet freed. Their pages are invisible to
    /// kmemleak, so this is what shows a leaked one.
    pub(crate) buffers_live: Counter,
    /// I/O work runs requeued with nothing pending, only for `idle_poll_period_usecs`.
    pub(crate) idle_polls: Counter,
    /// Connections closed for not sending an ICReq in time (`icreq_timeout_ms`).
    pub(crate) icreq_timeouts: Counter,
    /// Connections closed for not connecting a queue in time (`connect_timeout_ms`).
    pub(crate) connect_timeouts: Counter,
    /// Terminating connections closed before their C2HTermReq could go out.
    pub(crate) term_timeouts: Counter,
    /// Connections drained because the core deleted their controller.
    pub(crate) ctrl_drains: Counter,
    /// Draining connections closed before their last responses could go out.
    pub(crate) drain_timeouts: Counter,
    /// Writes whose R2T had to wait for the queue's bound on solicited data.
    pub(crate) r2t_deferred: Counter,
    /// Accepts that failed (and were retried later).
    pub(crate) accept_retries: Counter,
    /// Sends that stalled with nothing in flight (and were retried later).
    pub(crate) send_retries: Counter,
    /// Bytes of refused commands' data dropped unread, and the receive calls that did it.
    pub(crate) bytes_discarded: Counter,
    pub(crate) discard_recvs: Counter,
}

/// The module's statistics.
pub(crate) static STATS: Stats = Stats {
    bytes_direct: Atomic::new(0),
    bytes_highmem: Atomic::new(0),
    bytes_sent: Atomic::new(0),
    rx_icreq: Atomic::new(0),
    rx_cmd: Atomic::new(0),
    rx_h2c_data: Atomic::new(0),
    rx_h2c_term: Atomic::new(0),
    tx_icresp: Atomic::new(0),
    tx_rsp: Atomic::new(0),
    tx_c2h_data: Atomic::new(0),
    tx_r2t: Atomic::new(0),
    tx_c2h_term: Atomic::new(0),
    hdgst_errors: Atomic::new(0),
    ddgst_errors: Atomic::new(0),
    protocol_errors: Atomic::new(0),
    conn_accepted: Atomic::new(0),
    conn_dropped: Atomic::new(0),
    conn_active: Atomic::new(0),
    ports_live: Atomic::new(0),
    buffers_live: Atomic::new(0),
    idle_polls: Atomic::new(0),
    icreq_timeouts: Atomic::new(0),
    connect_timeouts: Atomic::new(0),
    term_timeouts: Atomic::new(0),
    ctrl_drains: Atomic::new(0),
    drain_timeouts: Atomic::new(0),
    r2t_deferred: Atomic::new(0),
    accept_retries: Atomic::new(0),
    send_retries: Atomic::new(0),
    bytes_discarded: Atomic::new(0),
    discard_recvs: Atomic::new(0),
};

/// The debugfs view of [`STATS`], one `name value` line per counter.
pub(crate) struct StatsFile;

impl Writer for StatsFile {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &STATS;
        let rows: [(&str, &Counter); 31] = [
            ("bytes_placed_page_address", &s.bytes_direct),
            ("bytes_placed_highmem_guard", &s.bytes_highmem),
            ("bytes_sent", &s.bytes_sent),
            ("rx_icreq", &s.rx_icreq),
            ("rx_capsule_cmd", &s.rx_cmd),
            ("rx_h2c_data", &s.rx_h2c_data),
            ("rx_h2c_term_req", &s.rx_h2c_term),
            ("tx_icresp", &s.tx_icresp),
            ("tx_capsule_resp", &s.tx_rsp),
            ("tx_c2h_data", &s.tx_c2h_data),
            ("tx_r2t", &s.tx_r2t),
            ("tx_c2h_term_req", &s.tx_c2h_term),
            ("header_digest_errors", &s.hdgst_errors),
            ("data_digest_errors", &s.ddgst_errors),
            ("protocol_errors", &s.protocol_errors),
            ("connections_accepted", &s.conn_accepted),
            ("connections_dropped", &s.conn_dropped),
            ("connections_active", &s.conn_active),
            ("ports_live", &s.ports_live),
            ("data_buffers_live", &s.buffers_live),
            ("io_work_idle_polls", &s.idle_polls),
            ("icreq_timeouts", &s.icreq_timeouts),
            ("connect_timeouts", &s.connect_timeouts),
            ("term_timeouts", &s.term_timeouts),
            ("ctrl_drains", &s.ctrl_drains),
            ("drain_timeouts", &s.drain_timeouts),
            ("r2t_deferred", &s.r2t_deferred),
            ("accept_retries", &s.accept_retries),
            ("send_retries", &s.send_retries),
            ("bytes_discarded", &s.bytes_discarded),
            ("discard_recvs", &s.discard_recvs),
        ];
        for (name, counter) in rows {
            write!(f, "{name} ")?;
            write_u64(f, counter.load(Relaxed))?;
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Checks at module unload, once every port and queue is gone, that every object counted live
/// was freed; warns (a kernel splat, which fails the tests) with the counts if not.
pub(crate) fn check_unload() {
    let s = &STATS;
    // `u64` formatting needs 64-bit division, which 32-bit ARM lacks (see `write_u64`).
    let count = |c: &Counter| u32::try_from(c.load(Relaxed)).unwrap_or(u32::MAX);
    let (queues, ports, buffers) = (
        count(&s.conn_active),
        count(&s.ports_live),
        count(&s.buffers_live),
    );
    if kernel::warn_on!(queues != 0 || ports != 0 || buffers != 0) {
        pr_err!("not freed at unload: {queues} queues, {ports} ports, {buffers} data buffers\n");
    }
}

/// Writes `v` in decimal with 32-bit arithmetic only: on 32-bit ARM the kernel has no 64-bit
/// division for Rust (`__aeabi_uldivmod` is a BUG stub), which `Display for u64` would call.
fn write_u64(f: &mut fmt::Formatter<'_>, mut v: u64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    loop {
        // Long division by 10 over 16-bit limbs, most significant first.
        let mut rem = 0u32;
        let mut q = 0u64;
        for shift in [48u32, 32, 16, 0] {
            let cur = (rem << 16) | ((v >> shift) as u32 & 0xffff);
            q |= u64::from(cur / 10) << shift;
            rem = cur % 10;
        }
        n -= 1;
        // `rem` is a decimal digit.
        digits[n] = b'0' + rem as u8;
        v = q;
        if v == 0 {
            break;
        }
    }
    // The digits are ASCII.
    f.write_str(core::str::from_utf8(&digits[n..]).unwrap_or("?"))
}
