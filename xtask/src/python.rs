//! The Python package's tests (`python/tests`), the last part of `cargo xtask test`.
//!
//! A virtual environment in `target/python-venv` (made with `python3 -m venv`, kept between
//! runs) gets `pip install ./python pytest`, as a user would install the package, then
//! `python -m pytest python/tests` runs as the current user. maturin builds the wheel's
//! nshost with `--profile dev` into the same `target/`: the dependencies `cargo test` built
//! are reused and only the crate itself is compiled again (its build for the tests has
//! the dev-dependencies' features, so it cannot be reused: a minute or two on two cores),
//! where a user's `pip install ./python` builds everything in release. The unprivileged
//! pass is a test of its own
//! (`test_unprivileged.py`, as root, runs the whole suite again as `nobody`): the
//! venv's interpreter may live where `nobody` cannot run it (pyenv under `/root`).

use std::path::Path;
use std::process::Command;

/// Creates (or reuses) the venv, installs the package and pytest, runs the tests. `Err`
/// carries what failed, for the summary line.
pub fn test(root: &Path, path: &std::ffi::OsStr) -> Result<(), String> {
    let venv = root.join("target").join("python-venv");
    let python = venv.join("bin").join("python");
    let run = |what: &str, cmd: &mut Command| -> Result<(), String> {
        eprintln!("xtask: {what}");
        match cmd.current_dir(root).env("PATH", path).status() {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("{what} failed ({s})")),
            Err(e) => Err(format!("{what}: cannot run it: {e}")),
        }
    };
    run(
        "python3 -m venv target/python-venv (Debian: the python3-venv package)",
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
    )?;
    run(
        "pip install ./python pytest (nshost built in the dev profile)",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["./python", "pytest"])
            .env("MATURIN_PEP517_ARGS", "--profile dev"),
    )?;
    run(
        "python -m pytest python/tests",
        Command::new(&python)
            .args(["-m", "pytest", "python/tests", "-p", "no:cacheprovider"])
            .env_remove("NSHOST_BIN")
            .env_remove("PYTHONPATH"),
    )
}
