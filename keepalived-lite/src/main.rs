//! `keepalived-lite`: the VRRP daemon. Flags follow keepalived's for what is supported.
//!
//! Exit codes: 0 success, 2 bad command line, 3 start-up failure (sockets, netlink,
//! scripts, unknown `script_user`), 5 invalid or unreadable configuration (as
//! `keepalived -t`).
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use keepalived_lite::config;
use keepalived_lite::daemon::{check_users, Daemon, DaemonError, Logger, Options};
use keepalived_lite::files::{refuse_symlink, write_atomic, FILE_MODE};
use keepalived_lite::metrics::SharedSnapshot;

/// A minimal VRRP daemon that reads keepalived.conf.
#[derive(Debug, Parser)]
#[command(name = "keepalived-lite", disable_version_flag = true)]
struct Cli {
    /// Use the specified configuration file.
    #[arg(
        short = 'f',
        long = "use-file",
        value_name = "FILE",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    use_file: PathBuf,
    /// Don't fork the daemon process.
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Use the specified pidfile.
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "FILE",
        default_value = "/run/keepalived-lite.pid"
    )]
    pid: PathBuf,
    /// Check the configuration and exit.
    #[arg(short = 't', long = "config-test")]
    config_test: bool,
    /// Display the version number.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// JSON file holding every instance's state (keepalived-lite only).
    #[arg(
        long = "state-file",
        value_name = "FILE",
        default_value = "/run/keepalived-lite.json"
    )]
    state_file: PathBuf,
    /// Seconds after which a notify program still running is killed with its process
    /// group (keepalived-lite only).
    #[arg(long = "notify-timeout", value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    notify_timeout: Duration,
    /// Serve Prometheus metrics (IPVS, VRRP, health checks) on this address at
    /// /metrics (keepalived-lite only; off by default).
    #[arg(long = "metrics", value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("'{s}' is not a number of seconds 0-86400"))
}

const EXIT_FATAL: u8 = 3;
const EXIT_CONFIG: u8 = 5;

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("keepalived-lite v{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if cli.config_test {
        return match config::parse_file(&cli.use_file) {
            Ok(c) => {
                for w in &c.warnings {
                    eprintln!("{w}");
                }
                // keepalived -t also refuses an unknown script user.
                match check_users(&c).and_then(|()| keepalived_lite::lvs::check(&c)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("{e}");
                        ExitCode::from(EXIT_CONFIG)
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        };
    }
    // A planted link must not make a root daemon write (or read) another file.
    if let Err(e) = refuse_symlink(&cli.pid) {
        eprintln!(
            "keepalived-lite: pid file {}: {e}, refusing to start",
            cli.pid.display()
        );
        return ExitCode::from(EXIT_FATAL);
    }
    if let Ok(old) = std::fs::read_to_string(&cli.pid) {
        if let Ok(pid) = old.trim().parse::<i32>() {
            let ours = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "keepalived-lite");
            if pid != std::process::id() as i32 && pid_alive(pid) && ours {
                eprintln!(
                    "keepalived-lite: already running as pid {pid} ({})",
                    cli.pid.display()
                );
                return ExitCode::from(EXIT_FATAL);
            }
        }
    }
    if let Err(e) = config::parse_file(&cli.use_file) {
        eprintln!("{e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    // The metrics address is tried before forking, so a bad one fails the start
    // where the caller sees it (the endpoint itself binds after the fork: threads do
    // not survive it).
    if let Some(addr) = cli.metrics {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            eprintln!("keepalived-lite: --metrics {addr}: cannot listen: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    }
    // daemon(3) changes to /: every path must be absolute before.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut cli = cli;
    for p in [&mut cli.use_file, &mut cli.pid, &mut cli.state_file] {
        if p.is_relative() {
            *p = cwd.join(&*p);
        }
    }
    if !cli.dont_fork {
        if let Err(e) = nix::unistd::daemon(false, cli.log_console) {
            eprintln!("keepalived-lite: cannot fork: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    }
    let log = Logger::new(cli.log_console);
    log.log(&format!(
        "Starting keepalived-lite v{}",
        env!("CARGO_PKG_VERSION")
    ));
    let pid_text = format!("{}\n", std::process::id());
    if let Err(e) = write_atomic(&cli.pid, pid_text.as_bytes(), FILE_MODE) {
        log.log(&format!("cannot write pid file {}: {e}", cli.pid.display()));
        return ExitCode::from(EXIT_FATAL);
    }
    let opts = Options {
        config: cli.use_file.clone(),
        log_console: cli.log_console,
        state_file: cli.state_file,
        notify_timeout: cli.notify_timeout,
    };
    // Before the metrics thread starts: it must inherit the blocked mask, or a
    // SIGTERM delivered to it kills the daemon without resigning.
    if let Err(e) = keepalived_lite::signals::block_before_threads() {
        log.log(&format!("cannot set up signals: {e}"));
        let _ = std::fs::remove_file(&cli.pid);
        return ExitCode::from(EXIT_FATAL);
    }
    let shared = SharedSnapshot::default();
    if let Some(addr) = cli.metrics {
        // Its own thread: a scrape never waits on the poll loop nor the loop on it.
        match keepalived_lite::metrics::start(addr, shared.clone(), log) {
            Ok(_) => log.log(&format!("serving metrics on http://{addr}/metrics")),
            Err(e) => {
                log.log(&format!("--metrics: {e}"));
                if !cli.log_console {
                    eprintln!("keepalived-lite: --metrics: {e}");
                }
                let _ = std::fs::remove_file(&cli.pid);
                return ExitCode::from(EXIT_FATAL);
            }
        }
    }
    let code = match Daemon::start(opts, log) {
        Ok(mut d) => {
            if cli.metrics.is_some() {
                d.publish_metrics_to(shared);
            }
            d.run();
            ExitCode::SUCCESS
        }
        Err(e) => {
            log.log(&e.to_string());
            if !cli.log_console {
                eprintln!("keepalived-lite: {e}");
            }
            match e {
                DaemonError::Config(_) => ExitCode::from(EXIT_CONFIG),
                _ => ExitCode::from(EXIT_FATAL),
            }
        }
    };
    let _ = std::fs::remove_file(&cli.pid);
    code
}
