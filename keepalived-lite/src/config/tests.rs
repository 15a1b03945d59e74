//! Tests of the whole parser, from text to [`crate::config::Config`].

use std::path::Path;
use std::time::Duration;

use crate::config::parser::parse_centis;
use crate::config::{parse_file, parse_str, Config, ConfigError, InitialState, TrackRef, Vip};
use crate::packet::{ChecksumMode, Version};

/// The configurations of ../shared/USE-CASE.md, verbatim (shared with the interop tests).
const MULTICAST: &str = include_str!("../../tests/fixtures/use-case-multicast.conf");

const UNICAST: &str = include_str!("../../tests/fixtures/use-case-unicast.conf");

fn parse(text: &str) -> Result<Config, ConfigError> {
    parse_str(Path::new("/etc/keepalived/keepalived.conf"), text)
}

#[test]
fn use_case_multicast_config() {
    let c = parse(MULTICAST).expect("parses");
    assert_eq!(c.global.router_id.as_deref(), Some("kube-apiserver"));
    assert_eq!(c.global.script_user, Some(("root".into(), None)));
    assert_eq!(
        c.global.script_user_location.as_ref().map(|l| l.line),
        Some(3),
        "script_user's line, for an unknown-user error"
    );
    assert!(c.global.enable_script_security);
    let s = &c.scripts[0];
    assert_eq!(s.command, vec!["/usr/local/bin/health_check.sh"]);
    assert_eq!(
        (s.interval, s.timeout, s.weight, s.fall, s.rise),
        (Duration::from_secs(2), Duration::from_secs(2), -5, 2, 1)
    );
    let i = &c.instances[0];
    assert_eq!(i.name, "VI_API");
    assert_eq!(i.initial_state, Some(InitialState::Master));
    assert_eq!(
        (i.interface.as_str(), i.vrid, i.priority, i.advert_int_cs),
        ("eth0", 51, 100, 100)
    );
    assert_eq!(i.auth_pass.as_deref(), Some("YourStrongPass123!"));
    assert_eq!(
        i.vips,
        vec![Vip {
            addr: "192.168.1.100".parse().expect("ip"),
            prefix_len: 24,
            dev: Some("eth0".into()),
            label: None
        }]
    );
    assert_eq!(
        i.track_scripts,
        vec![TrackRef {
            name: "chk_apiserver".into(),
            weight: None
        }]
    );
    // keepalived: "preempt delay will not work with initial state MASTER - clearing".
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0]
        .contains(":15: (VI_API) preempt_delay will not work with initial state MASTER"));
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.location.line, 15);
}

#[test]
fn use_case_unicast_config_with_scripts_from_include() {
    let dir = std::env::temp_dir().join(format!("kl-cfg-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("conf.d")).expect("mkdir");
    std::fs::write(
        dir.join("conf.d/scripts.conf"),
        "vrrp_script chk_apiserver {\n script \"/bin/true\"\n}\n",
    )
    .expect("write");
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, format!("include conf.d/*.conf\n{UNICAST}")).expect("write");
    let c = parse_file(&main).expect("parses");
    std::fs::remove_dir_all(&dir).ok();
    let i = &c.instances[0];
    assert_eq!(i.track_scripts.len(), 1);
    assert_eq!(i.unicast_src_ip, Some("10.0.0.10".parse().expect("ip")));
    // Alone, as in the use case, the unicast config names an undefined script:
    // keepalived ignores it with a warning, and so do we.
    let alone = parse(UNICAST).expect("parses alone");
    assert!(alone.instances[0].track_scripts.is_empty());
    assert!(alone
        .warnings
        .iter()
        .any(|w| w.contains("(VI_API) track script chk_apiserver not found, ignoring...")));
    assert_eq!(i.unicast_peers.len(), 2);
    assert_eq!(c.scripts[0].location.file, dir.join("conf.d/scripts.conf"));
}

#[test]
fn unknown_keyword_names_file_line_and_keyword() {
    let text = MULTICAST.replace(
        "    preempt_delay 30\n",
        "    preempt_delay 30\n    use_vmac\n",
    );
    let e = parse(&text).expect_err("use_vmac is unsupported");
    assert_eq!(e.line, 32);
    assert_eq!(e.file, Path::new("/etc/keepalived/keepalived.conf"));
    assert_eq!(
        e.to_string(),
        "/etc/keepalived/keepalived.conf:32: unsupported keyword 'use_vmac' in vrrp_instance VI_API"
    );
    let e = parse("vrrp_sync_group G {\n}\n").expect_err("unsupported");
    assert_eq!(
        e.to_string(),
        "/etc/keepalived/keepalived.conf:1: unsupported keyword 'vrrp_sync_group' in the top level"
    );
}

#[test]
fn bad_values_name_the_range() {
    let cases = [
        (
            "    priority 100\n",
            "    priority 256\n",
            "priority: invalid value '256', expected an integer 1-255",
        ),
        (
            "virtual_router_id 51",
            "virtual_router_id 0",
            "virtual_router_id: invalid value '0', expected an integer 1-255",
        ),
        (
            "preempt_delay 30",
            "preempt_delay 1001",
            "preempt_delay: invalid value '1001', expected an integer 0-1000",
        ),
        (
            "weight -5",
            "weight -300",
            "weight: invalid value '-300', expected an integer -253-253",
        ),
        (
            "advert_int 1",
            "advert_int 0",
            "advert_int: invalid value '0', expected a number of seconds 0.01-255",
        ),
        (
            "advert_int 1",
            "advert_int 1.5",
            "advert_int: VRRPv2 needs whole seconds 1-255",
        ),
        (
            "auth_type PASS",
            "auth_type AH",
            "auth_type: unsupported value 'AH', only PASS is supported",
        ),
        (
            "192.168.1.100/24",
            "192.168.1.100/33",
            "prefix length must be 0-32",
        ),
        (
            "192.168.1.100/24",
            "192.168.1.300/24",
            "'192.168.1.300' is not an IP address",
        ),
        (
            "state MASTER",
            "state master",
            "state: invalid value 'master', expected MASTER or BACKUP",
        ),
    ];
    for (from, to, want) in cases {
        let text = MULTICAST.replace(from, to);
        assert_ne!(text, MULTICAST, "{from}");
        let e = parse(&text).expect_err(to);
        assert!(e.to_string().contains(want), "{e} should contain {want}");
    }
}

#[test]
fn v3_ipv6_and_checksum_keyword() {
    let c = parse(
        "vrrp_instance V6 {\n interface veth0\n virtual_router_id 9\n advert_int 0.5\n v3_checksum_as_v2\n virtual_ipaddress {\n  2001:db8::100/64\n }\n notify \"/bin/echo hello\"\n}\n",
    )
    .expect("parses");
    let i = &c.instances[0];
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.advert_int_cs, 50);
    assert_eq!(i.checksum_mode, ChecksumMode::VrrpOnly);
    assert_eq!(i.vips[0].prefix_len, 64);
    assert_eq!(i.notify, Some(vec!["/bin/echo".into(), "hello".into()]));
    let e = parse("vrrp_instance V6 {\n interface veth0\n version 2\n virtual_router_id 9\n virtual_ipaddress {\n  2001:db8::100\n }\n}\n")
        .expect_err("v2 over v6");
    assert!(
        e.to_string()
            .contains("IPv6 virtual addresses need version 3"),
        "{e}"
    );
}

#[test]
fn structural_errors() {
    let e = parse("vrrp_instance X {\n interface e\n").expect_err("unterminated");
    assert!(e.to_string().contains("missing '}'"), "{e}");
    let e = parse("}\n").expect_err("stray");
    assert_eq!(e.line, 1);
    let e =
        parse("vrrp_instance X {\n interface e\n virtual_router_id 1\n}\n").expect_err("no vip");
    assert!(e.to_string().contains("missing 'virtual_ipaddress'"), "{e}");
    let e = parse("include /nonexistent/keepalived.conf\n").expect_err("missing include");
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = parse_file(Path::new("/nonexistent/keepalived.conf")).expect_err("no file");
    assert!(
        e.to_string()
            .starts_with("/nonexistent/keepalived.conf: cannot read: "),
        "{e}"
    );
    assert_eq!(parse_centis("0.05"), Some(5));
    assert_eq!(parse_centis("2"), Some(200));
    assert_eq!(parse_centis("1.234"), None);
    assert_eq!(parse_centis("x"), None);
}

#[test]
fn syntax_details_as_keepalived_reads_them() {
    let c = parse(concat!(
        "# comment\n",
        "! another comment\n",
        "global_defs\n",
        "{\n",
        "    router_id r1 # trailing comment\n",
        "}\n",
        "vrrp_script s { \n",
        "    script \"/bin/check --flag value\"\n",
        "    timeout 0.5\n",
        "}\n",
        "vrrp_instance I {\n",
        "    interface e0\n",
        "    virtual_router_id 7\n",
        "    authentication {\n",
        "        auth_type PASS\n",
        "        auth_pass a!b#c\n",
        "    }\n",
        "    virtual_ipaddress {\n",
        "        192.0.2.1\n",
        "        192.0.2.2/24 label e0:x\n",
        "    }\n",
        "    track_script {\n",
        "        s weight 10\n",
        "    }\n",
        "    track_interface {\n",
        "        e1\n",
        "        e2 weight -20\n",
        "    }\n",
        "    nopreempt\n",
        "    notify_master \"/bin/echo up\"\n",
        "}\n",
    ))
    .expect("parses");
    assert_eq!(c.global.router_id.as_deref(), Some("r1"));
    let s = &c.scripts[0];
    assert_eq!(s.command, ["/bin/check", "--flag", "value"]);
    assert_eq!(
        (s.interval, s.timeout),
        (Duration::from_secs(1), Duration::from_millis(500))
    );
    let i = &c.instances[0];
    assert_eq!(
        i.auth_pass.as_deref(),
        Some("a!b#c"),
        "comment characters inside a word stay"
    );
    assert_eq!(i.vips[0].prefix_len, 32);
    assert_eq!(i.vips[1].label.as_deref(), Some("e0:x"));
    assert_eq!(
        i.track_scripts,
        [TrackRef {
            name: "s".into(),
            weight: Some(10)
        }]
    );
    assert_eq!(
        i.track_interfaces,
        [
            TrackRef {
                name: "e1".into(),
                weight: None
            },
            TrackRef {
                name: "e2".into(),
                weight: Some(-20)
            }
        ]
    );
    assert!(i.nopreempt);
    assert_eq!(i.notify_master, Some(vec!["/bin/echo".into(), "up".into()]));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn duplicate_and_misplaced_things_are_errors() {
    let inst = "vrrp_instance I {\n interface e0\n virtual_router_id 7\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n";
    let e = parse(&format!("{inst}{inst}")).expect_err("twice");
    assert!(
        e.to_string().contains("vrrp_instance I defined twice"),
        "{e}"
    );
    let e = parse(&format!(
        "{inst}{}",
        inst.replace("instance I", "instance J")
    ))
    .expect_err("same vrid");
    assert!(
        e.to_string()
            .contains("virtual_router_id 7 already used on e0"),
        "{e}"
    );
    let e = parse("global_defs {\n router_id\n}\n").expect_err("no value");
    assert_eq!(
        e.to_string(),
        "/etc/keepalived/keepalived.conf:2: router_id: missing value"
    );
    let e = parse("global_defs {\n nopreempt\n}\n").expect_err("wrong block");
    assert!(
        e.to_string()
            .contains(":2: unsupported keyword 'nopreempt' in global_defs"),
        "{e}"
    );
    let e = parse(&inst.replace(" interface e0\n", " interface e0 e1\n")).expect_err("two values");
    assert!(
        e.to_string()
            .contains(":2: interface: takes one value, got 2"),
        "{e}"
    );
    let e =
        parse(&inst.replace("  192.0.2.1\n", "  192.0.2.1 brd 192.0.2.255\n")).expect_err("brd");
    assert!(
        e.to_string()
            .contains(":5: unsupported keyword 'brd' in virtual_ipaddress"),
        "{e}"
    );
    let e =
        parse(&inst.replace("  192.0.2.1\n", "  192.0.2.1\n  2001:db8::1\n")).expect_err("mixed");
    assert!(e.to_string().contains("mixes IPv4 and IPv6"), "{e}");
    let e = parse("vrrp_script s {\n interval 1\n}\n").expect_err("no script");
    assert!(
        e.to_string()
            .contains(":1: vrrp_script s: missing 'script'"),
        "{e}"
    );
    let e = parse("vrrp_script s {\n script \"/bin/true\n}\n").expect_err("quote");
    assert!(
        e.to_string().contains(":2: unterminated quoted string"),
        "{e}"
    );
}

/// Runs `f` on a thread and fails the test when it does not finish within 5 s (the old
/// reader blocked on a FIFO and backtracked for minutes on some patterns).
fn within_5s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what} did not finish within 5 s"))
}

fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kl-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// Issue 13 item 6: an include never blocks or reads without bound, and the glob is
/// not exponential.
#[test]
fn includes_of_fifos_devices_huge_files_and_hostile_globs_are_bounded() {
    let dir = scratch_dir("inc");
    let fifo = dir.join("fifo.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let main = dir.join("keepalived.conf");
    let conf = |inc: &str| {
        std::fs::write(&main, format!("global_defs {{\n}}\ninclude {inc}\n")).expect("write");
        let m = main.clone();
        within_5s(&format!("include {inc}"), move || parse_file(&m))
    };
    let e = conf(&fifo.display().to_string()).expect_err("a FIFO is refused");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3: include {}: a FIFO, not a regular file",
            main.display(),
            fifo.display()
        )
    );
    let e = conf("/dev/zero").expect_err("a device is refused");
    assert!(
        e.to_string()
            .ends_with(":3: include /dev/zero: a character device, not a regular file"),
        "{e}"
    );
    let big = dir.join("big.conf");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(64 << 20))
        .expect("sparse file");
    let e = conf(&big.display().to_string()).expect_err("too big");
    assert!(e.to_string().contains("larger than"), "{e}");
    // A 200-character name and a pattern that makes a backtracking matcher explode.
    std::fs::write(dir.join("a".repeat(200)), "").expect("write");
    let c = conf("*a*a*a*a*a*b").expect("a pattern that matches nothing is fine");
    assert!(c.instances.is_empty());
    // An include loop stops at the nesting limit, with a message.
    std::fs::write(dir.join("loop.conf"), "include loop.conf\n").expect("write");
    let e = conf("loop.conf").expect_err("loop");
    assert!(e.to_string().contains("nested more than 8 deep"), "{e}");
    // The main file itself gets the same treatment.
    let f2 = fifo.clone();
    let e = within_5s("reading a FIFO", move || parse_file(&f2)).expect_err("FIFO");
    assert!(
        e.to_string()
            .ends_with("cannot read: a FIFO, not a regular file"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 13 item 8: a file that is no configuration (an included /etc/shadow) is named
/// with file and line, its contents never repeated.
#[test]
fn errors_do_not_repeat_the_contents_of_a_file_that_is_no_configuration() {
    let dir = scratch_dir("shadow");
    let shadow = dir.join("shadow");
    let secret = "root:$y$j9T$Mysalt0123456789$ThisIsTheSecretHashThatMustNotBeLogged0123456:19000:0:99999:7:::";
    std::fs::write(&shadow, format!("{secret}\ndaemon:*:19000:0:99999:7:::\n")).expect("write");
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, format!("include {}\n", shadow.display())).expect("write");
    let e = parse_file(&main).expect_err("not a configuration");
    let msg = e.to_string();
    assert!(
        !msg.contains("Secret") && !msg.contains("$y$") && !msg.contains("root:"),
        "{msg}"
    );
    assert!(
        msg.starts_with(&format!("{}:1: unsupported keyword", shadow.display())),
        "{msg}"
    );
    // Inside a block, where the first word is a value: the same.
    std::fs::write(
        &main,
        format!(
            "vrrp_instance I {{\n interface e0\n virtual_router_id 1\n virtual_ipaddress {{\ninclude {}\n }}\n}}\n",
            shadow.display()
        ),
    )
    .expect("write");
    let msg = parse_file(&main).expect_err("not addresses").to_string();
    assert!(!msg.contains("Secret") && !msg.contains("$y$"), "{msg}");
    assert!(
        msg.starts_with(&format!("{}:1: ", shadow.display())),
        "{msg}"
    );
    // A short typo is still shown: it is the offending token.
    let msg = parse("global_defs {\n routr_id x\n}\n")
        .expect_err("typo")
        .to_string();
    assert!(
        msg.ends_with(":2: unsupported keyword 'routr_id' in global_defs"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 13 item 4: what the kernel refuses to add (or no host can hold) is refused by
/// the parser, so `-t` says so before a daemon becomes master without its VIP.
#[test]
fn vips_the_kernel_refuses_are_configuration_errors() {
    let inst = |vip: &str| {
        format!(
            "vrrp_instance I {{\n interface e0\n virtual_router_id 7\n virtual_ipaddress {{\n  {vip}\n }}\n}}\n"
        )
    };
    for (vip, want) in [
        (
            "192.0.2.1/24 label e0:a-very-long-label",
            ":5: virtual_ipaddress '192.0.2.1/24': label 'e0:a-very-long-label' is longer than 15 characters",
        ),
        ("224.0.0.5", ":5: virtual_ipaddress '224.0.0.5': a multicast address"),
        ("ff02::5", ":5: virtual_ipaddress 'ff02::5': a multicast address"),
        ("255.255.255.255", "the broadcast address cannot be"),
        ("192.0.2.255/24", "192.0.2.255 is the broadcast address of its subnet /24"),
        ("0.0.0.0", "the unspecified address"),
        ("::/64", "the unspecified address"),
        ("192.0.2.1/0", "prefix length 0"),
    ] {
        let e = parse(&inst(vip)).expect_err(vip);
        assert!(e.to_string().contains(want), "{vip}: {e}");
    }
    // Fifteen characters is the limit, a /32 is no broadcast address.
    parse(&inst("192.0.2.1/24 label e0:fifteen-ch")).expect("15-character label");
    parse(&inst("192.0.2.255/32")).expect("a /32");
    // The node's own address as a VIP: a message that says so.
    let e = parse(&inst("192.0.2.1").replace(
        " interface e0\n",
        " interface e0\n unicast_src_ip 192.0.2.1\n",
    ))
    .expect_err("own address");
    assert!(
        e.to_string()
            .contains("virtual_ipaddress 192.0.2.1 is unicast_src_ip, this node's own address"),
        "{e}"
    );
    // Duplicates: warnings (keepalived 2.2.7 -t accepts them silently).
    let c = parse(&inst("192.0.2.1\n  192.0.2.1/24")).expect("duplicate is a warning");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("(I) virtual_ipaddress 192.0.2.1 is listed twice")),
        "{:?}",
        c.warnings
    );
    let two = format!(
        "{}{}",
        inst("192.0.2.1"),
        inst("192.0.2.1")
            .replace("instance I", "instance J")
            .replace("router_id 7", "router_id 8")
    );
    let c = parse(&two).expect("a VIP on two VRIDs is a warning");
    assert!(
        c.warnings.iter().any(|w| w.contains("(J) virtual_ipaddress 192.0.2.1 is also in vrrp_instance I (virtual_router_id 8 and 7)")),
        "{:?}",
        c.warnings
    );
}
