//! ipvsadm-rs against the real ipvsadm 1.31, in the lab.
//!
//! Each scenario is a sequence of shell command lines calling `ipvsadm`. It runs
//! twice, each time in a fresh network namespace (an empty IPVS table): once with
//! the real ipvsadm first on PATH, once with ipvsadm-rs there under the name
//! `ipvsadm` (a symlink, so argv\[0\] is `ipvsadm` in both runs, as ipvsadm prints
//! it in messages). Compared: stdout, stderr and exit status of every line, then
//! the final kernel state as the real ipvsadm shows it (`-Sn`,
//! `-Ln --thresholds --persistent-conn --tun-info`, `--timeout`, `--daemon`).
//! Listings in the kernel's own order (`--nosort`) are compared on one state,
//! since that order depends on a per-namespace hash: both tools list the table
//! the real ipvsadm built.

use std::path::{Path, PathBuf};

use ipvs_lab::{lab_test, run_cases, workspace_bin, Netns, Output};

/// One differential scenario.
struct Scenario {
    name: &'static str,
    /// Run before the steps in both namespaces, not compared (interfaces etc.).
    setup: &'static str,
    /// Shell lines; `ipvsadm` is whichever tool is being judged.
    steps: &'static [&'static str],
}

const fn sc(name: &'static str, steps: &'static [&'static str]) -> Scenario {
    Scenario {
        name,
        setup: "",
        steps,
    }
}

const DUMMY: &str = "ip link add d0 type dummy && ip link set d0 multicast on && ip link set d0 up";

/// Directories holding an `ipvsadm` symlink to each tool.
struct Tools {
    _dir: tempfile::TempDir,
    real: PathBuf,
    ours: PathBuf,
}

fn tools() -> Tools {
    let dir = tempfile::Builder::new()
        .prefix("cli-tools")
        .tempdir_in(tool_root())
        .expect("temp dir");
    let real = dir.path().join("real");
    let ours = dir.path().join("ours");
    std::fs::create_dir_all(&real).expect("mkdir real");
    std::fs::create_dir_all(&ours).expect("mkdir ours");
    let real_bin = which_ipvsadm();
    std::os::unix::fs::symlink(&real_bin, real.join("ipvsadm")).expect("symlink real");
    std::os::unix::fs::symlink(workspace_bin("ipvsadm-rs"), ours.join("ipvsadm"))
        .expect("symlink ours");
    Tools {
        _dir: dir,
        real,
        ours,
    }
}

/// In the lab /run is a private tmpfs; elsewhere the system temp dir.
fn tool_root() -> PathBuf {
    if Path::new("/run").is_dir() && ipvs_lab::in_lab() {
        PathBuf::from("/run")
    } else {
        std::env::temp_dir()
    }
}

fn which_ipvsadm() -> PathBuf {
    for p in ["/usr/sbin/ipvsadm", "/sbin/ipvsadm", "/usr/bin/ipvsadm"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("the real ipvsadm is not installed");
}

const STATE: &[&str] = &[
    "ipvsadm -Sn",
    "ipvsadm -Ln --thresholds --persistent-conn --tun-info",
    "ipvsadm -Ln --timeout",
    "ipvsadm -L --daemon",
];

/// Every step's output, then the final state (always shown by the real ipvsadm).
///
/// All lines run in one shell inside the namespace (one `ip netns exec` per
/// play, which keeps a scenario to a few hundred milliseconds in the lab); each
/// line runs in its own subshell with its output captured to files.
fn play(tools: &Tools, dir: &Path, s: &Scenario) -> (Netns, Vec<(String, Output)>) {
    let ns = Netns::new("cli");
    if !s.setup.is_empty() {
        ns.must(s.setup);
    }
    let work = tempfile::Builder::new()
        .prefix("cli-play")
        .tempdir_in(tool_root())
        .expect("temp dir");
    let w = work.path().display().to_string();
    let mut lines: Vec<(String, &Path)> = s.steps.iter().map(|l| (l.to_string(), dir)).collect();
    lines.extend(STATE.iter().map(|l| (l.to_string(), tools.real.as_path())));
    let mut script = String::new();
    for (i, (line, tool_dir)) in lines.iter().enumerate() {
        script.push_str(&format!(
            "(PATH={}:$PATH; export PATH; {line}\n) >{w}/{i}.out 2>{w}/{i}.err </dev/null; echo $? >{w}/{i}.rc\n",
            tool_dir.display()
        ));
    }
    ns.must(&script);
    let read =
        |i: usize, ext: &str| std::fs::read_to_string(format!("{w}/{i}.{ext}")).unwrap_or_default();
    let outs = lines
        .iter()
        .enumerate()
        .map(|(i, (line, tool_dir))| {
            let label = if *tool_dir == tools.real.as_path() && i >= s.steps.len() {
                format!("[state] {line}")
            } else {
                line.clone()
            };
            let status = read(i, "rc").trim().parse().unwrap_or(-1);
            (
                label,
                Output {
                    status,
                    stdout: read(i, "out"),
                    stderr: read(i, "err"),
                },
            )
        })
        .collect();
    (ns, outs)
}

/// Listings whose order is the kernel's hash order, which differs between
/// namespaces: compared on one kernel state, the one the real ipvsadm built.
const SAME_STATE: &[&str] = &[
    "ipvsadm -Ln --nosort",
    "ipvsadm -Sn --nosort",
    "ipvsadm -L --nosort --stats --exact",
    "ipvsadm -Ln --nosort --thresholds --persistent-conn --tun-info",
];

fn same_state(tools: &Tools, ns: &Netns) -> Vec<String> {
    let mut diffs = Vec::new();
    for line in SAME_STATE {
        let run = |dir: &Path| {
            ns.sh(&format!(
                "PATH={}:$PATH; export PATH; {line}",
                dir.display()
            ))
        };
        let (r, o) = (run(&tools.real), run(&tools.ours));
        if r != o {
            diffs.push(format!(
                "[same state] `{line}`\n--- ipvsadm ---\n{r}\n--- ipvsadm-rs ---\n{o}"
            ));
        }
    }
    diffs
}

fn compare(tools: &Tools, s: &Scenario) {
    let (real_ns, real) = play(tools, &tools.real, s);
    let (_ours_ns, ours) = play(tools, &tools.ours, s);
    let mut diffs = same_state(tools, &real_ns);
    for ((line, r), (_, o)) in real.iter().zip(ours.iter()) {
        if r != o {
            diffs.push(format!(
                "`{line}`\n--- ipvsadm ---\n{r}\n--- ipvsadm-rs ---\n{o}"
            ));
        }
    }
    // A scenario that never reached the kernel would prove little.
    assert!(real.len() == ours.len() && !real.is_empty());
    assert!(
        diffs.is_empty(),
        "scenario {}: {} differences\n{}",
        s.name,
        diffs.len(),
        diffs.join("\n")
    );
}

fn run_scenarios(list: &'static [Scenario]) {
    let tools = std::sync::Arc::new(tools());
    run_cases(list.iter().map(|s| {
        let tools = tools.clone();
        (s.name, move || compare(&tools, s))
    }));
}

const SERVICES: &[Scenario] = &[
    sc("add-tcp-default-scheduler", &["ipvsadm -A -t 192.0.2.1:80", "ipvsadm -Ln", "ipvsadm -Sn"]),
    sc("add-udp", &["ipvsadm -A -u 192.0.2.1:53 -s rr", "ipvsadm -Ln"]),
    sc("add-sctp", &["ipvsadm -A --sctp-service 192.0.2.3:3868 -s nq", "ipvsadm -Ln", "ipvsadm -S -n"]),
    sc("sched-rr", &["ipvsadm -A -t 192.0.2.1:80 -s rr", "ipvsadm -Ln"]),
    sc("sched-wrr", &["ipvsadm -A -t 192.0.2.1:80 -s wrr", "ipvsadm -Ln"]),
    sc("sched-lc", &["ipvsadm -A -t 192.0.2.1:80 -s lc", "ipvsadm -Ln"]),
    sc("sched-wlc", &["ipvsadm -A -t 192.0.2.1:80 -s wlc", "ipvsadm -Ln"]),
    sc("sched-lblc", &["ipvsadm -A -t 192.0.2.1:80 -s lblc", "ipvsadm -Ln"]),
    sc("sched-lblcr", &["ipvsadm -A -t 192.0.2.1:80 -s lblcr", "ipvsadm -Ln"]),
    sc("sched-dh", &["ipvsadm -A -t 192.0.2.1:80 -s dh", "ipvsadm -Ln"]),
    sc("sched-sh", &["ipvsadm -A -t 192.0.2.1:80 -s sh -b sh-fallback,sh-port", "ipvsadm -Ln", "ipvsadm -Sn"]),
    sc("sched-sed", &["ipvsadm -A -t 192.0.2.1:80 -s sed", "ipvsadm -Ln"]),
    sc("sched-nq", &["ipvsadm -A -t 192.0.2.1:80 -s nq", "ipvsadm -Ln"]),
    sc("sched-fo", &["ipvsadm -A -t 192.0.2.1:80 -s fo", "ipvsadm -Ln"]),
    sc("sched-ovf", &["ipvsadm -A -t 192.0.2.1:80 -s ovf", "ipvsadm -Ln"]),
    sc("sched-mh", &["ipvsadm -A -u 192.0.2.1:53 -s mh -b mh-fallback,mh-port -o", "ipvsadm -Ln", "ipvsadm -Sn"]),
    sc("sched-unknown", &["ipvsadm -A -t 192.0.2.1:80 -s nosuch", "ipvsadm -A -t 192.0.2.1:80 -s rrrrrrrrrrrrrrrrrrrrrr", "ipvsadm -Ln"]),
    sc("sched-flags", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr -b flag-1,flag-2",
        "ipvsadm -A -t 192.0.2.2:80 -s wrr -b flag-3,flag-1",
        "ipvsadm -A -t 192.0.2.3:80 -s sh -b flag-3",
        "ipvsadm -A -t 192.0.2.4:80 -s wrr -b flag-1,,flag-2",
        "ipvsadm -A -t 192.0.2.5:80 -b ''",
        "ipvsadm -Ln", "ipvsadm -Sn",
    ]),
    sc("persistence", &[
        "ipvsadm -A -t 192.0.2.1:80 -p",
        "ipvsadm -A -t 192.0.2.2:80 -p 600 -M 255.255.255.0",
        "ipvsadm -A -t 192.0.2.3:0 -p 60",
        "ipvsadm -A -t [2001:db8::1]:443 -s wlc -p -M 64",
        "ipvsadm -A -t 192.0.2.4:80 -p5 --pe sip",
        "ipvsadm -A -t 192.0.2.5:80 --persistent=7",
        "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln --persistent-conn",
    ]),
    sc("pe-without-persistence", &["ipvsadm -A -t 192.0.2.1:80 -s rr --pe sip", "ipvsadm -A -u 192.0.2.1:5060 -s rr --pe sip -o", "ipvsadm -Ln", "ipvsadm -Sn"]),
    sc("edit-service", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -E -t 192.0.2.1:80 -s wrr -p 100",
        "ipvsadm -Ln",
        "ipvsadm -E -t 192.0.2.1:80",
        "ipvsadm -Ln",
        "ipvsadm -E -t 192.0.2.9:80 -s rr",
    ]),
    sc("delete-service", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -A -t 192.0.2.2:80 -s rr",
        "ipvsadm -D -t 192.0.2.1:80",
        "ipvsadm -D -t 192.0.2.1:80",
        "ipvsadm -Ln",
    ]),
    sc("duplicate-service", &["ipvsadm -A -t 192.0.2.1:80", "ipvsadm -A -t 192.0.2.1:80 -s rr", "ipvsadm -Ln"]),
    sc("fwmark-services", &[
        "ipvsadm -A -f 7 -s rr",
        "ipvsadm -A -f 7 -6 -s lc -p 100",
        "ipvsadm -A -f 9 -M 255.0.0.0 -p",
        "ipvsadm -A -f 10 -6 -M 48 -p",
        "ipvsadm -A -f 11 -M 48 -6 -p",
        "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln -f 7", "ipvsadm -Ln -f 7 -6", "ipvsadm -Ln -f 8",
        "ipvsadm -D -f 7 -6", "ipvsadm -Ln",
    ]),
    sc("ipv6-services", &[
        "ipvsadm -A -t [2001:db8::1]:80 -s rr",
        "ipvsadm -A -u [2001:db8::1]:53 -s rr",
        "ipvsadm -A -t 2001:db8::2 -p",
        "ipvsadm -A -u [::ffff:192.0.2.15]:53",
        "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln -t [2001:db8::1]:80",
    ]),
    sc("one-packet", &["ipvsadm -A -u 192.0.2.1:53 -o", "ipvsadm -A -f 3 -o", "ipvsadm -A -t 192.0.2.1:80 -o", "ipvsadm -Ln", "ipvsadm -Sn"]),
    sc("address-forms", &[
        "ipvsadm -A -t 0x7f.1:81",
        "ipvsadm -A -t 192.0.2:82",
        "ipvsadm -A -t 192.0.2.12:+80",
        "ipvsadm -A -t [192.0.2.13]:80 -p",
        "ipvsadm -A -t=192.0.2.14:80",
        "ipvsadm -A -s=rr -t 192.0.2.15:80",
        "ipvsadm -Ln",
    ]),
    sc("names", &[
        "ipvsadm -A -t localhost:ssh -s rr",
        "ipvsadm -A -t 192.0.2.1:http -s rr",
        "ipvsadm -A -u 192.0.2.1:domain -s rr",
        "ipvsadm -a -t 192.0.2.1:http -r localhost -m",
        "ipvsadm -a -t 192.0.2.1:http -r 192.0.2.2:https -m",
        "ipvsadm", "ipvsadm -L", "ipvsadm -S", "ipvsadm -L --stats", "ipvsadm -L -t localhost:22",
    ]),
    sc("flush", &["ipvsadm -A -t 192.0.2.1:80", "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.2", "ipvsadm -C", "ipvsadm -Ln", "ipvsadm --clear"]),
    sc("zero", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -Z", "ipvsadm -Z -t 192.0.2.1:80", "ipvsadm -Z -t 192.0.2.9:80", "ipvsadm --zero -f 3",
        "ipvsadm -Ln --stats",
    ]),
    sc("timeouts", &[
        "ipvsadm -L --timeout",
        "ipvsadm --set 100 20 30",
        "ipvsadm -L --timeout",
        "ipvsadm --set 0 0 0",
        "ipvsadm -l --timeout",
        "ipvsadm --set 1 2 2678400",
        "ipvsadm -Ln --timeout",
    ]),
    sc("edit-service-flags", &[
        "ipvsadm -A -u 192.0.2.1:53 -s sh -b sh-port",
        "ipvsadm -E -u 192.0.2.1:53 -s sh -b sh-fallback -o",
        "ipvsadm -Ln",
        "ipvsadm -E -u 192.0.2.1:53 -s mh -b mh-port -p 30 --pe sip",
        "ipvsadm -Ln", "ipvsadm -Sn",
        "ipvsadm -E -u 192.0.2.1:53 -s rr -p 30 -M 255.255.255.128",
        "ipvsadm -Ln",
    ]),
    sc("unknown-persistence-engine", &["ipvsadm -A -t 192.0.2.1:80 -p --pe nosuch", "ipvsadm -A -t 192.0.2.1:80 -p --pe sipsipsipsipsipsipsip", "ipvsadm -Ln"]),
    sc("partial-timeouts", &["ipvsadm --set 0 5 0", "ipvsadm -L --timeout", "ipvsadm --set 7 0 0", "ipvsadm -L --timeout", "ipvsadm --set 0 0 9", "ipvsadm -L --timeout"]),
    sc("ipv6-loopback-names", &[
        "ipvsadm -A -t [::1]:22 -s rr",
        "ipvsadm -a -t [::1]:22 -r [::1]:22 -m",
        "ipvsadm -L", "ipvsadm -S", "ipvsadm -Ln",
    ]),
    sc("long-option-names", &[
        "ipvsadm --add-service --tcp-service 192.0.2.1:80 --scheduler rr --persistent 30 --netmask 255.255.255.0",
        "ipvsadm --add-server --tcp-service 192.0.2.1:80 --real-server 192.0.2.2:80 --masquerading --weight 4 --u-threshold 9 --l-threshold 3",
        "ipvsadm --add-service --udp-service 192.0.2.1:53 --ops --sched-flags flag-1",
        "ipvsadm --add-service --fwmark-service 3 --ipv6 --scheduler lc",
        "ipvsadm --add-server --fwmark-service 3 --ipv6 --real-server [2001:db8::3] --gatewaying",
        "ipvsadm --add-server --udp-service 192.0.2.1:53 --real-server 192.0.2.9 --ipip --tun-type gue --tun-port 5555 --tun-remcsum",
        "ipvsadm --list --numeric --thresholds", "ipvsadm --list --numeric --tun-info", "ipvsadm --save --numeric",
        "ipvsadm --edit-server --tcp-service 192.0.2.1:80 --real-server 192.0.2.2:80 --masquerading --weight 1",
        "ipvsadm --delete-server --tcp-service 192.0.2.1:80 --real-server 192.0.2.2:80",
        "ipvsadm --edit-service --tcp-service 192.0.2.1:80 --scheduler wrr",
        "ipvsadm --delete-service --tcp-service 192.0.2.1:80",
        "ipvsadm --zero", "ipvsadm --list --numeric",
    ]),
    Scenario {
        name: "local-forwarding",
        setup: "ip addr add 192.0.2.200/32 dev lo",
        steps: &[
            "ipvsadm -A -t 192.0.2.1:80 -s rr",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.200 -m",
            "ipvsadm -a -t 192.0.2.1:80 -r 127.0.0.1:8080 -m",
            "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln --tun-info",
        ],
    },
    sc("not-root", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "setpriv --reuid=65534 --regid=65534 --clear-groups ipvsadm -Ln",
        "setpriv --reuid=65534 --regid=65534 --clear-groups ipvsadm -A -t 192.0.2.2:80",
        "ipvsadm -Ln",
    ]),
];

const DESTINATIONS: &[Scenario] = &[
    sc("dest-forwarding-methods", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 3",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11:8080 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12 -i -w 0",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13",
        "ipvsadm -Ln", "ipvsadm -Sn",
    ]),
    sc("dest-thresholds", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m -x 100 -y 50",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11 -m -x 2147483647",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12 -m -y 50",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13 -m -x 10 -y 20",
        "ipvsadm -Ln --thresholds",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.10 -m -x 0 -y 0",
        "ipvsadm -Ln --thresholds",
    ]),
    sc("dest-edit", &[
        "ipvsadm -A -t 192.0.2.1:80 -s wrr",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.10 -m -w 9",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.10 -g",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.99 -w 2",
        "ipvsadm -e -t 192.0.2.9:80 -r 192.0.2.10 -w 2",
        "ipvsadm -Ln",
    ]),
    sc("dest-delete", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m",
        "ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -d -t 192.0.2.9:80 -r 192.0.2.10",
        "ipvsadm -Ln",
    ]),
    sc("dest-duplicate-and-orphan", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -a -t 192.0.2.9:80 -r 192.0.2.10",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11 -w 65536",
        "ipvsadm -Ln",
    ]),
    sc("dest-ports", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:8080",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11:8080 -m",
        "ipvsadm -a -r 192.0.2.12 -t 192.0.2.1:80 -m",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13:http-alt -m",
        "ipvsadm -Ln", "ipvsadm -S",
    ]),
    sc("dest-tunnels", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue --tun-port 6080 --tun-csum",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.12 -i --tun-type gue --tun-port 6081 --tun-remcsum",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.13 -i --tun-type gre --tun-nocsum",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.14 -i --tun-type gue --tun-port 6082",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.15 -i --tun-type gre --tun-csum",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.16 -i --tun-type ipip",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.17 -m",
        "ipvsadm -Ln --tun-info", "ipvsadm -Sn", "ipvsadm -Ln",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue --tun-port 7000 --tun-nocsum",
        "ipvsadm -Ln --tun-info",
    ]),
    sc("dest-ipv6-and-mixed-family", &[
        "ipvsadm -A -t [2001:db8::1]:443 -s rr",
        "ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::10]:8443 -m -w 7",
        "ipvsadm -a -t [2001:db8::1]:443 -r 2001:db8::11 -g",
        "ipvsadm -a -t [2001:db8::1]:443 -r 192.0.2.77 -i",
        "ipvsadm -a -t [2001:db8::1]:443 -r 192.0.2.78 -m",
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -a -t 192.0.2.1:80 -r 2001:db8::12 -i",
        "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln --tun-info",
    ]),
    sc("dest-fwmark", &[
        "ipvsadm -A -f 8 -s lc",
        "ipvsadm -a -f 8 -r 192.0.2.20:99 -m",
        "ipvsadm -a -f 8 -r 192.0.2.21:http -m",
        "ipvsadm -a -f 8 -r 192.0.2.22 -g",
        "ipvsadm -A -f 7 -6 -s rr",
        "ipvsadm -a -f 7 -6 -r 2001:db8::20 -g",
        "ipvsadm -a -f 7 -r 2001:db8::21 -g",
        "ipvsadm -Ln", "ipvsadm -S", "ipvsadm -Ln -f 8",
    ]),
    sc("dest-sort-order", &[
        "ipvsadm -A -t 192.0.2.1:80 -s rr",
        "ipvsadm -a -t 192.0.2.1:80 -r 10.0.0.1 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 200.0.0.1 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.9 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 127.0.0.5 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 1.2.3.4 -g",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:1 -m",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:2 -m",
        "ipvsadm -A -t 10.0.0.1:80", "ipvsadm -A -t 200.0.0.1:80", "ipvsadm -A -u 10.0.0.1:80",
        "ipvsadm -A -t 192.0.2.1:79", "ipvsadm -A -f 1", "ipvsadm -A -f 4294967295",
        "ipvsadm -Ln", "ipvsadm -Sn",
    ]),
    sc("dest-sctp-udp", &[
        "ipvsadm -A --sctp-service 192.0.2.3:3868 -s nq",
        "ipvsadm -a --sctp-service 192.0.2.3:3868 -r 192.0.2.30 -m",
        "ipvsadm -A -u 192.0.2.3:53 -s rr",
        "ipvsadm -a -u 192.0.2.3:53 -r 192.0.2.31:domain -m",
        "ipvsadm -L", "ipvsadm -Sn",
    ]),
    sc("many-services", &[
        "i=1; while [ $i -le 40 ]; do ipvsadm -A -t 192.0.2.$i:80 -s rr || exit 1; ipvsadm -a -t 192.0.2.$i:80 -r 198.51.100.$i:8080 -m -w $i || exit 1; i=$((i+1)); done",
        "ipvsadm -Ln", "ipvsadm -Sn", "ipvsadm -Ln --stats --exact",
    ]),
    sc("dest-quiesce-and-readd", &[
        "ipvsadm -A -t 192.0.2.1:80 -s wlc",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m -w 5",
        "ipvsadm -e -t 192.0.2.1:80 -r 192.0.2.10 -m -w 0",
        "ipvsadm -Ln",
        "ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m -w 2",
        "ipvsadm -Ln --persistent-conn",
    ]),
    sc("dest-ipv6-fwmark-tunnels", &[
        "ipvsadm -A -f 5 -6 -s rr",
        "ipvsadm -a -f 5 -6 -r 192.0.2.40 -i",
        "ipvsadm -a -f 5 -6 -r 2001:db8::40 -i --tun-type gue --tun-port 6000 --tun-csum",
        "ipvsadm -a -f 5 -6 -r 2001:db8::41 -i --tun-type gre",
        "ipvsadm -Ln --tun-info", "ipvsadm -Sn",
    ]),
    sc("dest-sctp-tunnel", &[
        "ipvsadm -A --sctp-service [2001:db8::7]:3868 -s rr",
        "ipvsadm -a --sctp-service [2001:db8::7]:3868 -r [2001:db8::70]:3868 -m",
        "ipvsadm -a --sctp-service [2001:db8::7]:3868 -r 2001:db8::71 -i --tun-type gue --tun-port 7000",
        "ipvsadm -Ln --tun-info", "ipvsadm -S", "ipvsadm -Ln --stats",
    ]),
    sc("delete-dests-then-service", &[
        "ipvsadm -A -t 192.0.2.1:80",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11",
        "ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.10",
        "ipvsadm -d -t 192.0.2.1:80 -r 192.0.2.11",
        "ipvsadm -Ln",
        "ipvsadm -D -t 192.0.2.1:80",
        "ipvsadm -Ln",
    ]),

];

const LISTINGS: &[Scenario] = &[
    sc(
        "list-modes",
        &[
            "ipvsadm -A -t 192.0.2.1:80 -s rr -p 60",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 3 -x 10 -y 5",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue --tun-port 6080",
            "ipvsadm -Ln --stats",
            "ipvsadm -Ln --rate",
            "ipvsadm -Ln --stats --exact",
            "ipvsadm -Ln --rate --exact",
            "ipvsadm -Ln --thresholds",
            "ipvsadm -Ln --persistent-conn",
            "ipvsadm -Ln --tun-info",
            "ipvsadm -Ln --stats --rate",
            "ipvsadm -Ln --thresholds --persistent-conn",
            "ipvsadm -Ln --rate --tun-info",
            "ipvsadm -Ln --sort",
            "ipvsadm -Ln --nosort",
            "ipvsadm -Ln -X",
        ],
    ),
    sc(
        "list-one-service",
        &[
            "ipvsadm -A -t 192.0.2.1:80 -s rr",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10 -m",
            "ipvsadm -Ln -t 192.0.2.1:80",
            "ipvsadm -Ln -t 192.0.2.1:80 --stats",
            "ipvsadm -L -n -t 192.0.2.1:80 --exact --rate",
            "ipvsadm -Ln -t 192.0.2.99:80",
            "ipvsadm -Ln -u 192.0.2.1:80",
            "ipvsadm -L -t 192.0.2.1:http",
        ],
    ),
    sc(
        "list-empty",
        &[
            "ipvsadm",
            "ipvsadm -Ln",
            "ipvsadm -L --stats",
            "ipvsadm -S",
            "ipvsadm -Sn",
            "ipvsadm -L --daemon",
            "ipvsadm -Lc",
            "ipvsadm -Lcn --persistent-conn",
        ],
    ),
    sc(
        "list-combined-flags",
        &[
            "ipvsadm -A -t 192.0.2.1:80",
            "ipvsadm -Ln",
            "ipvsadm -lnX",
            "ipvsadm -L -n --exact --stats",
            "ipvsadm --list --numeric",
            "ipvsadm -nL",
        ],
    ),
    sc(
        "help-and-version",
        &[
            "ipvsadm -h",
            "ipvsadm --help",
            "ipvsadm -v",
            "ipvsadm --version",
            "ipvsadm -hv",
            "ipvsadm -L -h",
        ],
    ),
    sc(
        "pipes",
        &[
            "ipvsadm -A -t 192.0.2.1:80",
            "ipvsadm -Ln | head -1",
            "ipvsadm -h | head -2",
            "ipvsadm -Sn | wc -l",
        ],
    ),
];

const RESTORE: &[Scenario] = &[
    sc("restore-basic", &[
        "printf -- '-A -t 192.0.2.50:80 -s rr\\n-a -t 192.0.2.50:80 -r 192.0.2.51 -m\\n\\n   -a   -t   192.0.2.50:80\\t-r 192.0.2.52 -m   \\n' | ipvsadm -R",
        "ipvsadm -Sn",
    ]),
    // A kernel refusal part-way through -R is where ipvsadm-rs differs on
    // purpose (all or nothing): tests/it/cli_apply.rs compares the two.
    sc("restore-save-round-trip", &[
        "ipvsadm -A -t 192.0.2.1:80 -s sh -b sh-port -p 60 -M 255.255.0.0 --pe sip",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 3",
        "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.11 -i --tun-type gue --tun-port 6080 --tun-remcsum",
        "ipvsadm -A -f 7 -6 -s rr",
        "ipvsadm -a -f 7 -6 -r 2001:db8::20 -g",
        "ipvsadm -A -u [2001:db8::1]:53 -s mh -b mh-port -o",
        "f=$(mktemp) && ipvsadm -S -n > $f && ipvsadm -C && ipvsadm -R < $f; s=$?; rm -f $f; exit $s",
        "ipvsadm -Sn",
    ]),
    sc("restore-with-names-and-prefix", &[
        "printf -- 'ipvsadm -A -t 192.0.2.90:http\\n-a -t 192.0.2.90:http -r localhost:8080 -m\\n' | ipvsadm -R",
        "ipvsadm -S",
    ]),
    sc("restore-listing-and-nested", &[
        "printf -- '-A -t 192.0.2.1:80\\n-L -n\\n' | ipvsadm -R",
        "ipvsadm -R < /dev/null",
    ]),
    sc("restore-names-from-save", &[
        "ipvsadm -A -t localhost:ssh -s rr",
        "ipvsadm -a -t localhost:ssh -r 192.0.2.5:ssh -m",
        "ipvsadm -A -u 192.0.2.1:domain -o",
        "f=$(mktemp) && ipvsadm -S > $f && ipvsadm -C && ipvsadm -R < $f; s=$?; rm -f $f; exit $s",
        "ipvsadm -Sn",
    ]),
    sc("restore-daemon-and-set", &[
        "printf -- '--set 11 12 13\\n-A -t 192.0.2.1:80 -s rr\\n-L --timeout\\n' | ipvsadm -R",
        "ipvsadm -L --timeout",
    ]),
    sc("restore-large", &[
        "f=$(mktemp); i=0; while [ $i -lt 300 ]; do a=$((i / 250)); b=$((i % 250 + 1)); echo \"-A -t 10.$a.$b.1:80 -s rr\" >> $f; echo \"-a -t 10.$a.$b.1:80 -r 198.51.100.$b:8080 -m -w $b\" >> $f; echo \"-a -t 10.$a.$b.1:80 -r 198.51.100.$b:8081 -m -x 9 -y 3\" >> $f; i=$((i+1)); done; ipvsadm -R < $f; s=$?; rm -f $f; exit $s",
        "ipvsadm -Sn | wc -l", "ipvsadm -Ln --thresholds | tail -5",
    ]),
];

const DAEMONS: &[Scenario] = &[
    Scenario {
        name: "daemon-master-backup",
        setup: DUMMY,
        steps: &[
            "ipvsadm --start-daemon master --mcast-interface d0",
            "ipvsadm -L --daemon",
            "ipvsadm --start-daemon master --mcast-interface d0",
            "ipvsadm --start-daemon backup --mcast-interface d0 --syncid 7 --mcast-group 233.252.0.1 --mcast-port 9000 --mcast-ttl 5 --sync-maxlen 1200",
            "ipvsadm -L --daemon", "ipvsadm -Ln --daemon",
            "ipvsadm --stop-daemon backup", "ipvsadm --stop-daemon backup", "ipvsadm -L --daemon",
            "ipvsadm --stop-daemon master",
        ],
    },
    Scenario {
        name: "daemon-ipv6-group",
        setup: DUMMY,
        steps: &[
            "ipvsadm --start-daemon backup --mcast-interface d0 --mcast-group ff02::99 --syncid 3",
            "ipvsadm -L --daemon",
            "ipvsadm --stop-daemon backup",
        ],
    },
    sc("daemon-errors", &[
        "ipvsadm --start-daemon master --mcast-interface nosuch0",
        "ipvsadm --start-daemon master",
        "ipvsadm --stop-daemon master",
        "ipvsadm -L --daemon",
    ]),
];

/// Invalid command lines of every kind (the whole fixture list is run live by
/// `cli_argument_cases_match_ipvsadm`; these also check the table is untouched).
const INVALID: &[Scenario] = &[
    sc(
        "invalid-missing-and-illegal",
        &[
            "ipvsadm -A",
            "ipvsadm -a -t 192.0.2.1:80",
            "ipvsadm -A -t 192.0.2.1:80 -r 192.0.2.5",
            "ipvsadm -D -t 192.0.2.1:80 -s rr",
            "ipvsadm -C -n",
            "ipvsadm -S -c",
            "ipvsadm -Z -n",
            "ipvsadm -Ln",
        ],
    ),
    sc(
        "invalid-values",
        &[
            "ipvsadm -A -t 192.0.2.1:80 -p abc",
            "ipvsadm -A -t 192.0.2.1:99999",
            "ipvsadm -A -f 0",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.5 -w -1",
            "ipvsadm -A -t 192.0.2.1:80 -b nosuch",
            "ipvsadm --set a b c",
            "ipvsadm --start-daemon foo",
            "ipvsadm -A -t [2001:db8::1]:80 -M 200",
            "ipvsadm -Ln",
        ],
    ),
    sc(
        "invalid-popt",
        &[
            "ipvsadm -k",
            "ipvsadm -Lnk",
            "ipvsadm -Lnx",
            "ipvsadm --nosuch",
            "ipvsadm -L --stats=1",
            "ipvsadm -A -t",
            "ipvsadm -n -L",
            "ipvsadm -L -A",
            "ipvsadm -- -L",
            "ipvsadm -",
            "ipvsadm -L extra",
        ],
    ),
    sc(
        "invalid-combinations",
        &[
            "ipvsadm -L -c --stats",
            "ipvsadm -L --timeout --daemon",
            "ipvsadm -L -c -t 192.0.2.1:80",
            "ipvsadm -a -t 192.0.2.1:80 -r 2001:db8::5 -m",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.5 --tun-type gue",
            "ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.5 -i --tun-type gue",
            "ipvsadm -A -t 192.0.2.1:80 -o",
            "ipvsadm -A -t 192.0.2.1",
            "ipvsadm -A -6 -f 1",
        ],
    ),
];

lab_test! {
    /// Services: every scheduler, flags, persistence, fwmark, IPv6, SCTP, names, -E/-D/-C/-Z, --set.
    /// (In two boots: the whole list came within a minute of the lab's 300 s limit on a
    /// loaded machine.)
    fn cli_services_match_ipvsadm() {
        run_scenarios(&SERVICES[..SERVICES.len() / 2]);
    }

    /// The second half of the service scenarios.
    fn cli_services_more_match_ipvsadm() {
        run_scenarios(&SERVICES[SERVICES.len() / 2..]);
    }

    /// Real servers: every forwarding method, thresholds, tunnels, IPv6, fwmark, sort order.
    fn cli_destinations_match_ipvsadm() {
        run_scenarios(DESTINATIONS);
    }

    /// Listing modes, help, version, pipes.
    fn cli_listings_match_ipvsadm() {
        run_scenarios(LISTINGS);
    }

    /// -R with good input, kernel errors, save/restore round trips.
    fn cli_restore_matches_ipvsadm() {
        run_scenarios(RESTORE);
    }

    /// Sync daemons and invalid command lines.
    fn cli_daemons_and_invalid_match_ipvsadm() {
        run_scenarios(DAEMONS);
        run_scenarios(INVALID);
    }
}

/// Number of differential scenarios (the acceptance asks for at least 60).
#[test]
fn cli_scenario_count() {
    let n = SERVICES.len()
        + DESTINATIONS.len()
        + LISTINGS.len()
        + RESTORE.len()
        + DAEMONS.len()
        + INVALID.len();
    assert!(n >= 60, "{n} scenarios");
    let mut names: Vec<&str> = [SERVICES, DESTINATIONS, LISTINGS, RESTORE, DAEMONS, INVALID]
        .iter()
        .flat_map(|l| l.iter().map(|s| s.name))
        .collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(before, names.len(), "duplicate scenario names");
}
