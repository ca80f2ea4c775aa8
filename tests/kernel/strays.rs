//! Entries under `/run/netns` that hold no namespace: a lab's own mount point left
//! unmounted by a killed run (its next run removes it), and anything else (a file, a
//! directory, a symlink, a FIFO), which every command skips with a note and leaves in
//! place, and which is an error only where the lab needs its name.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ktest::*;
use crate::small::*;
use crate::*;

fn entry(name: &str) -> PathBuf {
    Path::new(crate::sandbox::NETNS_DIR).join(name)
}

/// Leaves what a run killed between unmounting a namespace and removing its mount
/// point leaves: the mount point, holding the lab's mark, with no namespace on it.
fn stray_mount_point(name: &str, mark: &str) {
    let path = entry(name);
    std::fs::write(&path, mark).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
}

/// Issue: an unmounted mount point left by a killed run made every command of every
/// lab fail on it (`setns: Invalid argument`). Plan, apply and destroy of the lab and of
/// another lab all work beside it; the lab's own next apply (or destroy) removes it,
/// and its apply makes the namespace there.
#[test]
fn a_labs_stray_mount_point_is_removed_by_its_next_run() {
    sandboxed(|| {
        let small = topology("small.yaml");
        let other = scratch("other.yaml", &other_text());
        stray_mount_point("web1", "nshost:small/host\n");

        // Another lab: skipped with a note, untouched.
        let note = "note: skipped /run/netns/web1: it is an empty mount point of lab `small` \
                    (left by an interrupted run), not a namespace";
        for args in [
            vec!["plan", other.to_str().unwrap()],
            vec!["apply", other.to_str().unwrap()],
            vec!["plan", other.to_str().unwrap()],
            vec!["destroy", "--lab", "other"],
        ] {
            let run = nshost(&args).code(0);
            assert!(flat(&run.stderr).contains(note), "{args:?}: {}", run.stderr);
            assert_eq!(entries()["web1"], "file", "{args:?} left it alone");
        }
        assert_eq!(netns(), ["web1"]);

        // The lab itself: its plan makes the namespace again, its destroy removes the
        // stray, and so does its apply.
        let gone = "  - namespace web1 (an empty mount point left by an interrupted run)\n";
        let full = ["plan".as_ref(), small.as_os_str(), "--full".as_ref()];
        let plan = nshost(full).code(0).stdout;
        assert!(plan.contains(gone), "{plan}");
        assert!(plan.contains("  + namespace web1\n"), "{plan}");
        let out = nshost(["destroy", "--lab", "small"]).ok();
        assert!(out.contains(gone), "destroy says what it removes: {out}");
        assert_eq!(entries(), BTreeMap::new());
        stray_mount_point("web1", "nshost:small/host\n");
        apply(&small);
        assert_converged(&small);
        assert_only_namespaces();
        assert_eq!(netns(), small_namespaces("small", ""));
        check_small("small", "");
    })
}

/// Issue: a FIFO under `/run/netns` hung every command (it was opened blocking), and
/// any entry that is not a namespace failed them. A regular file, a directory, a
/// symlink and a FIFO are skipped by plan, apply and destroy with a note naming each,
/// and left in place; one named like a node of the lab stops plan and apply with
/// `nshost::stray_entry` naming it, having created nothing.
#[test]
fn foreign_entries_are_skipped_with_a_note_and_left_in_place() {
    sandboxed(|| {
        let file = topology("small.yaml");
        std::fs::write(entry("notes.txt"), "not a namespace\n").unwrap();
        std::fs::create_dir(entry("somedir")).unwrap();
        std::os::unix::fs::symlink("/proc/self/ns/net", entry("alink")).unwrap();
        nix::unistd::mkfifo(
            &entry("apipe"),
            nix::sys::stat::Mode::from_bits(0o600).unwrap(),
        )
        .unwrap();
        let foreign = entries();
        assert_eq!(
            foreign,
            BTreeMap::from([
                ("alink".to_string(), "symlink"),
                ("apipe".to_string(), "fifo"),
                ("notes.txt".to_string(), "file"),
                ("somedir".to_string(), "directory"),
            ])
        );
        let notes = [
            "note: skipped /run/netns/alink: it is a symbolic link, not a namespace",
            "note: skipped /run/netns/apipe: it is a FIFO, not a namespace",
            "note: skipped /run/netns/notes.txt: it is a file that holds no namespace, not a \
             namespace",
            "note: skipped /run/netns/somedir: it is a directory, not a namespace",
        ];
        for command in ["plan", "apply", "plan", "destroy"] {
            let run = nshost([command.as_ref(), file.as_os_str()]).code(0);
            let err = flat(&run.stderr);
            for note in notes {
                assert!(
                    err.contains(note),
                    "{command}: no `{note}` in {}",
                    run.stderr
                );
            }
            let now = entries();
            for (name, what) in &foreign {
                assert_eq!(now.get(name), Some(what), "{command} left {name} in place");
            }
            if command == "apply" {
                assert_converged(&file);
                check_small("small", "");
            }
        }
        assert_eq!(
            entries(),
            foreign,
            "destroy removed the lab, and only the lab"
        );

        // Each kind of entry, named like a node of the lab.
        let pc1 = entry("pc1");
        let kinds: [(&str, &dyn Fn()); 4] = [
            ("a file that holds no namespace", &|| {
                std::fs::write(&pc1, "").unwrap()
            }),
            ("a directory", &|| std::fs::create_dir(&pc1).unwrap()),
            ("a symbolic link", &|| {
                std::os::unix::fs::symlink("/proc/self/ns/net", &pc1).unwrap()
            }),
            ("a FIFO", &|| {
                nix::unistd::mkfifo(&pc1, nix::sys::stat::Mode::from_bits(0o600).unwrap()).unwrap()
            }),
        ];
        for (what, make) in kinds {
            make();
            for command in ["plan", "apply"] {
                let run = nshost([command.as_ref(), file.as_os_str()]).code(1);
                let err = flat(&run.stderr);
                assert!(
                    err.contains("nshost::stray_entry"),
                    "{command}: {}",
                    run.stderr
                );
                assert!(
                    err.contains(&format!("pc1 is {what}")),
                    "{command}: {}",
                    run.stderr
                );
                let mut want = foreign.clone();
                want.insert("pc1".into(), entries()["pc1"]);
                assert_eq!(
                    entries(),
                    want,
                    "{command} created nothing, removed nothing"
                );
            }
            match std::fs::remove_dir(&pc1) {
                Ok(()) => {}
                Err(_) => std::fs::remove_file(&pc1).unwrap(),
            }
        }
    })
}
