//! Firewalls: a router with the iptables rules and ipsets of a real fact file applied
//! and read back, a second plan empty, one rule changed shown as one `-` and one `+`, a
//! removed firewall undone, a set's type and family changed, an nftables ruleset, a bad
//! rule located before any namespace exists, a missing tool named with its package, the
//! tools found in `/usr/sbin` off a user's `PATH`, no helper program ever started for a
//! lab without a firewall, and rules made by hand in such a lab removed.

use std::path::Path;

use crate::ktest::*;
use crate::{apply, assert_converged, plan_code};

/// One section of a fact file (the text after its `---` line, without `EXIT_CODE`).
fn fact_section(section: &str) -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/tsim-facts/hq-gw_facts.txt");
    let text = std::fs::read_to_string(&path)
        .or_else(|_| std::fs::read_to_string("/work/shared/corpus/tsim-facts/hq-gw_facts.txt"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = format!("=== TSIM_SECTION_START:{section} ===");
    let end = format!("=== TSIM_SECTION_END:{section} ===");
    let body = &text[text.find(&start).unwrap()..text.find(&end).unwrap()];
    let body = &body[body.find("\n---\n").unwrap() + 5..];
    body.lines()
        .filter(|l| !l.starts_with("EXIT_CODE"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("        {l}\n")).collect()
}

/// A one-router lab whose router has `firewall` (YAML under `firewall:`).
fn lab(firewall: &str) -> String {
    format!(
        "name: fw\nrouters:\n  gw:\n    interfaces:\n      eth0: {{addresses: [10.1.1.1/24]}}\n{firewall}hosts:\n  h1: {{address: 10.1.1.10/24}}\n"
    )
}

fn hq_gw_firewall() -> String {
    format!(
        "    firewall:\n      iptables: |\n{}      ipsets: |\n{}",
        indent(&fact_section("iptables_save")),
        indent(&fact_section("ipset_save"))
    )
}

fn exec(node: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", node, "--"];
    args.extend(cmd);
    nshost(args).ok()
}

/// The `-A` lines of iptables-save in `node`.
fn rules(node: &str) -> Vec<String> {
    exec(node, &["iptables-save"])
        .lines()
        .filter(|l| l.starts_with("-A "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_real_routers_iptables_and_ipsets_apply_converge_and_diff_by_rule() {
    sandboxed(|| {
        let text = lab(&hq_gw_firewall());
        let file = scratch("fw.yaml", &text);
        apply(&file);
        let facts = fact_section("iptables_save");
        let want = facts.lines().filter(|l| l.starts_with("-A ")).count();
        let live = rules("gw");
        assert_eq!(live.len(), want, "{live:#?}");
        assert!(
            live.contains(&"-A INPUT -s 10.1.0.0/16 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT".to_string()),
            "{live:#?}"
        );
        let sets = exec("gw", &["ipset", "save"]);
        assert!(sets.contains("add test_bitmap_ip 10.1.1.20"), "{sets}");
        assert_converged(&file);

        // One rule changed: one `-` and one `+`, under its table and chain.
        let changed = edit(
            &text,
            "-A INPUT -s 10.1.0.0/16 -p tcp --dport 22 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT\n",
            "-A INPUT -s 10.9.0.0/16 -p tcp --dport 22 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT\n",
        );
        let file = scratch("fw.yaml", &changed);
        let plan = plan_code(&file).code(2).stdout;
        let lines: Vec<&str> = plan
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("+ -A") || l.starts_with("- -A"))
            .collect();
        assert_eq!(
            lines,
            [
                "- -A INPUT -s 10.1.0.0/16 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT",
                "+ -A INPUT -s 10.9.0.0/16 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT",
            ],
            "{plan}"
        );
        assert!(plan.contains("iptables filter/INPUT"), "{plan}");
        apply(&file);
        assert!(rules("gw").iter().any(|r| r.contains("10.9.0.0/16")));
        assert_converged(&file);

        // The firewall removed from the file: its rules and sets go.
        let file = scratch("fw.yaml", &lab(""));
        apply(&file);
        assert_eq!(rules("gw"), Vec::<String>::new());
        assert_eq!(exec("gw", &["ipset", "save"]).trim(), "");
        assert_converged(&file);
    })
}

#[test]
fn an_nftables_ruleset_applies_and_converges() {
    sandboxed(|| {
        let fw = "    firewall:\n      nftables: |\n        table inet lab {\n          set blocked { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 }; }\n          chain input {\n            type filter hook input priority 0; policy accept;\n            ip saddr @blocked drop\n            tcp dport 22 counter accept\n          }\n        }\n";
        let file = scratch("fw.yaml", &lab(fw));
        apply(&file);
        let live = exec("gw", &["nft", "list", "ruleset"]);
        assert!(live.contains("ip saddr @blocked drop"), "{live}");
        assert_converged(&file);
        let file = scratch("fw.yaml", &lab(&fw.replace("192.0.2.2", "192.0.2.3")));
        let plan = plan_code(&file).code(2).stdout;
        assert!(plan.contains("nftables inet lab/set blocked"), "{plan}");
        apply(&file);
        assert_converged(&file);
    })
}

/// A router whose set `allowed` (`create` line `header`, one `member`) is named by a
/// rule of its iptables (`ip6tables` when `v6`), and held by the list:set `all`.
fn set_lab(header: &str, member: &str, v6: bool) -> String {
    let rules = "        *filter\n        -A INPUT -m set --match-set allowed src -j ACCEPT\n        -A INPUT -m set --match-set all src -j ACCEPT\n        COMMIT\n";
    let (v4, v6) = if v6 { ("", rules) } else { (rules, "") };
    let part = |name: &str, text: &str| {
        if text.is_empty() {
            String::new()
        } else {
            format!("      {name}: |\n{text}")
        }
    };
    lab(&format!(
        "    firewall:\n      ipsets: |\n        create allowed {header}\n        add allowed {member}\n        create all list:set\n        add all allowed\n{}{}",
        part("iptables", v4),
        part("ip6tables", v6)
    ))
}

/// The set's `create` line and the rules naming it, in `node`.
fn set_and_rules(node: &str, save: &str) -> (String, Vec<String>) {
    let sets = exec(node, &["ipset", "save", "allowed"]);
    let create = sets.lines().next().unwrap_or_default();
    let create = create.split(" hashsize").next().unwrap().to_string();
    let rules = exec(node, &[save])
        .lines()
        .filter(|l| l.contains("--match-set"))
        .map(str::to_string)
        .collect();
    (create, rules)
}

/// A set's type or family changed, which the kernel cannot swap: the set is made anew
/// and the rules naming it reloaded, in the one firewall step, and the lab converges.
#[test]
fn a_sets_type_and_family_change_apply_and_converge() {
    sandboxed(|| {
        let rules = |_: &str| {
            vec![
                "-A INPUT -m set --match-set allowed src -j ACCEPT".to_string(),
                "-A INPUT -m set --match-set all src -j ACCEPT".to_string(),
            ]
        };
        let file = scratch("fw.yaml", &set_lab("hash:ip", "10.1.1.10", false));
        apply(&file);
        assert_converged(&file);
        assert_eq!(
            set_and_rules("gw", "iptables-save"),
            (
                "create allowed hash:ip family inet".into(),
                rules("iptables-save")
            )
        );
        // Type: hash:ip -> hash:net.
        let file = scratch("fw.yaml", &set_lab("hash:net", "10.1.0.0/16", false));
        apply(&file);
        assert_converged(&file);
        assert_eq!(
            set_and_rules("gw", "iptables-save"),
            (
                "create allowed hash:net family inet".into(),
                rules("iptables-save")
            )
        );
        // `ipset test` exits 0 (as `exec` asserts): a member of the new set's kind.
        exec("gw", &["ipset", "test", "allowed", "10.1.2.3"]);
        // Family: inet -> inet6, its rules moved to ip6tables.
        let file = scratch(
            "fw.yaml",
            &set_lab("hash:net family inet6", "2001:db8::/64", true),
        );
        apply(&file);
        assert_converged(&file);
        assert_eq!(
            set_and_rules("gw", "ip6tables-save"),
            (
                "create allowed hash:net family inet6".into(),
                rules("ip6tables-save")
            )
        );
        assert_eq!(set_and_rules("gw", "iptables-save").1, Vec::<String>::new());
        // And to a bitmap, family-less.
        let file = scratch("fw.yaml", &set_lab("bitmap:port range 1-1024", "22", false));
        apply(&file);
        assert_converged(&file);
        let (create, live) = set_and_rules("gw", "iptables-save");
        assert!(
            create.starts_with("create allowed bitmap:port range 1-1024"),
            "{create}"
        );
        assert_eq!(live, rules("iptables-save"));
    })
}

#[test]
fn a_bad_rule_is_located_before_any_namespace_exists() {
    sandboxed(|| {
        let fw = "    firewall:\n      iptables: |\n        *filter\n        :INPUT DROP [0:0]\n        -A INPUT -p tcp --dport bogus -j ACCEPT\n        COMMIT\n";
        let file = scratch("fw.yaml", &lab(fw));
        let run = nshost(["apply".as_ref(), file.as_os_str()]).code(1);
        assert!(
            run.stderr.contains("nshost::firewall_rejected"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("gw iptables line 3"), "{}", run.stderr);
        assert!(run.stderr.contains("bogus"), "{}", run.stderr);
        assert_eq!(netns(), Vec::<String>::new());
    })
}

#[test]
fn a_missing_tool_is_named_with_its_package() {
    sandboxed(|| {
        let file = scratch("fw.yaml", &lab(&hq_gw_firewall()));
        let dir = "/run/nshost-ktest/empty".to_string();
        std::fs::create_dir_all(&dir).unwrap();
        // nshost also looks in /usr/sbin and /sbin: hide them (this sandbox's mounts
        // are its own).
        for sbin in ["/usr/sbin", "/sbin"] {
            use nix::mount::{MsFlags, mount};
            mount(
                Some("tmpfs"),
                sbin,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .unwrap_or_else(|e| panic!("hiding {sbin}: {e}"));
        }
        let run = nshost_env(&[("PATH", &dir)], ["plan".as_ref(), file.as_os_str()]).code(1);
        assert!(
            run.stderr.contains("nshost::firewall_tool_missing"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("ipset"), "{}", run.stderr);
        assert_eq!(netns(), Vec::<String>::new());
    })
}

/// A normal user's `PATH` lacks `/usr/sbin`, where Debian puts the firewall tools:
/// nshost looks there too, so the lab applies and converges.
#[test]
fn the_tools_are_found_in_sbin_off_path() {
    sandboxed(|| {
        let file = scratch("fw.yaml", &lab(&hq_gw_firewall()));
        let path = [("PATH", "/usr/local/bin:/usr/bin:/bin")];
        nshost_env(&path, ["apply".as_ref(), file.as_os_str()]).ok();
        let run = nshost_env(
            &path,
            [
                "plan".as_ref(),
                file.as_os_str(),
                "--detailed-exitcode".as_ref(),
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    })
}

/// A directory of stand-ins for the firewall tools that record being run, then run the
/// real one.
fn recording_tools() -> (String, std::path::PathBuf) {
    let mark = Path::new("/run/nshost-ktest/tool-ran");
    let _ = std::fs::remove_file(mark);
    let dir = Path::new("/run/nshost-ktest/tools");
    std::fs::create_dir_all(dir).unwrap();
    for tool in [
        "iptables-restore",
        "iptables-save",
        "ip6tables-restore",
        "ip6tables-save",
        "nft",
        "ipset",
    ] {
        let real = ["/usr/sbin", "/sbin", "/usr/bin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} is installed (.ci/run installs it)"));
        let path = scratch(
            &format!("tools/{tool}"),
            &format!(
                "#!/bin/sh\necho {tool} >> {}\nexec {} \"$@\"\n",
                mark.display(),
                real.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", dir.display());
    (path, mark.to_path_buf())
}

#[test]
fn a_lab_without_a_firewall_never_starts_a_helper() {
    sandboxed(|| {
        let (path, mark) = recording_tools();
        let file = scratch("fw.yaml", &lab(""));
        for cmd in ["plan", "apply", "plan", "destroy"] {
            nshost_env(&[("PATH", &path)], [cmd.as_ref(), file.as_os_str()]).ok();
        }
        assert!(
            !mark.exists(),
            "{}",
            std::fs::read_to_string(&mark).unwrap_or_default()
        );
        // The same stand-ins do record a lab with a firewall.
        let file = scratch("fw.yaml", &lab(&hq_gw_firewall()));
        nshost_env(&[("PATH", &path)], ["plan".as_ref(), file.as_os_str()]).ok();
        let ran = std::fs::read_to_string(&mark).unwrap();
        assert!(ran.contains("iptables-restore"), "{ran}");
    })
}

#[test]
fn rules_and_sets_made_by_hand_in_a_lab_without_a_firewall_are_removed() {
    sandboxed(|| {
        let file = scratch("fw.yaml", &lab(""));
        apply(&file);
        exec(
            "gw",
            &["iptables", "-A", "INPUT", "-s", "192.0.2.9", "-j", "DROP"],
        );
        exec("h1", &["ipset", "create", "byhand", "hash:ip"]);
        let plan = plan_code(&file).code(2).stdout;
        assert!(
            plan.contains("- -A INPUT -s 192.0.2.9/32 -j DROP"),
            "the hand-made rule is a removal: {plan}"
        );
        assert!(
            plan.contains("byhand"),
            "the hand-made set is a removal: {plan}"
        );
        apply(&file);
        assert_eq!(rules("gw"), Vec::<String>::new());
        assert_eq!(exec("h1", &["ipset", "save"]).trim(), "");
        assert_converged(&file);
    })
}
