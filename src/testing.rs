//! A lab per test: [`sandbox`] builds one in a throwaway sandbox, and when the test
//! fails (the guard is dropped while the thread panics) keeps the lab's plan, status,
//! checks and node logs under `target/nshost-tests/<test name>/` before the teardown.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::api::{Error, Lab};

/// A test's lab: derefs to [`Lab`]; torn down when dropped, its state kept first if the
/// test is failing.
///
/// ```
/// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
/// let lab = nshost::testing::sandbox("topologies/small.yaml")?;
/// assert!(lab.check()?.passed());
/// # Ok::<(), nshost::api::Error>(())
/// ```
#[derive(Debug)]
pub struct TestLab {
    lab: Option<Lab>,
    test: String,
}

/// Builds the lab file `path` in a sandbox for the running test (see [`TestLab`]).
///
/// ```
/// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
/// let lab = nshost::testing::sandbox("topologies/small.yaml")?;
/// let out = lab.exec("web1", &["true"])?;
/// assert!(out.status.success());
/// # Ok::<(), nshost::api::Error>(())
/// ```
pub fn sandbox(path: impl AsRef<Path>) -> Result<TestLab, Error> {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("test")
        .to_string();
    Ok(TestLab {
        lab: Some(Lab::sandbox(path)?),
        test,
    })
}

impl TestLab {
    /// Where a failing test's lab is kept: `target/nshost-tests/<test name>/` (the
    /// `target` of the test binary, else `CARGO_TARGET_DIR`, else `./target`).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::testing::sandbox("topologies/small.yaml")?;
    /// assert!(lab.kept_in().parent().unwrap().ends_with("nshost-tests"));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn kept_in(&self) -> PathBuf {
        target_dir()
            .join("nshost-tests")
            .join(self.test.replace("::", "__"))
    }

    /// Writes the lab's state under [`TestLab::kept_in`]; where, or why not.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::testing::sandbox("topologies/small.yaml")?;
    /// let dir = lab.keep().unwrap();
    /// assert!(dir.join("status.txt").is_file());
    /// # std::fs::remove_dir_all(dir).unwrap();
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn keep(&self) -> std::io::Result<PathBuf> {
        let dir = self.kept_in();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs"))?;
        if let Some(lab) = &self.lab {
            for (name, text) in lab.evidence() {
                std::fs::write(dir.join(name), text)?;
            }
        }
        Ok(dir)
    }
}

/// The `target` directory the test binary runs from (`target/debug/deps/...`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

impl Deref for TestLab {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        self.lab.as_ref().expect("the lab lives until dropped")
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            match self.keep() {
                Ok(dir) => eprintln!("nshost: the failed test's lab is kept in {}", dir.display()),
                Err(e) => eprintln!("nshost: the failed test's lab could not be kept: {e}"),
            }
        }
        drop(self.lab.take());
    }
}
