//! Logging to stderr (`--log-console`) or syslog (facility daemon).

use std::io::Write;

/// Logs to the console or syslog.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    console: bool,
}

impl Logger {
    /// A logger; `console` writes to stderr, otherwise to syslog (daemon facility).
    pub fn new(console: bool) -> Self {
        if !console {
            // SAFETY: the ident is a static NUL-terminated string.
            unsafe { libc::openlog(c"keepalived-lite".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        Logger { console }
    }

    /// Logs one line.
    pub fn log(&self, msg: &str) {
        if self.console {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "{}.{:03} keepalived-lite: {msg}",
                t.as_secs(),
                t.subsec_millis()
            );
        } else if let Ok(c) = std::ffi::CString::new(msg.replace('\0', "")) {
            // SAFETY: format and argument are valid NUL-terminated strings.
            unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}
