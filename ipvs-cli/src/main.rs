//! `ipvsadm-rs`: parse, call the library, print. See the `ipvs_cli` crate.

use std::io::Write;

fn main() {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    // ipvsadm prints argv[0] as given in its usage messages.
    let program = argv.next().unwrap_or_else(|| "ipvsadm".to_string());
    let args: Vec<String> = argv.collect();
    let outcome = ipvs_cli::exec::run(&program, &args, &mut std::io::stdin().lock());
    // A closed stdout (broken pipe) is not an error: the exit code stays ipvsadm's.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    let _ = std::io::stderr()
        .lock()
        .write_all(outcome.stderr.as_bytes());
    std::process::exit(outcome.code);
}
