//! The node's own mount namespace, made by its supervisor before it starts anything:
//! `/proc` of the node's pid namespace, `/sys` of its network namespace, a private
//! tmpfs on `/run`, `/tmp`, `/var/tmp` (and `/var/run` where that is not a link to
//! `/run`), the files of
//! `/etc/netns/<ns>/` over those of `/etc` (as `ip netns exec` does), and each declared
//! file at its path:
//! - under one of those: written into the private tmpfs;
//! - over a file that exists: its content file is bind-mounted on it;
//! - where nothing is: the nearest directory that exists gets an overlay (upper layer on
//!   the private tmpfs), the missing directories and an empty file are made in it, and
//!   the content is bind-mounted on that file.
//!
//! Nothing of it is seen outside the node: `/` is made a slave mount first.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::layout::{Spec, SpecFile};

/// Where the overlays' upper layers live, on the private `/run`.
const OVERLAYS: &str = "/run/.nshost-overlays";

/// What the supervisor has put in place.
#[derive(Debug, Default)]
pub struct Mounted {
    /// Each declared path and the content file it shows.
    placed: BTreeMap<String, String>,
    /// Paths that did not exist and were made in an overlay or the private tmpfs.
    created: BTreeSet<String>,
    /// Directories covered by an overlay.
    overlays: Vec<PathBuf>,
}

fn err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Gives the process a mount namespace of its own, in which nothing mounted goes
/// back to the machine's. First of all: a file bind-mounted later must be reached
/// through a mount of this namespace (the node's directory is opened after this).
pub fn unshare_mounts() -> Result<(), String> {
    crate::kernel::enter::unshare_mounts().map_err(|(what, e)| err(what, e))
}

/// Makes the node's mounts (after [`unshare_mounts`]) and puts the spec's files in
/// place; `dir` is the node's directory, reached through a descriptor (`/run` is
/// covered here).
pub fn setup(spec: &Spec, dir: &Path) -> Result<Mounted, String> {
    let hidden = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), hidden, None::<&str>)
        .map_err(|e| err("mounting /proc", e))?;
    crate::kernel::enter::mount_sys(&spec.ns).map_err(|e| err("mounting /sys", e))?;
    let tmpfs = |at: &str| {
        mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some("mode=0755"),
        )
        .map_err(|e| err(format!("mounting a tmpfs on {at}"), e))
    };
    for dir in PRIVATE {
        // A link (`/var/run` to `/run`) is covered by its target's.
        if Path::new(dir).symlink_metadata().is_ok_and(|m| m.is_dir()) {
            tmpfs(dir)?;
        }
    }
    // Notes of iproute2's kind are not errors here: the node runs without them.
    let _ = crate::kernel::enter::bind_etc(&spec.ns);
    let mut m = Mounted::default();
    m.update(spec, dir)?;
    Ok(m)
}

/// The directories that get a private tmpfs in the node: what daemons keep there
/// (sockets, pid files, FRR's crash buffers in `/var/tmp`) is the node's, and goes
/// with it.
pub const PRIVATE: [&str; 4] = ["/run", "/var/run", "/tmp", "/var/tmp"];

/// Whether `path` is on one of the node's private tmpfs.
fn on_private_run(path: &str) -> bool {
    PRIVATE.iter().any(|d| {
        path.strip_prefix(d)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

impl Mounted {
    /// Puts the files of `spec` in place: those gone or changed first taken away, then
    /// the new and changed ones placed.
    pub fn update(&mut self, spec: &Spec, dir: &Path) -> Result<(), String> {
        let wanted: BTreeMap<&str, &SpecFile> =
            spec.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let stale: Vec<String> = self
            .placed
            .iter()
            .filter(|(p, c)| wanted.get(p.as_str()).is_none_or(|f| &f.content != *c))
            .map(|(p, _)| p.clone())
            .collect();
        for path in stale {
            self.take_away(&path, wanted.contains_key(path.as_str()));
        }
        let mut problems = Vec::new();
        for f in &spec.files {
            if self.placed.contains_key(&f.path) {
                continue;
            }
            match self.place(f, dir) {
                Ok(()) => {
                    self.placed.insert(f.path.clone(), f.content.clone());
                }
                Err(e) => problems.push(format!("{}: {e}", f.path)),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Takes `path` away; `keep` when it is placed again at once.
    fn take_away(&mut self, path: &str, keep: bool) {
        self.placed.remove(path);
        if on_private_run(path) {
            if !keep {
                let _ = std::fs::remove_file(path);
                self.created.remove(path);
            }
            return;
        }
        let _ = umount2(path, MntFlags::MNT_DETACH);
        if !keep && self.created.remove(path) {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Puts one file at its path.
    fn place(&mut self, f: &SpecFile, dir: &Path) -> Result<(), String> {
        let content = dir.join("files").join(&f.content);
        let path = Path::new(&f.path);
        if on_private_run(&f.path) {
            make_parents(path)?;
            let bytes = std::fs::read(&content).map_err(|e| err("reading its content", e))?;
            std::fs::write(path, bytes).map_err(|e| err("writing it", e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(f.mode))
                .map_err(|e| err("setting its mode", e))?;
            self.created.insert(f.path.clone());
            return Ok(());
        }
        std::fs::set_permissions(&content, std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| err("setting its mode", e))?;
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err("something other than a file is there".into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.make_room(path, dir)?;
                self.created.insert(f.path.clone());
            }
            Err(e) => return Err(err("looking at it", e)),
        }
        bind(&content, path).map_err(|e| err("bind-mounting its content", e))
    }

    /// Makes an empty file at `path`, which does not exist: in an overlay of the
    /// nearest directory that does (made if it is not covered yet).
    fn make_room(&mut self, path: &Path, dir: &Path) -> Result<(), String> {
        let mut base = path.parent().expect("an absolute path has a parent");
        while !base.exists() {
            base = base.parent().expect("/ exists");
        }
        if !self.overlays.iter().any(|o| base.starts_with(o)) {
            if base == Path::new("/") {
                return Err("nothing can be made directly under /".into());
            }
            self.overlay(base, dir)?;
        }
        make_parents(path)?;
        std::fs::File::create(path).map_err(|e| err("making its mount point", e))?;
        Ok(())
    }

    /// Covers `base` with an overlay whose upper layer is on the private `/run`; the
    /// files already bound under it are bound again on top.
    fn overlay(&mut self, base: &Path, dir: &Path) -> Result<(), String> {
        let text = base.to_string_lossy();
        if text.contains([',', ':', '\\']) {
            return Err(format!("{text} cannot be covered by an overlay"));
        }
        let k = self.overlays.len();
        let upper = format!("{OVERLAYS}/{k}/upper");
        let work = format!("{OVERLAYS}/{k}/work");
        for d in [&upper, &work] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(d)
                .map_err(|e| err(format!("making {d}"), e))?;
        }
        let options = format!("lowerdir={text},upperdir={upper},workdir={work}");
        mount(
            Some("overlay"),
            base,
            Some("overlay"),
            MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|e| err(format!("mounting an overlay on {text}"), e))?;
        self.overlays.push(base.to_path_buf());
        let covered: Vec<(String, String)> = self
            .placed
            .iter()
            .filter(|(p, _)| Path::new(p).starts_with(base) && !on_private_run(p))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect();
        for (path, content) in covered {
            let source = dir.join("files").join(&content);
            bind(&source, Path::new(&path)).map_err(|e| err(format!("binding {path} again"), e))?;
        }
        Ok(())
    }
}

/// Bind-mounts the file `source` on `target`.
fn bind(source: &Path, target: &Path) -> nix::Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

/// Makes the missing directories above `path` (mode 0755).
fn make_parents(path: &Path) -> Result<(), String> {
    let parent = path.parent().expect("an absolute path has a parent");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(parent)
        .map_err(|e| err(format!("making {}", parent.display()), e))
}
