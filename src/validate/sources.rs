//! Reading the files a lab copies into its nodes (`files: {PATH: {source: FILE}}`):
//! at plan time, relative to the lab file's directory, only regular files, never more
//! than [`MAX_FILE_BYTES`] each nor [`MAX_FILES_BYTES`] for the whole lab. Validation
//! reads through a [`SourceReader`], so that its tests can give it files of their own.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::topology::SourceFile;

/// The largest file a node may be given (its text or its source).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most bytes all the files of all the nodes of a lab may hold together.
pub const MAX_FILES_BYTES: u64 = 64 * 1024 * 1024;

/// Why a source file could not be read. Like an I/O error, its message does not repeat
/// the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The operating system's reason (no such file, permission denied, ...).
    #[error("{0}")]
    Io(String),
    #[error("it is a directory")]
    Directory,
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error("it is {size} bytes, more than the {} a file may be", mib(*limit))]
    TooBig { size: u64, limit: u64 },
}

/// `1 MiB`, or the bytes when they are not whole MiB.
pub(crate) fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

impl From<io::Error> for SourceError {
    fn from(e: io::Error) -> Self {
        // The reason alone: "No such file or directory (os error 2)".
        SourceError::Io(e.to_string())
    }
}

/// Reads the source files a lab names.
pub trait SourceReader {
    /// The bytes of `path` as written in the lab file, refused when more than `limit`.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError>;
}

/// Reads sources from the disk, relative to a directory.
#[derive(Debug, Clone)]
pub struct DirReader {
    pub dir: PathBuf,
}

impl DirReader {
    /// Relative to the directory of the lab file `src` (the current directory for a
    /// lab read from standard input or a name without a directory).
    pub fn beside(src: &SourceFile) -> Self {
        let dir = match Path::new(&src.name).parent() {
            Some(p) if src.name != SourceFile::STDIN && !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        DirReader {
            dir: dir.to_path_buf(),
        }
    }
}

impl SourceReader for DirReader {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let path = self.dir.join(path);
        // Refuse what is not a regular file before opening it (a FIFO would block)...
        kind(&std::fs::metadata(&path)?)?;
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)?;
        // ...and again on what was opened, in case the path changed in between.
        let meta = file.metadata()?;
        kind(&meta)?;
        if meta.len() > limit {
            return Err(SourceError::TooBig {
                size: meta.len(),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooBig {
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }
}

fn kind(meta: &std::fs::Metadata) -> Result<(), SourceError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        Ok(())
    } else if t.is_dir() {
        Err(SourceError::Directory)
    } else if t.is_fifo() {
        Err(SourceError::NotAFile("a FIFO (named pipe)"))
    } else if t.is_char_device() {
        Err(SourceError::NotAFile("a character device"))
    } else if t.is_block_device() {
        Err(SourceError::NotAFile("a block device"))
    } else if t.is_socket() {
        Err(SourceError::NotAFile("a socket"))
    } else {
        Err(SourceError::NotAFile("not a regular file"))
    }
}

/// Reads nothing: every source is empty (for finding where objects come from, which
/// needs no file's content).
pub struct NoReader;

impl SourceReader for NoReader {
    fn read(&self, _: &str, _: u64) -> Result<Vec<u8>, SourceError> {
        Ok(Vec::new())
    }
}

/// The sources of one validation: each read once however many nodes it is given to,
/// and the bytes given to all the nodes counted against [`MAX_FILES_BYTES`].
pub(super) struct Sources<'r> {
    reader: &'r dyn SourceReader,
    read: HashMap<String, Result<Vec<u8>, SourceError>>,
    /// The bytes of every file given so far, inline ones included.
    pub(super) total: u64,
}

impl<'r> Sources<'r> {
    pub(super) fn new(reader: &'r dyn SourceReader) -> Self {
        Sources {
            reader,
            read: HashMap::new(),
            total: 0,
        }
    }

    pub(super) fn read(&mut self, path: &str) -> Result<Vec<u8>, SourceError> {
        let reader = self.reader;
        self.read
            .entry(path.to_string())
            .or_insert_with(|| reader.read(path, MAX_FILE_BYTES))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory of the test's own, and a reader in it.
    fn reader(test: &str) -> (Dir, DirReader) {
        let dir =
            std::env::temp_dir().join(format!("nshost-sources-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let r = DirReader { dir: dir.clone() };
        (Dir(dir), r)
    }

    /// Removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_source_is_read_beside_the_lab_file() {
        let (dir, r) = reader("beside");
        std::fs::write(dir.path().join("a.conf"), "text").unwrap();
        assert_eq!(r.read("a.conf", 10).unwrap(), b"text");
        let src = SourceFile::from_text(&format!("{}/lab.yaml", dir.path().display()), "");
        assert_eq!(DirReader::beside(&src).dir, dir.path());
        for name in ["lab.yaml", SourceFile::STDIN] {
            let src = SourceFile::from_text(name, "");
            assert_eq!(DirReader::beside(&src).dir, Path::new("."));
        }
    }

    #[test]
    fn missing_directories_fifos_and_big_files_are_refused() {
        let (dir, r) = reader("refused");
        let missing = r.read("nope", 10).unwrap_err();
        assert!(
            matches!(&missing, SourceError::Io(why) if why.contains("No such file")),
            "{missing:?}"
        );
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert_eq!(r.read("d", 10), Err(SourceError::Directory));
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(
            r.read("f", 10),
            Err(SourceError::NotAFile("a FIFO (named pipe)"))
        );
        // A sparse file: larger than the limit without taking the space.
        let big = File::create(dir.path().join("big")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = r.read("big", MAX_FILE_BYTES).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is 1048577 bytes, more than the 1 MiB a file may be"
        );
        std::fs::write(dir.path().join("limit"), vec![b'x'; 10]).unwrap();
        assert_eq!(r.read("limit", 10).unwrap().len(), 10);
    }
}
