//! Requests built ahead of sending: one contiguous buffer of encoded messages, with the
//! places where a namespace's file descriptor goes once it is opened at send time (so
//! that a batch naming thousands of namespaces never holds thousands of descriptors).

use std::marker::PhantomData;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};

use crate::netlink::Family;

/// A value no real descriptor has, written where a namespace's descriptor goes until
/// the batch is sent.
pub const FD_PLACEHOLDER: i32 = 0x7ead_beef;

/// A 4-byte slot in a message to fill with the descriptor of namespace `ns`.
#[derive(Debug, Clone)]
pub(crate) struct Fixup {
    pub offset: usize,
    pub ns: String,
}

/// Requests of family `F`, encoded.
#[derive(Debug, Clone)]
pub struct Batch<F: Family> {
    pub(crate) buf: Vec<u8>,
    /// Byte offset where each message starts.
    pub(crate) starts: Vec<usize>,
    /// Descriptor slots, in buffer order.
    pub(crate) fixups: Vec<Fixup>,
    family: PhantomData<F>,
}

impl<F: Family> Default for Batch<F> {
    fn default() -> Self {
        Batch {
            buf: Vec::new(),
            starts: Vec::new(),
            fixups: Vec::new(),
            family: PhantomData,
        }
    }
}

impl<F: Family> Batch<F> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The encoded messages.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends a request; `flags` are added to `NLM_F_REQUEST`. Sequence numbers are
    /// assigned at send time. Returns the message's index in the batch.
    pub fn push(&mut self, msg: F::Message, flags: u16) -> usize {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let len = nl.buffer_len();
        let start = self.buf.len();
        let padded = (len + 3) & !3;
        self.buf.resize(start + padded, 0);
        nl.serialize(&mut self.buf[start..start + len]);
        self.starts.push(start);
        self.starts.len() - 1
    }

    /// Appends a request that carries [`FD_PLACEHOLDER`] as the value of the attribute
    /// `attr_type` (a 4-byte attribute), to be replaced by a descriptor of namespace
    /// `ns` opened when the request is sent.
    pub fn push_with_ns_fd(
        &mut self,
        msg: F::Message,
        flags: u16,
        attr_type: u16,
        ns: &str,
    ) -> usize {
        let index = self.push(msg, flags);
        let start = self.starts[index];
        let mut pattern = [0u8; 8];
        pattern[0..2].copy_from_slice(&8u16.to_ne_bytes());
        pattern[2..4].copy_from_slice(&attr_type.to_ne_bytes());
        pattern[4..8].copy_from_slice(&FD_PLACEHOLDER.to_ne_bytes());
        let at = self.buf[start..]
            .windows(8)
            .position(|w| w == pattern)
            .expect("the message carries the descriptor placeholder");
        self.fixups.push(Fixup {
            offset: start + at + 4,
            ns: ns.to_string(),
        });
        index
    }

    /// Byte offset where message `k` ends (the next one starts).
    pub(crate) fn end_of(&self, k: usize) -> usize {
        self.starts.get(k + 1).copied().unwrap_or(self.buf.len())
    }
}
