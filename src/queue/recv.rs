// SPDX-License-Identifier: GPL-2.0

//! The receive path: PDU headers into the queue's header buffer, PDU data straight into the
//! command's pages (see [`crate::placement`]).

use super::{
    IoState,
    Queue,
    RecvSide, //
};
use crate::{
    command::{
        CmdState,
        Life, //
    },
    ffi::{self, req::Req, sg::SgBuffer, socket::KvecList, sys},
    params, placement,
    proto::{
        self,
        digest::DataDigest,
        icreq,
        pdu::{
            self,
            ConnState,
            DataPdu,
            HostPdu,
            Layout,
            PduHeader, //
        },
        r2t::{
            self,
            DataPlan,
            H2cTransfer,
            TtagTarget,
            CONNECT_TTAG, //
        },
        sgl::{
            BodyEvent,
            Phase, //
        },
    },
    stats::STATS,
};
use kernel::{
    prelude::*,
    sync::{
        atomic::Relaxed,
        Arc, //
    },
};

impl Queue {
    /// Receives up to `budget` times. Returns whether the budget ran out with more perhaps
    /// left to read; otherwise the socket had nothing more (its next data queues the I/O work
    /// again) or nothing more is received.
    pub(super) fn try_recv(
        self: &Arc<Self>,
        io: &mut IoState,
        budget: u32,
        ops: &mut u32,
    ) -> Result<bool> {
        for _ in 0..budget {
            if io.recv.dead {
                return Ok(false);
            }
            let progress = match io.recv.rx.phase() {
                Phase::Header => self.recv_header(io)?,
                Phase::Data => self.recv_data(io)?,
                Phase::DataDigest => self.recv_ddgst(io)?,
            };
            if !progress {
                return Ok(false);
            }
            *ops += 1;
        }
        Ok(!io.recv.dead)
    }

    /// A fatal protocol error: nothing more is received, and the send path sends a
    /// C2HTermReq echoing the header of the PDU in error (as much of it as arrived), if the
    /// error has one, once the PDU it is sending is out; then the connection closes.
    fn protocol_error(self: &Arc<Self>, io: &mut IoState, err: proto::Error) -> Result<bool> {
        STATS.protocol_errors.add(1, Relaxed);
        if ffi::warn_ratelimit() {
            pr_err!("queue {}: protocol error {:?}\n", self.idx, err);
        }
        let echo = io.recv.hdr.get(..io.recv.echo).unwrap_or(&[]);
        io.tx.terminate(err, echo);
        io.recv.dead = true;
        self.as_arc_borrow().start_termination();
        Ok(false)
    }

    fn recv_header(self: &Arc<Self>, io: &mut IoState) -> Result<bool> {
        let filled = io.recv.rx.filled();
        let want = io.recv.rx.remaining();
        let Some(buf) = io.recv.hdr.get_mut(filled..filled + want) else {
            return self.protocol_error(io, proto::Error::BufferSize);
        };
        let n = self.sock.recv_slice(buf)?;
        if n == 0 {
            return Ok(false);
        }
        io.recv.echo = filled + n;
        let hdr = io.recv.hdr.get(..filled + n).unwrap_or(&[]);
        match io.recv.rx.header_received(n, hdr, io.conn) {
            Err(e) => self.protocol_error(io, e),
            Ok(None) => Ok(true),
            Ok(Some(layout)) => {
                self.handle_header(io, layout)?;
                Ok(true)
            }
        }
    }

    fn handle_header(self: &Arc<Self>, io: &mut IoState, layout: Layout) -> Result {
        // Errors about this PDU, also in its data, echo its whole header.
        io.recv.echo = layout.header_len();
        let hdr = io.recv.hdr.get(..layout.header_len()).unwrap_or(&[]);
        let pdu = match HostPdu::decode::<ffi::KernelCrc>(hdr, &layout) {
            Ok(pdu) => pdu,
            Err(e) => {
                if e == proto::Error::HeaderDigest {
                    STATS.hdgst_errors.add(1, Relaxed);
                }
                return self.protocol_error(io, e).map(|_| ());
            }
        };
        match pdu {
            HostPdu::IcReq(req) => {
                STATS.rx_icreq.add(1, Relaxed);
                let neg = match icreq::negotiate(&req) {
                    Ok(neg) => neg,
                    Err(e) => return self.protocol_error(io, e).map(|_| ()),
                };
                let resp = icreq::icresp(neg);
                io.send.ctrl_len = resp.encode(&mut io.send.ctrl).map_err(|_| EINVAL)?;
                io.send.ctrl_sent = 0;
                STATS.tx_icresp.add(1, Relaxed);
                if !self.set_live() {
                    // Teardown has started.
                    io.recv.dead = true;
                    return Err(ESHUTDOWN);
                }
                self.as_arc_borrow().await_connect();
                io.conn = ConnState::Live(neg);
                Ok(())
            }
            HostPdu::TermReq(term) => {
                STATS.rx_h2c_term.add(1, Relaxed);
                if ffi::warn_ratelimit() {
                    pr_info!(
                        "queue {}: host terminated the connection: FES {:#x}, FEI {:#x}\n",
                        self.idx,
                        term.fes,
                        term.fei
                    );
                }
                io.recv.dead = true;
                Err(ECONNRESET)
            }
            HostPdu::Cmd(capsule) => {
                STATS.rx_cmd.add(1, Relaxed);
                self.handle_cmd(io, &capsule.sqe, layout.data_len)
            }
            HostPdu::Data(data) => {
                STATS.rx_h2c_data.add(1, Relaxed);
                self.handle_h2c_data(io, &data)
            }
        }
    }

    /// A command capsule with `incapsule_len` bytes of data after it.
    fn handle_cmd(
        self: &Arc<Self>,
        io: &mut IoState,
        sqe: &[u8; 64],
        incapsule_len: u32,
    ) -> Result {
        io.recv.cmd = None;
        io.recv.offset = 0;
        io.recv.digest = DataDigest::new();
        self.take_new_slots(io);
        let cid = r2t::command_id(sqe);
        let Some((tag, cmd)) = io.cmds.take(cid).and_then(|t| Some((t, self.req(t)?))) else {
            if ffi::warn_ratelimit() {
                pr_err!("queue {}: more commands than the queue holds\n", self.idx);
            }
            return self
                .protocol_error(io, proto::Error::PduSequence)
                .map(|_| ());
        };
        // SAFETY: The pair is this queue's, which the table `init` was given (whose ops find a
        // `Queue` from a pair, by `init`'s contract) finds from it; only the teardown destroys it, after cancelling the I/O work that
        // runs this. The request is the queue's, which outlives the pair's destruction.
        let accepted = unsafe { cmd.init(sqe, &self.pair, self.nport, super::ops()?) }?;
        let Some(st) = io.cmds.get(tag) else {
            return Ok(());
        };
        st.held = r2t::held_until_event(sqe, self.pair.qid());
        if !accepted {
            // The core completed the command already; skip its data, if any, then send the
            // response.
            st.life = Life::InitFailed;
            if incapsule_len == 0 {
                io.cmds.push(&mut io.send.ready, tag);
            } else {
                io.recv.cmd = Some(tag);
            }
            return Ok(());
        }
        let plan = match r2t::plan_data(sqe, incapsule_len, self.incapsule_limit(sqe)) {
            Ok(plan) => plan,
            Err(status) => {
                // Any in-capsule data is skipped.
                st.life = Life::Executing;
                cmd.complete(status);
                return Ok(());
            }
        };
        // Nothing is allocated for more data than the command itself moves.
        let expected = cmd.transfer_len();
        if let Err(status) = r2t::check_transfer_len(sqe, self.pair.qid(), plan, expected) {
            // Any in-capsule data is skipped.
            st.life = Life::Executing;
            cmd.complete(status);
            return Ok(());
        }
        st.plan = plan;
        match plan {
            DataPlan::None => {
                st.life = Life::Executing;
                execute(cmd, st, 0);
            }
            DataPlan::FromHost(len) => {
                // The send path allocates the buffer and sends the R2T when the queue's bound
                // on solicited data allows.
                st.h2c = H2cTransfer::new(cid, len);
                io.cmds.push(&mut io.send.r2t_wait, tag);
            }
            DataPlan::InCapsule(len) | DataPlan::ToHost(len) => {
                let Ok(buf) = SgBuffer::alloc(len, params::highmem_buffers()) else {
                    // Any in-capsule data is skipped.
                    st.life = Life::Executing;
                    cmd.complete(sys::NVME_SC_INTERNAL as u16);
                    return Ok(());
                };
                st.buf = Some(buf);
                if let DataPlan::InCapsule(_) = plan {
                    st.h2c = H2cTransfer::in_capsule(cid, len);
                    io.recv.cmd = Some(tag);
                } else {
                    st.life = Life::Executing;
                    execute(cmd, st, len);
                }
            }
        }
        Ok(())
    }

    /// The most in-capsule data a command may carry. The admin queue's capsules are 8 KiB
    /// whatever the port says, and hosts send Fabrics commands (Connect) in-capsule up to that
    /// on every queue: the C target refuses those when `inline_data_size` is 0.
    fn incapsule_limit(&self, sqe: &[u8; 64]) -> u32 {
        const ADMIN_CAPSULE_DATA: u32 = 8192;
        let port = self.inline_data_size();
        if sqe[0] == r2t::NVME_FABRICS_COMMAND || self.pair.qid() == 0 {
            port.max(ADMIN_CAPSULE_DATA)
        } else {
            port
        }
    }

    /// An H2CData header: find the command by its transfer tag and check the data against it.
    fn handle_h2c_data(self: &Arc<Self>, io: &mut IoState, data: &DataPdu) -> Result {
        let tag = match r2t::lookup_ttag(data.ttag, io.cmds.nr()) {
            Ok(TtagTarget::Connect) => CONNECT_TTAG,
            Ok(TtagTarget::Slot(i)) => i,
            Err(e) => return self.protocol_error(io, e).map(|_| ()),
        };
        let Some(st) = io.cmds.get(tag) else {
            return self.protocol_error(io, tag_error()).map(|_| ());
        };
        // Data for a command that is not waiting for any is refused, and so is data before
        // the command's R2T is all on the wire (`H2cTransfer::accept`).
        if st.life != Life::AwaitData {
            return self.protocol_error(io, tag_error()).map(|_| ());
        }
        match st.h2c.accept(data) {
            // The buffer exists once the R2T was built; the C target once dereferenced a NULL
            // buffer here (CVE-2026-22998), so check anyway.
            Ok(_) if st.buf.is_none() => self.protocol_error(io, tag_error()).map(|_| ()),
            Ok(accepted) => {
                io.recv.cmd = Some(tag);
                io.recv.offset = accepted.offset;
                io.recv.digest = DataDigest::new();
                Ok(())
            }
            Err(e) => self.protocol_error(io, e).map(|_| ()),
        }
    }

    fn recv_data(self: &Arc<Self>, io: &mut IoState) -> Result<bool> {
        let left = io.recv.rx.remaining();
        let offset = io.recv.offset;
        let ddgst = io.recv.rx.layout().is_some_and(|l| l.ddgst);
        let target = io
            .recv
            .cmd
            .and_then(|tag| io.cmds.get(tag))
            .filter(|st| st.life == Life::AwaitData);
        let received = match target {
            Some(st) => match st.buf.as_mut() {
                Some(buf) => self.recv_into(&mut io.recv, buf, offset, left as u32, ddgst),
                None => Err(RecvError::Proto(proto::Error::BufferSize)),
            },
            // Data of a command that was refused: drop it unread.
            None => {
                let n = self.sock.recv_discard(left)?;
                STATS.discard_recvs.add(1, Relaxed);
                STATS.bytes_discarded.add(n as u64, Relaxed);
                Ok(n)
            }
        };
        let n = match received {
            Ok(n) => n,
            Err(RecvError::Socket(e)) => return Err(e),
            Err(RecvError::Proto(e)) => return self.protocol_error(io, e),
        };
        if n == 0 {
            return Ok(false);
        }
        // `n` is at most `left`, a `u32`.
        io.recv.offset = io.recv.offset.wrapping_add(n as u32);
        match io.recv.rx.body_received(n) {
            Err(e) => self.protocol_error(io, e),
            Ok(BodyEvent::More | BodyEvent::DataDone) => Ok(true),
            Ok(BodyEvent::PduDone) => {
                self.data_done(io);
                Ok(true)
            }
        }
    }

    /// Receives up to `len` bytes of data at `offset` of `buf`: lowmem pages directly through
    /// `page_address()`, a highmem page through a local mapping. Feeds the data digest.
    fn recv_into(
        &self,
        recv: &mut RecvSide,
        buf: &mut SgBuffer,
        offset: u32,
        len: u32,
        ddgst: bool,
    ) -> Result<usize, RecvError> {
        let mut highmem = None;
        let mut list = KvecList::new(&mut recv.iov);
        for chunk in placement::chunks(buf, offset, len)? {
            match chunk.into_direct() {
                Ok(mem) => {
                    if !list.push(mem) {
                        break;
                    }
                }
                Err(chunk) => {
                    if list.total() == 0 {
                        highmem = Some(chunk);
                    }
                    break;
                }
            }
        }
        if let Some(chunk) = highmem {
            drop(list);
            let n = chunk.with_mapped(|mem| -> Result<usize, RecvError> {
                let n = self.sock.recv_slice(mem).map_err(RecvError::Socket)?;
                if ddgst {
                    recv.digest.update(mem.get(..n).unwrap_or(&[]));
                }
                Ok(n)
            })?;
            STATS.bytes_highmem.add(n as u64, Relaxed);
            return Ok(n);
        }
        let n = self.sock.recv(&mut list).map_err(RecvError::Socket)?;
        drop(list);
        if ddgst && n > 0 {
            // `n` is at most `len`; these are lowmem pages (a highmem one went above).
            for chunk in placement::chunks(buf, offset, n as u32)? {
                if let Ok(mem) = chunk.into_direct() {
                    recv.digest.update(mem);
                }
            }
        }
        STATS.bytes_direct.add(n as u64, Relaxed);
        Ok(n)
    }

    fn recv_ddgst(self: &Arc<Self>, io: &mut IoState) -> Result<bool> {
        let filled = io.recv.rx.filled();
        let want = io.recv.rx.remaining();
        let Some(buf) = io.recv.ddgst.get_mut(filled..filled + want) else {
            return self.protocol_error(io, proto::Error::BufferSize);
        };
        let n = self.sock.recv_slice(buf)?;
        if n == 0 {
            return Ok(false);
        }
        match io.recv.rx.body_received(n) {
            Err(e) => self.protocol_error(io, e),
            Ok(BodyEvent::PduDone) => {
                let matches = io.recv.digest.matches(io.recv.ddgst);
                let target = io.recv.cmd.and_then(|tag| io.cmds.get(tag));
                if let Some(st) = target.filter(|st| !matches && st.life == Life::AwaitData) {
                    STATS.ddgst_errors.add(1, Relaxed);
                    if ffi::warn_ratelimit() {
                        pr_warn!(
                            "queue {}: data digest error on command {}: failing it\n",
                            self.idx,
                            st.cid
                        );
                    }
                    st.data_error = true;
                }
                self.data_done(io);
                Ok(true)
            }
            Ok(_) => Ok(true),
        }
    }

    /// The data of a PDU (and its digest) is in.
    fn data_done(&self, io: &mut IoState) {
        io.recv.digest = DataDigest::new();
        let Some(tag) = io.recv.cmd.take() else {
            return;
        };
        let (Some(st), Some(cmd)) = (io.cmds.get(tag), self.req(tag)) else {
            return;
        };
        match st.life {
            // The refused command's data is skipped: now send its response.
            Life::InitFailed => io.cmds.push(&mut io.send.ready, tag),
            Life::AwaitData if st.h2c.is_complete() => {
                st.life = Life::Executing;
                if let DataPlan::FromHost(len) = st.plan {
                    // The data asked for by its R2T is all in.
                    io.send.r2t_budget.release(len);
                }
                if st.data_error {
                    cmd.complete(sys::NVME_SC_TRANSIENT_TR_ERR as u16);
                } else {
                    execute(cmd, st, st.plan.len());
                }
            }
            _ => {}
        }
    }
}

/// Hands a command whose data is in place to the core, with its buffer.
fn execute(req: &Req, st: &mut CmdState, len: u32) {
    if let Err(buf) = req.execute(st.buf.take(), len) {
        // Not initialised, against the command's life: keep the buffer, which goes with the
        // command.
        st.buf = buf;
    }
}

/// The error for a transfer tag that names no command waiting for data.
fn tag_error() -> proto::Error {
    proto::Error::InvalidHeaderField(pdu::OFF_TTAG)
}

/// Why a data receive failed.
enum RecvError {
    Socket(Error),
    Proto(proto::Error),
}

impl From<proto::Error> for RecvError {
    fn from(e: proto::Error) -> Self {
        Self::Proto(e)
    }
}
