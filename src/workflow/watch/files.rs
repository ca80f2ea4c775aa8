//! The lab file and the nodes' `files:` sources, watched with inotify. The directory
//! of each is watched, not the file: an editor that saves by writing a new file and
//! renaming it over the old one replaces the inode a watch on the file would hold.
//! A file counts as changed when it is closed after writing or renamed into place.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::claim::WatchError;
use crate::validate::{DirReader, SourceError, SourceReader};

/// Watched directories (by watch descriptor) and the names in each that matter.
type Wanted = BTreeMap<i32, (PathBuf, BTreeSet<OsString>)>;

/// An inotify instance and the thread that reads it.
#[derive(Debug)]
pub struct FileWatch {
    inotify: Arc<Inotify>,
    wanted: Arc<Mutex<Wanted>>,
}

fn setup(what: &str) -> impl Fn(nix::Error) -> WatchError + '_ {
    move |e| WatchError::Setup {
        what: what.to_string(),
        cause: e.into(),
    }
}

impl FileWatch {
    /// Starts watching; `changed` is called (on the watch's own thread) with each
    /// changed file.
    pub fn start(changed: impl Fn(PathBuf) + Send + 'static) -> Result<FileWatch, WatchError> {
        let inotify =
            Arc::new(Inotify::init(InitFlags::IN_CLOEXEC).map_err(setup("files (inotify_init)"))?);
        let wanted: Arc<Mutex<Wanted>> = Arc::default();
        let (ino, want) = (inotify.clone(), wanted.clone());
        std::thread::Builder::new()
            .name("watch-files".into())
            .spawn(move || {
                while let Ok(events) = ino.read_events() {
                    for e in events {
                        let Some(name) = e.name else { continue };
                        let hit = want
                            .lock()
                            .expect("not poisoned")
                            .get(&e.wd.as_raw())
                            .filter(|(_, names)| names.contains(&name))
                            .map(|(dir, _)| dir.join(&name));
                        if let Some(path) = hit {
                            changed(path);
                        }
                    }
                }
            })
            .map_err(|cause| WatchError::Setup {
                what: "files (thread)".into(),
                cause,
            })?;
        Ok(FileWatch { inotify, wanted })
    }

    /// Watches exactly `files` (more are added; none is removed: a source dropped from
    /// the lab costs a spurious reload at most).
    pub fn watch(&self, files: &[PathBuf]) -> Result<(), WatchError> {
        for file in files {
            let dir = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let Some(name) = file.file_name() else {
                continue;
            };
            let shown = dir.display().to_string();
            let wd = self
                .inotify
                .add_watch(
                    dir,
                    AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO,
                )
                .map_err(setup(&shown))?;
            self.wanted
                .lock()
                .expect("not poisoned")
                .entry(wd.as_raw())
                .or_insert_with(|| (dir.to_path_buf(), BTreeSet::new()))
                .1
                .insert(name.to_os_string());
        }
        Ok(())
    }
}

/// A [`DirReader`] that remembers what it read: the `files:` sources to watch.
#[derive(Debug)]
pub struct Recording {
    inner: DirReader,
    pub read: RefCell<Vec<PathBuf>>,
}

impl Recording {
    pub fn beside(source: &crate::topology::SourceFile) -> Self {
        Recording {
            inner: DirReader::beside(source),
            read: RefCell::default(),
        }
    }
}

impl SourceReader for Recording {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        self.read.borrow_mut().push(self.inner.dir.join(path));
        self.inner.read(path, limit)
    }
}
