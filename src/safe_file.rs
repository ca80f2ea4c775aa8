//! Files nshost writes in its own directories (the lock directory, the services' run
//! directories): created without following symlinks, and never written through an
//! entry nshost did not create. A directory such as `NSHOST_LOCK_DIR` may be writable
//! by others; a symlink or a hard link planted there must not make root write
//! elsewhere.
//!
//! The directory is opened once (`O_DIRECTORY | O_NOFOLLOW`) and every entry is reached
//! from it (`openat`, `renameat`, `unlinkat`, which follow nothing). A file is replaced
//! atomically: a temporary `<name>.tmp` is created `O_CREAT | O_EXCL | O_NOFOLLOW` with
//! its final mode (a stale one is removed first only if it is a regular file of ours),
//! then renamed over the name, which replaces whatever entry was there without
//! following it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, geteuid, unlinkat};

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// What an entry is, in a few words, for errors.
fn kind_of(st: &FileStat) -> &'static str {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        _ => "a device",
    }
}

/// An entry nshost refuses to use or remove.
fn foreign(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} is {what} that nshost did not create; it neither writes through it nor \
             removes it (remove it yourself)",
            path.display()
        ),
    )
}

/// Opens directory `dir`, creating it (and its parents) when missing, without following
/// a symlink in its place.
pub fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY;
    nix::fcntl::open(dir, flags, Mode::empty()).map_err(|e| match e {
        Errno::ELOOP | Errno::ENOTDIR => io::Error::new(
            io::ErrorKind::NotADirectory,
            format!(
                "{} is not a directory; nshost does not follow it",
                dir.display()
            ),
        ),
        e => io_err(e),
    })
}

/// The directory and the name of `path`.
fn split(path: &Path) -> io::Result<(OwnedFd, &std::ffi::OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other(format!("{} names no file", path.display())))?;
    Ok((open_dir(path.parent().unwrap_or(Path::new(".")))?, name))
}

/// Replaces the file at `path` with `bytes`, atomically, created with `mode`: see the
/// module docs.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (dir, name) = split(path)?;
    let mut tmp = name.to_os_string();
    tmp.push(".tmp");
    let tmp = tmp.as_os_str();
    let tmp_path = path.with_file_name(tmp);
    match fstatat(&dir, tmp, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(io_err(e)),
        Ok(st) if kind_of(&st) == "a regular file" && st.st_uid == geteuid().as_raw() => {
            // Left by an interrupted write of ours.
            unlinkat(&dir, tmp, UnlinkatFlags::NoRemoveDir).map_err(io_err)?;
        }
        Ok(st) => return Err(foreign(&tmp_path, kind_of(&st))),
    }
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&dir, tmp, flags, Mode::from_bits_truncate(mode)).map_err(|e| match e {
        // Planted between the check and the open.
        Errno::EEXIST | Errno::ELOOP => foreign(&tmp_path, "an entry"),
        e => io_err(e),
    })?;
    let written = File::from(fd)
        .write_all(bytes)
        .and_then(|()| renameat(&dir, tmp, &dir, name).map_err(io_err));
    if written.is_err() {
        let _ = unlinkat(&dir, tmp, UnlinkatFlags::NoRemoveDir);
    }
    written
}

/// Opens the file at `path` for appending, created with `mode` when missing; an entry
/// there that is not a regular file of ours with one link (a symlink, a FIFO, a hard
/// link to another file) is refused.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let (dir, name) = split(path)?;
    let flags = OFlag::O_WRONLY
        | OFlag::O_APPEND
        | OFlag::O_CREAT
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC;
    let fd = openat(&dir, name, flags, Mode::from_bits_truncate(mode)).map_err(|e| match e {
        Errno::ELOOP => foreign(path, "a symlink"),
        Errno::ENXIO | Errno::EISDIR | Errno::EOPNOTSUPP => foreign(path, "not a regular file"),
        e => io_err(e),
    })?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != geteuid().as_raw() || meta.nlink() != 1 {
        return Err(foreign(path, "a file"));
    }
    Ok(file)
}

/// Opens the existing file at `path` for reading, following no symlink.
pub fn open_read(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("nshost-safe-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn a_file_is_written_with_its_mode_and_replaced() {
        let d = dir("write");
        let path = d.join("lab.settings.json");
        write_atomically(&path, b"one", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        // A stale temporary of ours is removed; the file is replaced.
        std::fs::write(d.join("lab.settings.json.tmp"), "stale").unwrap();
        write_atomically(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!d.join("lab.settings.json.tmp").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_planted_symlink_is_not_written_through() {
        let d = dir("symlink");
        let target = d.join("root-only");
        std::fs::write(&target, "secret").unwrap();
        let path = d.join("lab.settings.json");
        // At the temporary's name: refused, the target untouched.
        std::os::unix::fs::symlink(&target, d.join("lab.settings.json.tmp")).unwrap();
        let err = write_atomically(&path, b"{}", 0o600)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "lab.settings.json.tmp is a symlink that nshost did not create; it neither \
                 writes through it nor removes it (remove it yourself)"
            ),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        assert!(!path.exists());
        // At the file's own name: the symlink is replaced, not followed.
        std::fs::remove_file(d.join("lab.settings.json.tmp")).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write_atomically(&path, b"{}", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        // A log: a symlink or a hard link there is refused, a file of ours appended to.
        let log = d.join("daemon.log");
        std::os::unix::fs::symlink(&target, &log).unwrap();
        assert!(open_append(&log, 0o600).is_err());
        std::fs::remove_file(&log).unwrap();
        std::fs::hard_link(&target, &log).unwrap();
        assert!(open_append(&log, 0o600).is_err());
        std::fs::remove_file(&log).unwrap();
        open_append(&log, 0o600).unwrap().write_all(b"x").unwrap();
        open_append(&log, 0o600).unwrap().write_all(b"y").unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "xy");
        assert_eq!(mode(&log), 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        // The directory itself: a symlink in its place is not followed.
        let real = d.join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, d.join("link")).unwrap();
        assert!(write_atomically(&d.join("link/f"), b"x", 0o600).is_err());
        assert!(!real.join("f").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
