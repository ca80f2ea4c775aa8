//! The workload diff: what starts, stops, changes and restarts, and why.

use super::*;
use crate::lab::ProcessCommand;
use crate::state::NsRole;

fn file(path: &str, text: &str) -> NodeFile {
    NodeFile {
        path: path.into(),
        content: text.as_bytes().to_vec(),
        mode: 0o644,
        source: None,
    }
}

fn proc_(name: &str, cmd: &str) -> NodeProcess {
    NodeProcess {
        name: name.into(),
        command: ProcessCommand::Shell(cmd.into()),
    }
}

fn running(p: &NodeProcess) -> LiveProcess {
    LiveProcess {
        name: p.name.clone(),
        argv: p.command.argv(),
        state: ProcState::Running,
        pid: Some(2),
        restarts: 0,
        since_ms: 0,
        last_exit: None,
    }
}

fn work(files: Vec<NodeFile>, run: Vec<NodeProcess>) -> WorkSet {
    WorkSet::from([(
        "lab-r1".to_string(),
        NodeWork {
            node: "r1".into(),
            files,
            run,
        },
    )])
}

fn live_of(w: &WorkSet) -> LiveSet {
    w.iter()
        .map(|(ns, n)| {
            (
                ns.clone(),
                LiveNode {
                    node: n.node.clone(),
                    supervisor: Some(10),
                    processes: n.run.iter().map(running).collect(),
                    files: n
                        .files
                        .iter()
                        .map(|f| (f.path.clone(), (f.content.clone(), f.mode)))
                        .collect(),
                },
            )
        })
        .collect()
}

fn lines(changes: &[WorkChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| format!("{:?} {} {}", c.action, c.node, c.text()))
        .collect()
}

#[test]
fn a_fresh_node_gets_its_files_then_its_processes() {
    let w = work(
        vec![file("/etc/bird/bird.conf", "a")],
        vec![proc_("bird", "bird -f")],
    );
    assert_eq!(
        lines(&diff(&w, &LiveSet::new(), &[])),
        ["Add r1 file /etc/bird/bird.conf", "Add r1 process bird"]
    );
    assert!(diff(&w, &live_of(&w), &[]).is_empty());
}

#[test]
fn a_changed_file_restarts_the_process_that_names_it_and_nothing_else() {
    let before = work(
        vec![file("/etc/a.conf", "1"), file("/etc/b.conf", "1")],
        vec![
            proc_("a", "a -c /etc/a.conf"),
            proc_("b", "b -c /etc/b.conf"),
        ],
    );
    let mut after = before.clone();
    after.get_mut("lab-r1").unwrap().files[0] = file("/etc/a.conf", "2");
    assert_eq!(
        lines(&diff(&after, &live_of(&before), &[])),
        [
            "Change r1 file /etc/a.conf",
            "Change r1 process a (restart: /etc/a.conf changed)"
        ]
    );
}

#[test]
fn a_file_no_command_names_restarts_every_process_of_the_node() {
    let before = work(
        vec![file("/etc/bird/bird.conf", "1")],
        vec![proc_("bird", "bird -f"), proc_("watch", "sleep 1000")],
    );
    let mut after = before.clone();
    after.get_mut("lab-r1").unwrap().files[0] = file("/etc/bird/bird.conf", "2");
    let out = lines(&diff(&after, &live_of(&before), &[]));
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[1].ends_with("(restart: /etc/bird/bird.conf changed)"));
}

#[test]
fn commands_changed_removed_and_failed_processes() {
    let before = work(
        Vec::new(),
        vec![proc_("a", "a"), proc_("b", "b"), proc_("c", "c")],
    );
    let mut live = live_of(&before);
    let node = live.get_mut("lab-r1").unwrap();
    node.processes[2].state = ProcState::Failed;
    node.processes[2].restarts = 4;
    node.processes[2].last_exit = Some("exit 1".into());
    let after = work(Vec::new(), vec![proc_("a", "a --new"), proc_("c", "c")]);
    assert_eq!(
        lines(&diff(&after, &live, &[])),
        [
            "Change r1 process a (restart: command changed)",
            "Change r1 process c (restart: failed after 4 restarts, last exit 1)",
            "Destroy r1 process b",
        ]
    );
}

#[test]
fn a_node_taken_away_loses_everything_and_a_recreated_namespace_starts_over() {
    let w = work(vec![file("/run/x", "1")], vec![proc_("a", "a")]);
    let live = live_of(&w);
    assert_eq!(
        lines(&diff(&WorkSet::new(), &live, &[])),
        ["Destroy r1 file /run/x", "Destroy r1 process a"]
    );
    let recreate = [Change::DeleteNamespace {
        ns: "lab-r1".into(),
        role: NsRole::Router,
        contents: Vec::new(),
        stray: false,
    }];
    // Destroyed with its namespace: shown going all the same.
    assert_eq!(
        lines(&diff(&WorkSet::new(), &live, &recreate)),
        ["Destroy r1 file /run/x", "Destroy r1 process a"]
    );
    assert_eq!(
        lines(&diff(&w, &live, &recreate)),
        ["Add r1 file /run/x", "Add r1 process a"]
    );
}

#[test]
fn a_changed_mode_is_a_changed_file() {
    let before = work(vec![file("/usr/local/bin/x", "#!")], Vec::new());
    let mut after = before.clone();
    after.get_mut("lab-r1").unwrap().files[0].mode = 0o755;
    assert_eq!(
        lines(&diff(&after, &live_of(&before), &[])),
        ["Change r1 file /usr/local/bin/x"]
    );
}

#[test]
fn a_simple_shell_command_is_executed_in_place_of_its_shell() {
    let argv = |s: &str| ProcessCommand::Shell(s.into()).argv();
    assert_eq!(
        argv("bird -f -c /run/bird/bird.conf"),
        ["/bin/sh", "-c", "exec bird -f -c /run/bird/bird.conf"]
    );
    // Anything a shell must run itself stays as written.
    assert_eq!(argv("echo up; sleep 1")[2], "echo up; sleep 1");
    assert_eq!(argv("A=1 prog")[2], "A=1 prog");
    assert_eq!(argv("exec prog")[2], "exec prog");
    assert_eq!(argv("prog > /tmp/x")[2], "prog > /tmp/x");
    assert_eq!(argv("while true")[2], "while true");
    // A builtin cannot be executed: `exec source x` would fail.
    assert_eq!(argv("source /run/env")[2], "source /run/env");
    assert_eq!(argv("read line")[2], "read line");
}
