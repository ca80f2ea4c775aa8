//! Reading a lab file: only regular files, never more than a cap, only UTF-8 text; and
//! turning YAML locations into byte spans for labels.

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use crate::output::thousands;

/// The largest lab file nshost reads. A 10,000-host lab is about 1 MiB.
pub const MAX_LAB_BYTES: u64 = 16 * 1024 * 1024;

/// Why a path could not be read as a lab file. Returned inside an [`io::Error`], so that
/// `SourceFile::read` keeps the signature of `std::fs::read_to_string`; like the I/O
/// errors beside it, its message does not repeat the path.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("it is {what}; a lab file must be a regular file")]
    NotAFile { what: &'static str },
    #[error(
        "it is larger than {}{}, the most a lab file may be",
        mib(MAX_LAB_BYTES),
        size.map_or_else(
            || " (it grew while being read)".to_string(),
            |n| format!(" ({} bytes)", thousands(n as usize))
        )
    )]
    TooLarge { size: Option<u64> },
    #[error("it is larger than {}, the most a lab file may be", mib(MAX_LAB_BYTES))]
    StreamTooLarge,
    #[error(
        "it is not UTF-8 text: the byte 0x{byte:02X} at line {line}, column {column} \
         (byte offset {offset}) is not valid UTF-8{}",
        if *.utf16 { "; the file looks like UTF-16, save it as UTF-8" } else { "" }
    )]
    NotUtf8 {
        byte: u8,
        line: usize,
        column: usize,
        offset: usize,
        utf16: bool,
    },
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

impl ReadError {
    fn into_io(self) -> io::Error {
        let kind = match self {
            ReadError::NotAFile { .. } => io::ErrorKind::InvalidInput,
            ReadError::TooLarge { .. } | ReadError::StreamTooLarge => io::ErrorKind::FileTooLarge,
            ReadError::NotUtf8 { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// What a file type is, for "is a FIFO" and the like.
fn describe(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// A lab file's text and name, shared by every diagnostic that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    /// Reads a lab file from disk: a regular file (symlinks followed) of at most
    /// [`MAX_LAB_BYTES`], in UTF-8. Devices, FIFOs and directories are refused without
    /// reading (a FIFO is opened without blocking), and a file that grows while being
    /// read is still capped.
    pub fn read(path: &Path) -> io::Result<Self> {
        let not_a_file = |what| ReadError::NotAFile { what }.into_io();
        // Refuse what is not a regular file before opening it at all...
        if let Some(what) = describe(std::fs::metadata(path)?.file_type()) {
            return Err(not_a_file(what));
        }
        // ...and again on what was opened, in case the path changed in between. With
        // O_NONBLOCK, opening a FIFO does not wait for a writer.
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        let meta = file.metadata()?;
        if let Some(what) = describe(meta.file_type()) {
            return Err(not_a_file(what));
        }
        if meta.len() > MAX_LAB_BYTES {
            return Err(ReadError::TooLarge {
                size: Some(meta.len()),
            }
            .into_io());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_LAB_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_LAB_BYTES {
            return Err(ReadError::TooLarge { size: None }.into_io());
        }
        let text = utf8(bytes).map_err(ReadError::into_io)?;
        Ok(SourceFile {
            name: path.display().to_string(),
            text: text.into(),
        })
    }

    /// The name a lab read from standard input goes by in reports.
    pub const STDIN: &'static str = "<stdin>";

    /// Reads the lab file a command line names: `-` is standard input, anything else a
    /// path ([`SourceFile::read`]).
    pub fn read_arg(path: &Path) -> io::Result<Self> {
        if path == Path::new("-") {
            Self::read_from(io::stdin().lock(), Self::STDIN)
        } else {
            Self::read(path)
        }
    }

    /// Reads lab text from a stream (standard input) under the same rules as a file:
    /// at most [`MAX_LAB_BYTES`], in UTF-8. `name` names it in reports.
    pub fn read_from(stream: impl Read, name: &str) -> io::Result<Self> {
        let mut bytes = Vec::new();
        stream.take(MAX_LAB_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_LAB_BYTES {
            return Err(ReadError::StreamTooLarge.into_io());
        }
        let text = utf8(bytes).map_err(ReadError::into_io)?;
        Ok(SourceFile {
            name: name.to_string(),
            text: text.into(),
        })
    }

    /// Wraps text already in memory (tests, stdin).
    pub fn from_text(name: &str, text: &str) -> Self {
        SourceFile {
            name: name.to_string(),
            text: text.into(),
        }
    }

    /// A miette source for labels in this file.
    pub fn named_source(&self) -> NamedSource<String> {
        NamedSource::new(&self.name, self.text.to_string()).with_language("yaml")
    }

    /// The same, sharing the text (what `Invalid` and its problems hold).
    pub fn shared_source(&self) -> NamedSource<Arc<str>> {
        NamedSource::new(&self.name, self.text.clone()).with_language("yaml")
    }
}

/// The bytes as text, or where the first byte that is not UTF-8 is.
fn utf8(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        let valid = std::str::from_utf8(&bytes[..offset]).expect("the prefix is valid");
        let line_start = valid.rfind('\n').map_or(0, |i| i + 1);
        ReadError::NotUtf8 {
            byte: bytes[offset],
            line: valid.matches('\n').count() + 1,
            column: valid[line_start..].chars().count() + 1,
            offset,
            utf16: bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]),
        }
    })
}

/// The first character YAML does not allow in a document (a NUL or another control
/// character, as in a binary file), with its byte offset. Tab, line feed and carriage
/// return are allowed, as is NEL (U+0085); the BOM is left to the parser.
pub(crate) fn first_forbidden_char(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| {
        matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}')
            || (('\u{80}'..='\u{9f}').contains(&c) && c != '\u{85}')
            || matches!(c, '\u{fffe}' | '\u{ffff}')
    })
}

/// Byte span of a spanned value in its source, for a miette label.
/// Falls back to an empty span at the start of the line when byte offsets are unknown.
pub fn span_of<T>(s: &serde_saphyr::Spanned<T>, src: &str) -> SourceSpan {
    location_span(&s.referenced, src)
}

/// Byte span of a location. Constant time when the parser recorded byte offsets (it
/// does for text in memory); otherwise the line and column are looked up in `src`.
pub fn location_span(loc: &serde_saphyr::Location, src: &str) -> SourceSpan {
    let span = loc.span();
    if let (Some(off), Some(len)) = (span.byte_offset(), span.byte_len()) {
        return (off as usize, len as usize).into();
    }
    // Line/column (1-based, in characters) to a byte offset.
    let (line, col) = (loc.line() as usize, loc.column() as usize);
    let Some(line_start) = line_start(src, line) else {
        return (0, 0).into();
    };
    let col_bytes: usize = src[line_start..]
        .chars()
        .take_while(|&c| c != '\n')
        .take(col.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    (line_start + col_bytes, 0).into()
}

/// Byte offset where 1-based `line` starts.
fn line_start(src: &str, line: usize) -> Option<usize> {
    if line <= 1 {
        return Some(0);
    }
    src.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .nth(line - 2)
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_err(path: &Path) -> String {
        SourceFile::read(path).unwrap_err().to_string()
    }

    #[test]
    fn not_utf8_is_located() {
        let err = utf8(b"name: x\nhosts:\n  h\xC3\xA9\xFF1: {}\n".to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not UTF-8 text: the byte 0xFF at line 3, column 5 (byte offset 20) is not \
             valid UTF-8"
        );
        let err = utf8(b"\xFF\xFEn\0a\0".to_vec()).unwrap_err();
        assert!(err.to_string().ends_with("save it as UTF-8"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        assert_eq!(
            read_err(Path::new("/dev/zero")),
            "it is a character device; a lab file must be a regular file"
        );
        assert!(read_err(Path::new("/")).starts_with("it is a directory"));
    }

    #[test]
    fn caps_the_size() {
        let dir = std::env::temp_dir().join(format!("nshost-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.yaml");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_LAB_BYTES + 1).unwrap();
        let err = read_err(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.ends_with("is larger than 16 MiB (16,777,217 bytes), the most a lab file may be"),
            "{err}"
        );
    }

    #[test]
    fn forbidden_characters() {
        assert_eq!(first_forbidden_char("a: b\tc\r\n\u{85}é"), None);
        assert_eq!(first_forbidden_char("a: é\u{0}"), Some((5, '\0')));
        assert_eq!(first_forbidden_char("a: \u{7f}"), Some((3, '\u{7f}')));
        assert_eq!(first_forbidden_char("a: \u{9f}"), Some((3, '\u{9f}')));
    }

    #[test]
    fn location_fallback_finds_the_line() {
        assert_eq!(line_start("a\nbc\nd", 1), Some(0));
        assert_eq!(line_start("a\nbc\nd", 3), Some(5));
        assert_eq!(line_start("a\nbc\nd", 4), None);
    }
}
