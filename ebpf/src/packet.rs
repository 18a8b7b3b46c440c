//! The one bounds-checked way to read packet bytes, for skb (TC) and XDP contexts alike.
//!
//! Headers are read directly from the packet's linear area when they lie in it (checked
//! against `data_end`, as the verifier requires); anything else — headers in fragments, and
//! every payload copy — goes through the kernel's load-bytes helpers (`bpf_skb_load_bytes`,
//! `bpf_xdp_load_bytes`), which check bounds themselves and read GSO payloads that live in
//! page fragments.
#![allow(unsafe_code)]

use core::mem::{size_of, MaybeUninit};

use aya_ebpf::{
    bindings::xdp_md,
    helpers::generated::{bpf_skb_load_bytes, bpf_xdp_get_buff_len, bpf_xdp_load_bytes},
    programs::{TcContext, XdpContext},
    EbpfContext,
};

/// Read access to a packet.
pub trait Packet {
    /// Total packet length in bytes (for GSO packets, the whole super-packet).
    fn len(&self) -> u32;
    /// Interface index the program runs on.
    fn ifindex(&self) -> u32;
    /// Copy `n` bytes at `offset` to `dst`. The caller guarantees `1 <= n <= cap` where `cap`
    /// is the room at `dst`; returns false if the packet is shorter.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `n` bytes.
    unsafe fn load_raw(&self, offset: u32, dst: *mut u8, n: u32) -> bool;

    /// Start and end of the linear (directly readable) part of the packet.
    fn linear(&self) -> (usize, usize);

    /// Read a fixed-size plain-data value at `offset` from the linear area only (`None` when
    /// it does not lie there): the pre-filter's reads, which must stay cheap.
    #[inline(always)]
    fn linear_load<T: Copy>(&self, offset: u32) -> Option<T> {
        let (start, end) = self.linear();
        let at = start + offset as usize;
        if offset < 256 && at + size_of::<T>() <= end {
            // SAFETY: [at, at + size_of::<T>()) lies within the packet's linear area,
            // checked just above; T is a byte array (alignment 1).
            Some(unsafe { core::ptr::read_unaligned(at as *const T) })
        } else {
            None
        }
    }

    /// Read a fixed-size plain-data value (a header) at `offset`: straight from the linear
    /// area when it lies there (the common case: headers are linear), else through the
    /// load-bytes helper (headers in page fragments).
    #[inline(always)]
    fn load<T: Copy>(&self, offset: u32) -> Option<T> {
        let (start, end) = self.linear();
        // The offset is bounded so the verifier can prove the access is in range.
        if offset < 256 {
            let at = start + offset as usize;
            if at + size_of::<T>() <= end {
                // SAFETY: [at, at + size_of::<T>()) lies within the packet's linear area,
                // checked just above; T is a byte array (alignment 1).
                return Some(unsafe { core::ptr::read_unaligned(at as *const T) });
            }
        }
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: `v` has room for exactly size_of::<T>() bytes, a non-zero constant.
        let ok = unsafe { self.load_raw(offset, v.as_mut_ptr().cast(), size_of::<T>() as u32) };
        if ok {
            // SAFETY: the helper filled all size_of::<T>() bytes; T is only ever a byte array.
            Some(unsafe { v.assume_init() })
        } else {
            None
        }
    }
}

/// A socket buffer, as seen by the TC program.
pub struct SkbPacket<'a> {
    ctx: &'a TcContext,
}

impl<'a> SkbPacket<'a> {
    /// Wrap a TC context.
    #[inline(always)]
    pub fn new(ctx: &'a TcContext) -> Self {
        Self { ctx }
    }
}

impl Packet for SkbPacket<'_> {
    #[inline(always)]
    fn len(&self) -> u32 {
        // skb->len: the whole packet including GSO fragments (the IP length fields may be 0
        // with BIG TCP, so this is the length that counts).
        self.ctx.len()
    }

    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.ctx.data(), self.ctx.data_end())
    }

    #[inline(always)]
    fn ifindex(&self) -> u32 {
        // SAFETY: reading a field of the context the kernel passed to this program.
        unsafe { (*self.ctx.skb.skb).ifindex }
    }

    #[inline(always)]
    unsafe fn load_raw(&self, offset: u32, dst: *mut u8, n: u32) -> bool {
        // SAFETY: the helper bounds-checks the packet side; the caller vouches for `dst`.
        unsafe { bpf_skb_load_bytes(self.ctx.as_ptr(), offset, dst.cast(), n) == 0 }
    }
}

/// An XDP buffer.
pub struct XdpPacket<'a> {
    ctx: &'a XdpContext,
}

impl<'a> XdpPacket<'a> {
    /// Wrap an XDP context.
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext) -> Self {
        Self { ctx }
    }

    #[inline(always)]
    fn md(&self) -> *mut xdp_md {
        self.ctx.ctx
    }
}

impl Packet for XdpPacket<'_> {
    #[inline(always)]
    fn len(&self) -> u32 {
        // SAFETY: the helper only reads the buffer's (multi-buffer aware) length.
        unsafe { bpf_xdp_get_buff_len(self.md()) as u32 }
    }

    #[inline(always)]
    fn linear(&self) -> (usize, usize) {
        (self.ctx.data(), self.ctx.data_end())
    }

    #[inline(always)]
    fn ifindex(&self) -> u32 {
        self.ctx.ingress_ifindex() as u32
    }

    #[inline(always)]
    unsafe fn load_raw(&self, offset: u32, dst: *mut u8, n: u32) -> bool {
        // SAFETY: the helper bounds-checks the packet side; the caller vouches for `dst`.
        unsafe { bpf_xdp_load_bytes(self.md(), offset, dst.cast(), n) == 0 }
    }
}
