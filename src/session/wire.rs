//! The session's transport: request lines read from standard input, response lines
//! written to standard output, with a file descriptor passed (`SCM_RIGHTS`) on the
//! first byte of a response when it carries one.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

/// Writes `line` (and its `\n`) on standard output, with `fd` passed on its first
/// byte when given (standard output must then be a Unix socket).
pub fn send(line: &str, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // SAFETY: fd 1 stays open for the process's life; ManuallyDrop never closes it.
    let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    let mut start = 0;
    if let Some(fd) = fd {
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        start = loop {
            match sendmsg::<()>(
                1,
                &[IoSlice::new(&bytes)],
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(n) => break n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        };
    }
    out.write_all(&bytes[start..])?;
    out.flush()
}
