//! Why the daemon cannot start, or a reload cannot be applied.

use crate::config::{ConfigError, Location};
use crate::rtnl::RtnlError;

/// A failure that stops the daemon from starting (or a reload from being applied).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Configuration does not parse or validate.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// rtnetlink failed.
    #[error("{0}")]
    Rtnl(#[from] RtnlError),
    /// Setting up an instance failed.
    #[error("vrrp_instance {instance}: {message}")]
    Instance {
        /// Instance name.
        instance: String,
        /// What failed.
        message: String,
    },
    /// A script refused by `enable_script_security`.
    #[error("{script}: SECURITY VIOLATION: {message}")]
    ScriptSecurity {
        /// Which script (`vrrp_script NAME` or `vrrp_instance NAME notify`).
        script: String,
        /// Why.
        message: String,
    },
    /// `script_user` / `user` names a user or group that does not exist. Scripts never
    /// fall back to root.
    #[error("{}{what}: unknown user or group '{name}'", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    User {
        /// The user or group name.
        name: String,
        /// The keyword that names it (`global_defs script_user`, `vrrp_script NAME user`).
        what: String,
        /// Where the keyword is.
        location: Option<Location>,
    },
    /// Setting up the process failed (signals, the pid file).
    #[error("{0}")]
    Setup(String),
}
