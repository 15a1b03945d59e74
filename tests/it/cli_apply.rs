//! Where ipvsadm-rs changes the table as a whole: `-R` that undoes itself
//! when the kernel refuses a line (the real ipvsadm 1.31 keeps the lines
//! before and after it), and `--apply FILE`, judged by the real `ipvsadm -Sn`.

use ipvs_lab::{lab_test, must, run, sh, workspace_bin, Netns};

fn ours() -> String {
    workspace_bin("ipvsadm-rs").display().to_string()
}

/// `ipvsadm -Sn` (the real one) in this namespace.
fn save() -> String {
    must("ipvsadm -Sn").stdout
}

/// A file with `text` in a temporary directory of the test's own.
fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

lab_test! {
    /// The case of the issue: a table holding one service, then `-R` of three
    /// lines whose second adds a destination to a service that does not
    /// exist. ipvsadm 1.31 applies the first and third, prints "Service not
    /// defined" and exits 0; ipvsadm-rs names the line, undoes the first, and
    /// exits 255, leaving the table exactly as before.
    fn restore_is_all_or_nothing_where_ipvsadm_is_not() {
        let input = "-A -t 192.0.2.2:80 -s rr\n-a -t 192.0.2.9:80 -r 198.51.100.2:80 -m\n-A -t 192.0.2.3:80 -s rr\n";
        let setup = "ipvsadm -C && ipvsadm -A -t 192.0.2.1:80 -s wrr";
        must(setup);
        let before = save();
        let real = sh(&format!("printf -- '{input}' | ipvsadm -R"));
        assert_eq!(real.status, 0, "{real}");
        assert!(real.stderr.contains("Service not defined"), "{real}");
        let after_real = save();
        assert!(after_real.contains("192.0.2.2:80") && after_real.contains("192.0.2.3:80"), "{after_real}");
        must(setup);
        let rs = sh(&format!("printf -- '{input}' | {} -R", ours()));
        assert_eq!(rs.status, 255, "{rs}");
        assert!(rs.stderr.contains("line 2: Service not defined"), "{rs}");
        assert!(rs.stderr.contains("undone"), "{rs}");
        assert_eq!(save(), before, "ipvsadm-rs -R left a half-restored table");
        // A restore that the kernel accepts whole still works, listing included.
        let ok = sh(&format!("printf -- '-A -t 192.0.2.4:80 -s rr\n-a -t 192.0.2.4:80 -r 198.51.100.4:80 -m\n-Ln\n' | {} -R", ours()));
        assert_eq!(ok.status, 0, "{ok}");
        assert!(ok.stdout.contains("198.51.100.4:80"), "{ok}");
    }

    /// `--apply` of a `-S` file: the dry run prints the plan and changes
    /// nothing; the apply makes the table equal to the file (as the real
    /// ipvsadm reads it back), a service outside `--scope` survives, and a
    /// second apply plans nothing.
    fn apply_makes_the_table_match_a_save_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The desired table, written by the real ipvsadm in another namespace.
        let other = Netns::new("want");
        other.must("ipvsadm -A -t 192.0.2.1:80 -s wlc && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 3 \
                    && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.3:80 -m -w 1 && ipvsadm -A -u 192.0.2.1:53 -s rr \
                    && ipvsadm -a -u 192.0.2.1:53 -r 198.51.100.5:53 -m");
        let wanted = other.must("ipvsadm -Sn").stdout;
        let rules = file(&dir, "rules", &wanted);
        // Here: part of it, a stale service in scope, and another program's service.
        must("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 1 \
              && ipvsadm -A -t 192.0.2.77:80 && ipvsadm -A -t 203.0.113.1:443 -s sh");
        let before = save();
        let dry = run(&[&ours(), "--apply", &rules, "--scope", "192.0.2.0/24", "--dry-run"]);
        assert_eq!(dry.status, 0, "{dry}");
        assert_eq!(
            dry.stdout,
            "edit service TCP 192.0.2.1:80: scheduler rr -> wlc\n\
             add service UDP 192.0.2.1:53 rr\n\
             edit destination TCP 192.0.2.1:80 -> 198.51.100.2:80: weight 1 -> 3\n\
             add destination TCP 192.0.2.1:80 -> 198.51.100.3:80 masquerade weight 1\n\
             add destination UDP 192.0.2.1:53 -> 198.51.100.5:53 masquerade weight 1\n\
             delete service TCP 192.0.2.77:80 (0 destinations)\n",
            "{dry}"
        );
        assert_eq!(save(), before, "the dry run changed the table");
        let json = run(&[&ours(), "--apply", &rules, "--scope", "192.0.2.0/24", "--dry-run", "--json"]);
        let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("the plan as JSON");
        assert_eq!(plan["changes"].as_array().map(Vec::len), Some(6), "{json}");
        let applied = run(&[&ours(), "--apply", &rules, "--scope", "192.0.2.0/24"]);
        assert_eq!((applied.status, applied.stderr.as_str()), (0, ""), "{applied}");
        let mut expected: Vec<String> = wanted.lines().map(str::to_string).collect();
        expected.push("-A -t 203.0.113.1:443 -s sh".into());
        expected.sort();
        let mut now: Vec<String> = save().lines().map(str::to_string).collect();
        now.sort();
        assert_eq!(now, expected);
        let again = run(&[&ours(), "--apply", &rules, "--scope", "192.0.2.0/24", "--dry-run"]);
        assert_eq!((again.status, again.stdout.as_str()), (0, ""), "{again}");
        // From standard input too.
        let stdin = sh(&format!("{} --apply - --scope 192.0.2.0/24 --dry-run < {rules}", ours()));
        assert_eq!((stdin.status, stdin.stdout.as_str()), (0, ""), "{stdin}");
    }

    /// `--apply` of the `-L --json` document another namespace printed gives
    /// the same table; bad input names the line or the JSON path, exits 2
    /// and changes nothing; a kernel refusal part-way exits 255 and leaves
    /// the table as it was.
    fn apply_reads_json_and_refuses_bad_input_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let other = Netns::new("json");
        other.must("ipvsadm -A -t 192.0.2.1:80 -s sh -b sh-port -p 60 && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 2 -x 100 -y 10 \
                    && ipvsadm -A -f 7 -6 -s mh -b mh-fallback && ipvsadm -a -f 7 -6 -r 2001:db8::2 -i --tun-type gue --tun-port 6080 --tun-csum");
        let doc = other.run(&[&ours(), "-Ln", "--json"]);
        assert_eq!(doc.status, 0, "{doc}");
        let json = file(&dir, "table.json", &doc.stdout);
        let applied = run(&[&ours(), "--apply", &json]);
        assert_eq!((applied.status, applied.stderr.as_str()), (0, ""), "{applied}");
        assert_eq!(save(), other.must("ipvsadm -Sn").stdout);
        let before = save();
        for (name, text, says) in [
            ("bad.rules", "-A -t 192.0.2.5:80 -s rr\n-a -t 192.0.2.6:80 -r 198.51.100.2:80 -m\n", "line 2"),
            ("delete.rules", "-A -t 192.0.2.5:80 -s rr\n-D -t 192.0.2.1:80\n", "line 2"),
            ("bad.json", r#"{"services": [{"protocol": "tcp", "address": "192.0.2.5", "port": 80, "scheduler": "rr", "destinations": [{"address": "198.51.100.2", "port": 80, "forward": "sideways"}]}]}"#, "services[0].destinations[0]"),
            ("broken.json", "{\"services\": [", "at "),
        ] {
            let out = run(&[&ours(), "--apply", &file(&dir, name, text)]);
            assert_eq!(out.status, 2, "{name}: {out}");
            assert!(out.stderr.contains(says), "{name}: {out}");
            assert_eq!(save(), before, "{name} changed the table");
        }
        let missing = run(&[&ours(), "--apply", "/nonexistent/rules"]);
        assert_eq!(missing.status, 2, "{missing}");
        assert!(missing.stderr.contains("/nonexistent/rules"), "{missing}");
        // A scheduler the kernel has no module for, after changes that succeed.
        let refused = file(&dir, "refused.rules", "-A -t 192.0.2.1:80 -s rr\n-A -t 192.0.2.8:80 -s nonesuch\n-A -t 192.0.2.9:80 -s rr\n");
        let out = run(&[&ours(), "--apply", &refused]);
        assert_eq!(out.status, 255, "{out}");
        assert!(out.stderr.contains("add service TCP 192.0.2.8:80 nonesuch"), "{out}");
        assert!(out.stderr.contains("undone"), "{out}");
        assert_eq!(save(), before, "a refused apply changed the table");
        // Options only go with --apply, and --apply takes no table options.
        let wrong = run(&[&ours(), "-Ln", "--dry-run"]);
        assert_eq!(wrong.status, 2, "{wrong}");
        let wrong = run(&[&ours(), "--apply", &refused, "-t", "192.0.2.1:80"]);
        assert_eq!(wrong.status, 2, "{wrong}");
        let wrong = run(&[&ours(), "--apply", &refused, "--scope", "192.0.2.0/99"]);
        assert_eq!(wrong.status, 2, "{wrong}");
        assert!(wrong.stderr.contains("192.0.2.0/99"), "{wrong}");
    }
}
