//! Where nshost finds the programs it runs (the firewall tools, Graphviz's `dot`): on
//! `PATH`, then in `/usr/sbin` and `/sbin`, where Debian installs `iptables-restore`,
//! `nft` and `ipset` but which a normal user's `PATH` lacks.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The directories looked in after `PATH`.
pub const SYSTEM_DIRS: [&str; 2] = ["/usr/sbin", "/sbin"];

/// Where `program` is: the first executable file of that name on `PATH` (its absolute
/// entries), then in [`SYSTEM_DIRS`].
pub fn find(program: &str) -> Option<PathBuf> {
    find_in(
        program,
        std::env::var_os("PATH").as_deref(),
        &SYSTEM_DIRS.map(Path::new),
    )
}

/// [`find`] with the search path and the directories after it given.
pub fn find_in(program: &str, path: Option<&OsStr>, then: &[&Path]) -> Option<PathBuf> {
    let on_path = path.into_iter().flat_map(std::env::split_paths);
    on_path
        .chain(then.iter().map(|d| d.to_path_buf()))
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_first_then_the_system_directories() {
        let root = std::env::temp_dir().join(format!("nshost-tools-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = |name: &str| {
            let d = root.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        let (user, sbin, empty) = (dir("bin"), dir("sbin"), dir("empty"));
        let tool = |d: &Path, mode: u32| {
            let p = d.join("nft");
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let in_sbin = tool(&sbin, 0o755);
        let then = [sbin.as_path()];
        // Not on PATH (a user's PATH without sbin): found in the system directory.
        let path = std::env::join_paths([&empty]).unwrap();
        assert_eq!(find_in("nft", Some(&path), &then), Some(in_sbin.clone()));
        assert_eq!(find_in("nft", None, &then), Some(in_sbin.clone()));
        // On PATH: PATH wins.
        let on_path = tool(&user, 0o755);
        let path = std::env::join_paths([&empty, &user]).unwrap();
        assert_eq!(find_in("nft", Some(&path), &then), Some(on_path));
        // A file that is not executable is no tool; nor is a directory.
        tool(&user, 0o644);
        assert_eq!(find_in("nft", Some(&path), &then), Some(in_sbin));
        std::fs::create_dir(empty.join("ipset")).unwrap();
        assert_eq!(find_in("ipset", Some(&path), &then), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
