// SPDX-License-Identifier: GPL-2.0

//! Kernel TCP sockets: a listener per port and one connected socket per queue.
//!
//! C header: [`include/linux/net.h`](srctree/include/linux/net.h)

use super::sys;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    error::to_result,
    prelude::*,
    sync::{
        atomic::{
            Atomic,
            Relaxed, //
        },
        Arc,
        ArcBorrow, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    },
};

/// A socket address (IPv4 or IPv6), as the C `struct sockaddr_storage`.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr(sys::__kernel_sockaddr_storage);

// SAFETY: An address is plain bytes; the pointer that the C union has for alignment is never
// used.
unsafe impl Send for SockAddr {}
// SAFETY: Shared use only reads the bytes; the union's pointer member is never used.
unsafe impl Sync for SockAddr {}

impl SockAddr {
    /// Parses a configfs address: `adrfam` is the NVMe-oF address family, `traddr` and
    /// `trsvcid` NUL-terminated strings.
    pub(crate) fn parse(adrfam: u8, traddr: &CStr, trsvcid: &CStr) -> Result<Self> {
        let mut addr = Self::zeroed();
        // SAFETY: Both strings are NUL-terminated and `addr` is valid for writes.
        to_result(unsafe {
            sys::nvmet_tcp_rs_addr_parse(
                adrfam,
                traddr.as_char_ptr(),
                trsvcid.as_char_ptr(),
                &mut addr.0,
            )
        })?;
        Ok(addr)
    }

    fn zeroed() -> Self {
        // SAFETY: All-zeroes is a valid (AF_UNSPEC) `sockaddr_storage`.
        Self(unsafe { core::mem::zeroed() })
    }

    /// Whether this is the wildcard address (`0.0.0.0` or `::`).
    pub(crate) fn is_any(&self) -> bool {
        let mut copy = *self;
        // SAFETY: `copy` is a valid address; the function only reads it.
        unsafe { sys::nvmet_tcp_rs_addr_is_any(&mut copy.0) }
    }

    /// Whether an address is set at all.
    pub(crate) fn is_set(&self) -> bool {
        self.family() != sys::AF_UNSPEC as i32
    }

    fn family(&self) -> i32 {
        // SAFETY: Every variant of the union starts with the address family.
        i32::from(unsafe { self.0.__bindgen_anon_1.__bindgen_anon_1.ss_family })
    }

    /// Writes the address as text (`%pISc`) into `buf`, NUL-terminated and truncated to fit;
    /// returns the length it wanted, like `snprintf`.
    pub(crate) fn format(&self, buf: &mut [u8]) -> usize {
        // SAFETY: `buf` is valid for writes of its length; `snprintf` never writes more.
        let n =
            unsafe { sys::nvmet_tcp_rs_addr_format(buf.as_mut_ptr().cast(), buf.len(), &self.0) };
        usize::try_from(n).unwrap_or(0)
    }
}

/// What a port does when its listener has a connection waiting (softirq context, under the
/// socket's callback lock).
pub(crate) trait ListenerOwner: Send + Sync + 'static {
    /// A connection waits to be accepted.
    fn accept_ready(this: ArcBorrow<'_, Self>);
}

/// What a queue does on its connection's events.
pub(crate) trait ConnOwner: Send + Sync + 'static {
    /// Data arrived, or there is room to send (softirq context, under the callback lock).
    fn io_ready(this: ArcBorrow<'_, Self>);
    /// The connection closes (softirq context, under the callback lock).
    fn closed(this: ArcBorrow<'_, Self>);
    /// The callbacks are installed; still under the callback lock, held for writing.
    fn attached(this: ArcBorrow<'_, Self>);
}

/// The callbacks of owner type `T`, as the C callbacks call them.
struct Callbacks<T>(PhantomData<T>);

impl<T: Send + Sync + 'static> Callbacks<T> {
    /// The owner the C callbacks pass.
    ///
    /// # Safety
    ///
    /// `owner` must be what an attach of a `Socket<T>` stored (`Arc::<T>::into_foreign`),
    /// with the socket's callback lock held, so that `detach` cannot take it back meanwhile.
    unsafe fn owner<'a>(owner: *mut c_void) -> ArcBorrow<'a, T> {
        // SAFETY: As the function's contract says, `owner` is an `Arc<T>` that stays attached
        // for the call.
        unsafe { <Arc<T> as ForeignOwnable>::borrow(owner) }
    }
}

impl<T: ListenerOwner> Callbacks<T> {
    const LISTENER: sys::nvmet_tcp_rs_sk_ops = sys::nvmet_tcp_rs_sk_ops {
        ready: Some(Self::accept_ready),
        closed: None,
        attached: None,
    };

    /// # Safety
    ///
    /// Called by the shim's listener callback with the owner `attach_listener` stored, under
    /// the callback lock.
    unsafe extern "C" fn accept_ready(owner: *mut c_void) {
        // SAFETY: The shim passes the attached owner of a `Socket<T>` with the lock held.
        T::accept_ready(unsafe { Self::owner(owner) });
    }
}

impl<T: ConnOwner> Callbacks<T> {
    const CONN: sys::nvmet_tcp_rs_sk_ops = sys::nvmet_tcp_rs_sk_ops {
        ready: Some(Self::io_ready),
        closed: Some(Self::closed),
        attached: Some(Self::attached),
    };

    /// # Safety
    ///
    /// Called by the shim's callbacks with the owner `attach_queue` stored, under the
    /// callback lock.
    unsafe extern "C" fn io_ready(owner: *mut c_void) {
        // SAFETY: The shim passes the attached owner of a `Socket<T>` with the lock held.
        T::io_ready(unsafe { Self::owner(owner) });
    }

    /// # Safety
    ///
    /// As for `io_ready`.
    unsafe extern "C" fn closed(owner: *mut c_void) {
        // SAFETY: The shim passes the attached owner of a `Socket<T>` with the lock held.
        T::closed(unsafe { Self::owner(owner) });
    }

    /// # Safety
    ///
    /// Called by `nvmet_tcp_rs_sock_attach_queue` with the owner it just stored, under the
    /// callback lock held for writing.
    unsafe extern "C" fn attached(owner: *mut c_void) {
        // SAFETY: The shim passes the owner it just attached, with the lock held.
        T::attached(unsafe { Self::owner(owner) });
    }
}

/// A kernel socket, released on drop, whose callbacks hold a reference on the object `T` that
/// owns the socket while they are installed.
///
/// # Invariants
///
/// - `ptr` is a valid `struct socket` that this object owns.
/// - While `hooks` is attached (the socket's `sk_user_data` points to it), its `owner` is a
///   pointer from `Arc::<T>::into_foreign`, which only [`Socket::detach`] turns back, and its
///   `ops` are `Callbacks::<T>`'s.
pub(crate) struct Socket<T: Send + Sync + 'static> {
    ptr: NonNull<sys::socket>,
    hooks: KBox<Opaque<sys::nvmet_tcp_rs_sk_hooks>>,
    /// A send would have blocked since [`Socket::take_send_stall`] last looked.
    blocked: Atomic<bool>,
    _owner: PhantomData<Arc<T>>,
}

// SAFETY: Kernel sockets do their own locking and may be used from any thread; the owner's
// reference only leaves the socket through `detach`, and `Arc<T>` is `Send`.
unsafe impl<T: Send + Sync + 'static> Send for Socket<T> {}
// SAFETY: Kernel sockets do their own locking; the owner's reference is used by callbacks on
// any CPU, and `Arc<T>` is `Sync`.
unsafe impl<T: Send + Sync + 'static> Sync for Socket<T> {}

/// Flags for sends.
#[derive(Clone, Copy)]
pub(crate) struct SendFlags {
    /// More data follows right away (`MSG_MORE`); otherwise the end of a record (`MSG_EOR`).
    pub(crate) more: bool,
}

impl SendFlags {
    fn raw(self) -> u32 {
        sys::MSG_DONTWAIT
            | sys::MSG_NOSIGNAL
            | if self.more {
                sys::MSG_MORE
            } else {
                sys::MSG_EOR
            }
    }
}

/// Maps the result of a non-blocking socket call: `Ok(0)` when it would block.
fn nonblocking(ret: i32) -> Result<usize> {
    if ret == -(sys::EAGAIN as i32) {
        return Ok(0);
    }
    to_result(ret)?;
    Ok(usize::try_from(ret).unwrap_or(0))
}

impl<T: Send + Sync + 'static> Socket<T> {
    /// The hooks that [`Socket::attach_queue`] and [`Socket::attach_listener`] install.
    fn new_hooks() -> Result<KBox<Opaque<sys::nvmet_tcp_rs_sk_hooks>>> {
        Ok(KBox::new(Opaque::zeroed(), GFP_KERNEL)?)
    }

    /// Takes ownership of a socket; releases it if that fails.
    fn from_raw(ptr: *mut sys::socket) -> Result<Self> {
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        let Ok(hooks) = Self::new_hooks() else {
            // SAFETY: We own the socket, which nothing else knows yet.
            unsafe { sys::sock_release(ptr.as_ptr()) };
            return Err(ENOMEM);
        };
        Ok(Self::with_hooks(ptr, hooks))
    }

    /// Takes ownership of a socket, with its hooks.
    fn with_hooks(
        ptr: NonNull<sys::socket>,
        hooks: KBox<Opaque<sys::nvmet_tcp_rs_sk_hooks>>,
    ) -> Self {
        // INVARIANT: The caller gave us the socket; the hooks are not attached.
        Self {
            ptr,
            hooks,
            blocked: Atomic::new(false),
            _owner: PhantomData,
        }
    }

    /// Creates a TCP socket listening on `addr` with the given backlog.
    pub(crate) fn listen(addr: &SockAddr, backlog: i32, priority: i32) -> Result<Self> {
        let mut ptr = core::ptr::null_mut();
        // SAFETY: `ptr` is valid for writes.
        to_result(unsafe {
            sys::sock_create(
                addr.family(),
                sys::sock_type_SOCK_STREAM as i32,
                sys::IPPROTO_TCP as i32,
                &mut ptr,
            )
        })?;
        // `sock_create` succeeded, so we own a valid socket.
        let sock = Self::from_raw(ptr)?;
        // SAFETY: The socket is valid.
        unsafe { sys::nvmet_tcp_rs_sock_setup_listener(sock.ptr.as_ptr(), priority) };
        let mut storage = addr.0;
        let len = core::mem::size_of_val(&storage) as i32;
        // SAFETY: The socket and the address are valid; `kernel_bind` copies the address.
        to_result(unsafe { sys::kernel_bind(sock.ptr.as_ptr(), (&raw mut storage).cast(), len) })?;
        // SAFETY: The socket is valid and bound.
        to_result(unsafe { sys::kernel_listen(sock.ptr.as_ptr(), backlog) })?;
        Ok(sock)
    }

    /// Accepts a pending connection without blocking; `None` when there is none. Memory is
    /// allocated before the connection leaves the backlog: when that fails, it stays there
    /// for a later call (a connection dropped after it left would leave its host waiting if
    /// the reset could not be sent either).
    pub(crate) fn accept<Q: Send + Sync + 'static>(&self) -> Result<Option<Socket<Q>>> {
        let hooks = Socket::<Q>::new_hooks()?;
        let mut ptr = core::ptr::null_mut();
        // SAFETY: The socket is valid and `ptr` is valid for writes.
        let ret =
            unsafe { sys::kernel_accept(self.ptr.as_ptr(), &mut ptr, sys::O_NONBLOCK as i32) };
        if ret == -(sys::EAGAIN as i32) {
            return Ok(None);
        }
        to_result(ret)?;
        // `kernel_accept` succeeded and gave us a new socket.
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        Ok(Some(Socket::with_hooks(ptr, hooks)))
    }

    /// Applies the per-connection options: no linger, priority, and the peer's TOS.
    pub(crate) fn setup_connection(&self, priority: i32) {
        // SAFETY: The socket is valid.
        unsafe { sys::nvmet_tcp_rs_sock_setup_queue(self.ptr.as_ptr(), priority) };
    }

    /// Returns the local and the peer address of a connected socket.
    pub(crate) fn addresses(&self) -> Result<(SockAddr, SockAddr)> {
        let mut local = SockAddr::zeroed();
        let mut peer = SockAddr::zeroed();
        // SAFETY: The socket is valid, and the storage is large enough for any address.
        let ret = unsafe { sys::kernel_getsockname(self.ptr.as_ptr(), (&raw mut local.0).cast()) };
        to_result(ret.min(0))?;
        // SAFETY: The socket is valid, and the storage is large enough for any address.
        let ret = unsafe { sys::kernel_getpeername(self.ptr.as_ptr(), (&raw mut peer.0).cast()) };
        to_result(ret.min(0))?;
        Ok((local, peer))
    }

    /// Installs the listener's `data_ready` callback, which calls `T::accept_ready`. The
    /// socket holds `owner` until [`Socket::detach`]; it is given back if the socket has
    /// callbacks installed already.
    pub(crate) fn attach_listener(&self, owner: Arc<T>) -> Result<(), Arc<T>>
    where
        T: ListenerOwner,
    {
        let ptr = owner.into_foreign();
        // SAFETY: The socket is valid; the hooks live as long as it (type invariant), which
        // detaches them before it is released; the ops are a constant's promoted static.
        let ret = unsafe {
            sys::nvmet_tcp_rs_sock_attach_listener(
                self.ptr.as_ptr(),
                self.hooks.get(),
                ptr,
                &Callbacks::<T>::LISTENER,
            )
        };
        if ret != 0 {
            // SAFETY: From `into_foreign` above; the shim did not keep it.
            return Err(unsafe { <Arc<T> as ForeignOwnable>::from_foreign(ptr) });
        }
        Ok(())
    }

    /// Installs a queue's callbacks, which call `T::io_ready` and `T::closed`, and
    /// `T::attached` at once, still under the callback lock. The socket holds `owner` until
    /// [`Socket::detach`]. Fails, giving `owner` back, when the connection is already closing
    /// or the callbacks are installed already.
    ///
    /// For an accepted socket: what it inherited from its listener is overwritten.
    pub(crate) fn attach_queue(&self, owner: Arc<T>) -> Result<(), Arc<T>>
    where
        T: ConnOwner,
    {
        let ptr = owner.into_foreign();
        // SAFETY: The socket is valid; the hooks live as long as it (type invariant), which
        // detaches them before it is released; the ops are a constant's promoted static.
        let ret = unsafe {
            sys::nvmet_tcp_rs_sock_attach_queue(
                self.ptr.as_ptr(),
                self.hooks.get(),
                ptr,
                &Callbacks::<T>::CONN,
            )
        };
        if ret != 0 {
            // SAFETY: From `into_foreign` above; the shim did not keep it.
            return Err(unsafe { <Arc<T> as ForeignOwnable>::from_foreign(ptr) });
        }
        Ok(())
    }

    /// Restores the saved callbacks and gives back the owner's reference, if attached. Once
    /// this returns, none of the module's callbacks runs for this socket any more.
    pub(crate) fn detach(&self) -> Option<Arc<T>> {
        // SAFETY: The socket and the hooks are valid; the shim checks that they belong together.
        let ptr = unsafe { sys::nvmet_tcp_rs_sock_detach(self.ptr.as_ptr(), self.hooks.get()) };
        // SAFETY: A non-NULL owner was stored by an attach from `Arc::<T>::into_foreign` (type
        // invariant), and the shim cleared it: it is turned back once.
        (!ptr.is_null()).then(|| unsafe { <Arc<T> as ForeignOwnable>::from_foreign(ptr) })
    }

    /// The CPU that receives this connection's packets, or [`super::work::ANY_CPU`].
    pub(crate) fn cpu(&self) -> i32 {
        // SAFETY: The socket is valid.
        unsafe { sys::nvmet_tcp_rs_sock_cpu(self.ptr.as_ptr()) }
    }

    /// Whether a send would have blocked, since the last call, while nothing is in flight:
    /// the kernel could not allocate a buffer, not a full socket. TCP then calls the
    /// write-space callback at once (for edge-triggered pollers), so trying again right away
    /// would spin for as long as the memory is short.
    pub(crate) fn take_send_stall(&self) -> bool {
        // SAFETY: The socket is valid.
        self.blocked.xchg(false, Relaxed)
            && unsafe { sys::nvmet_tcp_rs_sock_idle(self.ptr.as_ptr()) }
    }

    /// Maps the result of a non-blocking send, noting when it would have blocked.
    fn sent(&self, ret: i32) -> Result<usize> {
        if ret == -(sys::EAGAIN as i32) {
            self.blocked.store(true, Relaxed);
        }
        nonblocking(ret)
    }

    /// Makes the release of the socket a graceful close, which delivers what is queued,
    /// instead of the reset that [`Socket::setup_connection`] asks for.
    pub(crate) fn deliver_on_close(&self) {
        // SAFETY: The socket is valid.
        unsafe { sys::nvmet_tcp_rs_sock_linger_default(self.ptr.as_ptr()) };
    }

    /// Shuts both directions down; the state-change callback then starts the teardown.
    pub(crate) fn shutdown(&self) {
        // SAFETY: The socket is valid.
        unsafe { sys::kernel_sock_shutdown(self.ptr.as_ptr(), sys::sock_shutdown_cmd_SHUT_RDWR) };
    }

    /// Receives into the buffers without blocking. Returns the bytes received, `Ok(0)` when
    /// nothing is there, and `Err(ECONNRESET)` when the peer closed the connection.
    pub(crate) fn recv(&self, iov: &mut KvecList<'_>) -> Result<usize> {
        let len = iov.len;
        // SAFETY: The first `nr` kvecs point to memory borrowed mutably by `iov` for its
        // lifetime (`KvecList::push`).
        unsafe { self.recv_raw(iov.vecs.0.as_mut_ptr(), iov.nr, len) }
    }

    /// Receives into one buffer without blocking, like [`Socket::recv`].
    pub(crate) fn recv_slice(&self, buf: &mut [u8]) -> Result<usize> {
        let mut vec = sys::kvec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: The kvec points to `buf`, borrowed mutably for the call.
        unsafe { self.recv_raw(&mut vec, 1, buf.len()) }
    }

    /// # Safety
    ///
    /// `vecs` must point to `nr` kvecs describing `len` bytes of writable memory.
    unsafe fn recv_raw(&self, vecs: *mut sys::kvec, nr: usize, len: usize) -> Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: A zeroed `msghdr` is a valid empty message.
        let mut msg: sys::msghdr = unsafe { core::mem::zeroed() };
        // SAFETY: The socket is valid, and the caller guarantees the kvecs are writable.
        let ret = unsafe {
            sys::kernel_recvmsg(
                self.ptr.as_ptr(),
                &mut msg,
                vecs,
                nr,
                len,
                sys::MSG_DONTWAIT as i32,
            )
        };
        match nonblocking(ret)? {
            0 if ret == 0 => Err(ECONNRESET),
            n => Ok(n),
        }
    }

    /// Receives and drops up to `len` bytes without copying them, without blocking. Returns
    /// the bytes dropped, like [`Socket::recv`].
    pub(crate) fn recv_discard(&self, len: usize) -> Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: The socket is valid; the data goes to a discarding iterator, nowhere in
        // memory.
        let ret = unsafe { sys::nvmet_tcp_rs_sock_recv_discard(self.ptr.as_ptr(), len) };
        match nonblocking(ret)? {
            0 if ret == 0 => Err(ECONNRESET),
            n => Ok(n),
        }
    }

    /// Sends `data` without blocking; returns the bytes sent (`0` when it would block).
    pub(crate) fn send(&self, data: &[u8], flags: SendFlags) -> Result<usize> {
        // SAFETY: A zeroed `msghdr` is a valid empty message.
        let mut msg: sys::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_flags = flags.raw();
        let mut vec = sys::kvec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        // SAFETY: The socket is valid and the kvec points to `data`, which `kernel_sendmsg` only
        // reads (it copies into the socket buffer).
        self.sent(unsafe {
            sys::kernel_sendmsg(self.ptr.as_ptr(), &mut msg, &mut vec, 1, data.len())
        })
    }

    /// Sends `len` bytes at `offset` of the page of the scatterlist entry `sg` without copying:
    /// the socket takes a reference on the page. Returns the bytes sent (`0` if it would block),
    /// or `EINVAL` for a range outside the entry or an entry without a page.
    pub(crate) fn send_page(
        &self,
        sg: &sys::scatterlist,
        offset: u32,
        len: u32,
        flags: SendFlags,
    ) -> Result<usize> {
        if offset.checked_add(len).is_none_or(|end| end > sg.length) {
            return Err(EINVAL);
        }
        let page = super::sg::sg_page(sg).ok_or(EINVAL)?;
        let bvec = sys::bio_vec {
            bv_page: page.as_ptr(),
            bv_len: len,
            bv_offset: sg.offset + offset,
        };
        // SAFETY: A zeroed `msghdr` is a valid empty message.
        let mut msg: sys::msghdr = unsafe { core::mem::zeroed() };
        msg.msg_flags = flags.raw() | sys::MSG_SPLICE_PAGES;
        // SAFETY: `msg.msg_iter` is valid for writes, and `bvec` describes live memory of the
        // page of `sg`: `offset + len` is within the entry (checked above), and the entry
        // within its page.
        unsafe { sys::iov_iter_bvec(&mut msg.msg_iter, sys::ITER_SOURCE, &bvec, 1, len as usize) };
        // SAFETY: The socket is valid; with `MSG_SPLICE_PAGES` it takes page references for
        // whatever it keeps, so the page may be freed by its owner after this returns.
        self.sent(unsafe { sys::sock_sendmsg(self.ptr.as_ptr(), &mut msg) })
    }
}

impl<T: Send + Sync + 'static> Drop for Socket<T> {
    fn drop(&mut self) {
        // Normally detached already: an attached socket's owner keeps it alive.
        drop(self.detach());
        // SAFETY: We own the socket (type invariant).
        unsafe { sys::sock_release(self.ptr.as_ptr()) };
    }
}

/// Room for the receive buffers of one [`Socket::recv`], kept in the object that receives so
/// that the receive path does not allocate.
pub(crate) struct KvecStorage([sys::kvec; RECV_SEGS]);

// SAFETY: Between receive calls the kvecs hold stale pointers that nothing dereferences: a
// [`KvecList`] fills them for one call, and clears them when it is dropped.
unsafe impl Send for KvecStorage {}

/// Most receive buffers of one receive call: 256 KiB in 4 KiB pages.
pub(crate) const RECV_SEGS: usize = 64;

/// Empty storage for a [`KvecList`].
pub(crate) const fn kvec_storage() -> KvecStorage {
    KvecStorage(
        [sys::kvec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }; RECV_SEGS],
    )
}

/// A list of receive buffers for one [`Socket::recv`].
pub(crate) struct KvecList<'a> {
    vecs: &'a mut KvecStorage,
    nr: usize,
    len: usize,
}

impl<'a> KvecList<'a> {
    /// Starts an empty list in `storage` (whose size bounds the number of buffers).
    pub(crate) fn new(storage: &'a mut KvecStorage) -> Self {
        Self {
            vecs: storage,
            nr: 0,
            len: 0,
        }
    }

    /// Adds a buffer; returns `false` (and adds nothing) when the list is full.
    pub(crate) fn push(&mut self, buf: &'a mut [u8]) -> bool {
        let Some(slot) = self.vecs.0.get_mut(self.nr) else {
            return false;
        };
        *slot = sys::kvec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        self.nr += 1;
        self.len += buf.len();
        true
    }

    /// The total length of the buffers.
    pub(crate) fn total(&self) -> usize {
        self.len
    }
}

impl Drop for KvecList<'_> {
    fn drop(&mut self) {
        // The pointers borrowed for `'a` must not outlive the borrow in the storage.
        for v in self.vecs.0.iter_mut().take(self.nr) {
            v.iov_base = core::ptr::null_mut();
            v.iov_len = 0;
        }
    }
}

#[kernel::prelude::kunit_tests(nvmet_tcp_rs_addr)]
mod tests {
    use super::*;

    const IP4: u8 = sys::NVMF_ADDR_FAMILY_IP4 as u8;
    const IP6: u8 = sys::NVMF_ADDR_FAMILY_IP6 as u8;

    /// The address as text, through a buffer as large as `disc_traddr`'s.
    fn text(addr: &SockAddr) -> KVec<u8> {
        let mut buf = [0u8; 256];
        let n = addr.format(&mut buf);
        let mut out = KVec::new();
        for &b in buf.get(..n).unwrap_or(&[]) {
            let _ = out.push(b, GFP_KERNEL);
        }
        out
    }

    #[test]
    fn parse_and_format() -> Result {
        let v4 = SockAddr::parse(IP4, c"127.0.0.1", c"4420")?;
        assert!(v4.is_set() && !v4.is_any());
        assert_eq!(&text(&v4)[..], b"127.0.0.1");
        let v6 = SockAddr::parse(IP6, c"::1", c"4420")?;
        assert!(v6.is_set() && !v6.is_any());
        assert_eq!(&text(&v6)[..], b"::1");
        assert!(SockAddr::parse(IP4, c"0.0.0.0", c"4420")?.is_any());
        assert!(SockAddr::parse(IP6, c"::", c"4420")?.is_any());
        assert!(!SockAddr::zeroed().is_set());
        Ok(())
    }

    #[test]
    fn malformed_addresses_are_refused() {
        assert!(SockAddr::parse(IP4, c"::1", c"4420").is_err());
        assert!(SockAddr::parse(IP6, c"127.0.0.1", c"4420").is_err());
        assert!(SockAddr::parse(IP4, c"300.1.1.1", c"4420").is_err());
        assert!(SockAddr::parse(IP4, c"127.0.0.1", c"port").is_err());
        // Neither IPv4 nor IPv6 (3 is InfiniBand, 254 intra-host).
        assert!(SockAddr::parse(3, c"127.0.0.1", c"4420").is_err());
        assert!(SockAddr::parse(254, c"127.0.0.1", c"4420").is_err());
    }

    #[test]
    fn format_truncates_like_snprintf() -> Result {
        let addr = SockAddr::parse(IP4, c"127.0.0.1", c"4420")?;
        let mut small = [0xffu8; 4];
        assert_eq!(addr.format(&mut small), 9);
        assert_eq!(small, *b"127\0");
        Ok(())
    }
}
