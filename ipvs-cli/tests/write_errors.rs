//! issue 13 item 2, on any host (no IPVS needed): the binary reports a stdout
//! it cannot write, and stays silent on a closed pipe.

use std::fs::OpenOptions;
use std::process::{Command, Stdio};

fn ipvsadm_rs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ipvsadm-rs"))
}

#[test]
fn a_full_stdout_fails_with_a_message() {
    for args in [&["--man"][..], &["--completions", "bash"]] {
        let full = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = ipvsadm_rs()
            .args(args)
            .stdout(full)
            .output()
            .expect("run ipvsadm-rs");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "cannot write to stdout: No space left on device\n",
            "{args:?}"
        );
    }
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = ipvsadm_rs()
        .arg("--man")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ipvsadm-rs");
    // Close the reading end before anything is read.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
