//! The project's own tasks, run as `cargo xtask TASK` (an alias in `.cargo/config.toml`).
//!
//! `cargo xtask test` is the test command the README names and `.ci/run` calls: it makes
//! sure the programs the tests drive are installed (installing the missing ones with
//! apt-get when run as root, or stopping at once with the one command that installs
//! them), then runs every test binary, none hiding the others (`--no-fail-fast`), then the
//! Python package's tests (`python.rs`).
//! `cargo xtask deps` does only the first part. `cargo xtask docs` regenerates the
//! book's generated pages (`docs/src/reference/`, `tests/docs.rs` checks them).

mod python;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// A program the tests run, and the Debian package that ships it.
struct Need {
    program: &'static str,
    package: &'static str,
    why: &'static str,
}

/// Every program the test suite drives, beside the Rust toolchain.
const NEEDS: &[Need] = &[
    Need {
        program: "ip",
        package: "iproute2",
        why: "the kernel tests look at the kernel with `ip -j`",
    },
    Need {
        program: "unshare",
        package: "util-linux",
        why: "the kernel tests' sandboxes",
    },
    Need {
        program: "setpriv",
        package: "util-linux",
        why: "the unprivileged pass of the kernel tests",
    },
    Need {
        program: "prlimit",
        package: "util-linux",
        why: "the open-file limit tests",
    },
    Need {
        program: "dot",
        package: "graphviz",
        why: "`nshost graph --format svg` and its test",
    },
    Need {
        program: "iptables-restore",
        package: "iptables",
        why: "labs with iptables firewalls",
    },
    Need {
        program: "nft",
        package: "nftables",
        why: "labs with nftables firewalls",
    },
    Need {
        program: "ipset",
        package: "ipset",
        why: "labs with ipsets",
    },
    Need {
        program: "python3",
        package: "python3-venv",
        why: "the Python package's tests (`python/tests`, in a venv)",
    },
    Need {
        program: "bird",
        package: "bird2",
        why: "the routing-daemon tests (BIRD OSPF in `topologies/ospf.yaml`)",
    },
];

/// A program the tests run that `cargo install` provides, and how.
struct CargoNeed {
    program: &'static str,
    install: &'static [&'static str],
    why: &'static str,
}

/// The [`CargoNeed`]s: installed by `cargo install` as any user (into `~/.cargo/bin`).
const CARGO_NEEDS: &[CargoNeed] = &[CargoNeed {
    program: "mdbook",
    install: &[
        "install",
        "--locked",
        "mdbook",
        "--no-default-features",
        "--features",
        "search",
    ],
    why: "the book's build test (`tests/docs.rs` runs `mdbook build docs`)",
}];

/// Where programs are looked for beside `PATH`: a normal user's `PATH` often lacks the
/// system directories that hold the firewall tools.
const SYSTEM_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match args.first().and_then(|a| a.to_str()) {
        Some("test") => test(&args[1..]),
        Some("deps") => match deps() {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Some("docs") => docs(),
        _ => {
            eprintln!(
                "usage: cargo xtask test [CARGO TEST ARGS...]   install what the tests need, run them all\n\
                 \x20      cargo xtask deps                        only install (or name) what the tests need\n\
                 \x20      cargo xtask docs                        regenerate the book's generated pages"
            );
            ExitCode::from(2)
        }
    }
}

/// Installs what the tests need, then runs `cargo test --locked --no-fail-fast` with any
/// further arguments.
fn test(extra: &[OsString]) -> ExitCode {
    if let Err(code) = deps() {
        return code;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--locked", "--no-fail-fast"])
        .args(extra)
        .env("PATH", search_path())
        .status();
    let code = match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1).max(1)),
        Err(e) => {
            eprintln!("xtask: could not run cargo: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The Python package's tests run even when a cargo test failed (none hides another).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the project");
    match python::test(root, &search_path()) {
        Ok(()) => code,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the book's generated pages: `nshost __docs` (the command line's, the schema's
/// and the error codes' pages, and the reference part of `docs/src/SUMMARY.md`).
fn docs() -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the project")
        .to_path_buf();
    let status = Command::new(cargo)
        .args([
            "run", "--locked", "--quiet", "--bin", "nshost", "--", "__docs", "--repo",
        ])
        .arg(&root)
        .current_dir(&root)
        .status();
    match status {
        Ok(s) if s.success() => {
            eprintln!("xtask: wrote docs/src/reference/ and docs/src/SUMMARY.md");
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: could not run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the missing [`CARGO_NEEDS`] with `cargo install` (as any user).
fn cargo_deps() -> Result<(), ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for need in CARGO_NEEDS {
        if which(need.program).is_some() {
            continue;
        }
        eprintln!(
            "xtask: installing {} ({}): cargo {}",
            need.program,
            need.why,
            need.install.join(" ")
        );
        let installed = Command::new(&cargo)
            .args(need.install)
            .status()
            .is_ok_and(|s| s.success());
        if !installed || which(need.program).is_none() {
            eprintln!(
                "xtask: could not install {}; run `cargo {}` by hand",
                need.program,
                need.install.join(" ")
            );
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

/// Checks every [`NEEDS`] program; installs the missing ones as root, or names the
/// command that does; then the [`CARGO_NEEDS`].
fn deps() -> Result<(), ExitCode> {
    apt_deps()?;
    cargo_deps()
}

/// Checks every [`NEEDS`] program; installs the missing ones as root, or names the
/// command that does.
fn apt_deps() -> Result<(), ExitCode> {
    let missing = missing();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|n| n.package).collect();
    packages.dedup();
    eprintln!("xtask: the tests need programs this machine lacks:");
    for need in &missing {
        eprintln!(
            "  {} (Debian package {}): {}",
            need.program, need.package, need.why
        );
    }
    let install = format!("apt-get install -y {}", packages.join(" "));
    if !is_root() || which("apt-get").is_none() {
        eprintln!(
            "xtask: install them, then run the tests again:\n  sudo apt-get update && sudo {install}"
        );
        return Err(ExitCode::from(2));
    }
    eprintln!("xtask: installing them (as root): apt-get update && {install}");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut install_args = vec!["install", "-y", "-qq"];
    install_args.extend(&packages);
    if !(apt(&["update", "-qq"]) && apt(&install_args)) {
        eprintln!("xtask: apt-get failed; install them by hand: {install}");
        return Err(ExitCode::from(2));
    }
    let still = missing_now();
    if !still.is_empty() {
        eprintln!(
            "xtask: still missing after the install: {}",
            still.join(", ")
        );
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// The [`NEEDS`] not found.
fn missing() -> Vec<&'static Need> {
    NEEDS
        .iter()
        .filter(|n| which(n.program).is_none())
        .collect()
}

/// The names of the [`NEEDS`] still not found.
fn missing_now() -> Vec<&'static str> {
    missing().iter().map(|n| n.program).collect()
}

/// `PATH` with [`SYSTEM_DIRS`] after it, as the tests see it.
fn search_path() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin"));
    let system = SYSTEM_DIRS
        .iter()
        .chain(&["/usr/bin", "/bin"])
        .map(PathBuf::from);
    for dir in system.chain(cargo_bin) {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// The first executable `program` on [`search_path`].
fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&search_path())
        .map(|dir| dir.join(program))
        .find(|path| is_executable(path, |m| m.permissions().mode() & 0o111 != 0))
}

fn is_executable(path: &Path, exec: impl Fn(&std::fs::Metadata) -> bool) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && exec(&m))
}

/// Whether this process runs as root (its effective uid, from `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}
