//! A request's failure as the kernel reports it: errno and extended-ack text.

use std::io;

use netlink_packet_core::{NLM_F_ACK_TLVS, NLM_F_CAPPED};

/// `NLMSGERR_ATTR_MSG`: the extended ack's human-readable message.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// A failed request: errno plus the kernel's extended-ack message, if it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// Index of the request in its batch.
    pub index: usize,
    /// Positive errno.
    pub errno: i32,
    /// Extended ack text (`NLMSGERR_ATTR_MSG`), e.g. "Nexthop has invalid gateway".
    pub message: Option<String>,
}

impl NlError {
    /// `strerror` text, followed by the kernel's own explanation when there is one.
    pub fn describe(&self) -> String {
        let base = io::Error::from_raw_os_error(self.errno).to_string();
        match &self.message {
            Some(m) => format!("{base}: {m}"),
            None => base,
        }
    }

    /// The error as an `io::Error` (the errno, with the kernel's text).
    pub fn to_io(&self) -> io::Error {
        match &self.message {
            Some(_) => io::Error::new(
                io::Error::from_raw_os_error(self.errno).kind(),
                self.describe(),
            ),
            None => io::Error::from_raw_os_error(self.errno),
        }
    }

    /// Decodes an `nlmsgerr` payload: errno, then (with `NLM_F_ACK_TLVS` in the outer
    /// header's `flags`) the extended ack attributes after the echoed request, which is
    /// only its 16-byte header when `NLM_F_CAPPED` is set, else the whole request.
    pub(crate) fn decode(flags: u16, payload: &[u8]) -> Option<NlError> {
        if payload.len() < 4 + 16 {
            return None;
        }
        let errno = -i32::from_ne_bytes(payload[0..4].try_into().ok()?);
        let mut message = None;
        if flags & NLM_F_ACK_TLVS != 0 {
            let echoed = if flags & NLM_F_CAPPED != 0 {
                16
            } else {
                u32::from_ne_bytes(payload[4..8].try_into().ok()?) as usize
            };
            let mut off = 4 + ((echoed + 3) & !3);
            while off + 4 <= payload.len() {
                let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
                let ty = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
                if len < 4 || off + len > payload.len() {
                    break;
                }
                if ty == NLMSGERR_ATTR_MSG {
                    let raw = &payload[off + 4..off + len];
                    let text = raw.split(|b| *b == 0).next().unwrap_or(raw);
                    message = Some(String::from_utf8_lossy(text).into_owned());
                }
                off += (len + 3) & !3;
            }
        }
        Some(NlError {
            index: 0,
            errno,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_extended_ack_text() {
        // errno -22, capped echoed header (len 16), then NLMSGERR_ATTR_MSG "bad".
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        p.extend_from_slice(&16u32.to_ne_bytes());
        p.extend_from_slice(&[0u8; 12]);
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(b"bad\0");
        let e = NlError::decode(NLM_F_CAPPED | NLM_F_ACK_TLVS, &p).unwrap();
        assert_eq!(e.errno, 22);
        assert_eq!(e.message.as_deref(), Some("bad"));
        assert!(e.describe().starts_with("Invalid argument"));
        assert_eq!(e.to_io().raw_os_error(), None);
        assert_eq!(
            NlError::decode(0, &p).unwrap().to_io().raw_os_error(),
            Some(22)
        );
    }
}
