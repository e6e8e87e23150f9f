// SPDX-License-Identifier: GPL-2.0

//! The transport as the nvmet core sees it: [`NvmetTcp`], whose [`Transport`] methods become
//! the `nvmet_fabrics_ops` table ([`OPS`]).

use crate::{
    ffi::{
        nvmet::{
            CtrlRef,
            Ops,
            PortRef,
            SqId, //
        },
        ops::{
            Transport,
            Vtable, //
        },
        req::Req,
        socket::SockAddr,
        sys,
    },
    port,
    proto::pdu::MAXH2CDATA,
    queue::{
        self,
        Queue, //
    },
};
use kernel::{
    prelude::*,
    sync::ArcBorrow, //
};

/// NVMe over TCP, as this module serves it.
pub(crate) struct NvmetTcp;

/// The transport's ops table.
pub(crate) static OPS: Ops = Vtable::<NvmetTcp>::OPS;

impl Transport for NvmetTcp {
    type Queue = Queue;
    const TYPE: u32 = sys::NVMF_TRTYPE_TCP;
    const MSDBD: u32 = 1;

    fn add_port(port: PortRef) -> Result {
        port::add(port)
    }

    fn remove_port(port: &PortRef) {
        port::remove(port);
    }

    fn queue_response(queue: ArcBorrow<'_, Queue>, req: &Req) {
        queue.queue_response(req);
    }

    fn install_queue(queue: ArcBorrow<'_, Queue>) -> u16 {
        queue.install()
    }

    fn delete_ctrl(ctrl: CtrlRef) {
        queue::delete_ctrl(ctrl);
    }

    /// The port's address, or for a wildcard port the local address of the connection the
    /// request came on.
    ///
    /// This may run after `remove_port` (a discovery log page that waited for the configuration
    /// lock while the port's last subsystem was unlinked), so it reads only the core's port,
    /// which configfs keeps until the port's directory goes, and the request's queue, which
    /// waits for its requests before it goes.
    fn disc_traddr(queue: ArcBorrow<'_, Queue>, port: &PortRef, out: &mut [u8]) {
        let any = SockAddr::parse(port.adrfam(), port.traddr(), port.trsvcid())
            .is_ok_and(|addr| addr.is_any());
        if any {
            queue.local_addr().format(out);
        } else {
            let src = port.traddr().to_bytes_with_nul();
            let len = src.len().min(out.len());
            out[..len].copy_from_slice(&src[..len]);
        }
    }

    /// The host's address for the controller's `host_traddr` attribute. The admin queue may
    /// be tearing down: it is looked up among the live queues rather than followed.
    fn host_traddr(ctrl: CtrlRef, admin_sq: SqId, out: &mut [u8]) -> Result<usize> {
        let peer = queue::peer_addr_of(ctrl, admin_sq).filter(|peer| peer.is_set());
        Ok(peer.ok_or(EINVAL)?.format(out))
    }

    /// 4 MiB, the most one command may carry here, in units of the minimum memory page size
    /// (4 KiB): 2^10. The C target advertises no limit but refuses more.
    fn get_mdts() -> u8 {
        const MPSMIN: u32 = 4096;
        (MAXH2CDATA / MPSMIN).ilog2() as u8
    }
}
