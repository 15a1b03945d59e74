//! `ipvsadm-rs`: parse, call the library, print. See the `ipvs_cli` crate.

fn main() {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    // ipvsadm prints argv[0] as given in its usage messages.
    let program = argv.next().unwrap_or_else(|| "ipvsadm".to_string());
    let args: Vec<String> = argv.collect();
    let code = ipvs_cli::run::run(
        &program,
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
