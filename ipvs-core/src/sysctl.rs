//! The IPVS kernel parameters of a network namespace (`/proc/sys/net/ipv4/vs/*`),
//! typed, with the ranges the kernel accepts (`net/netfilter/ipvs/ip_vs_ctl.c`,
//! `Documentation/networking/ipvs-sysctl.rst`).
//!
//! A `/proc/sys/net` file reflects the network namespace of the task that opens
//! it, so the `*_in` functions open the files on a short-lived thread inside the
//! namespace ([`Netns`]). Parameters the running kernel lacks are absent from
//! [`read_all`]; files this library does not know (a newer kernel) are listed by
//! name with `parameter: None`.
//!
//! Ranges are the kernel's: a value is refused here exactly when the kernel would
//! refuse it, so a write fails before anything is touched rather than halfway.
//! Where the kernel stores any integer (`proc_dointvec`: the booleans,
//! `conn_reuse_mode`, `sync_sock_size`) so does the range; the one exception is
//! a period the kernel keeps in jiffies, whose limit depends on the kernel's HZ
//! ([`Range::Seconds`]). The lab test
//! `cli_sysctl::sysctl_ranges_accept_what_the_kernel_accepts` offers every
//! parameter values at and beyond its range's edges and compares with the kernel.
//!
//! ```no_run
//! use ipvs_core::sysctl::{self, Parameter};
//!
//! sysctl::write(Parameter::Conntrack, &1.into())?;
//! for setting in sysctl::read_all()? {
//!     println!("{} = {}", setting.dotted_name(), setting.value);
//! }
//! # Ok::<(), ipvs_core::sysctl::SysctlError>(())
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::netns::{run_in, Netns};

pub mod node;

/// Where the kernel's parameters are in production.
pub const PROC_SYS: &str = "/proc/sys";

/// The directory of the IPVS parameters below the `/proc/sys` root.
const VS_DIR: &str = "net/ipv4/vs";

/// The dotted prefix `sysctl` prints before an IPVS parameter's name.
pub const DOTTED_PREFIX: &str = "net.ipv4.vs.";

/// Errors reading or writing IPVS parameters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysctlError {
    /// A file or directory could not be read or written (the kernel refused a
    /// value, the parameter is missing, `ip_vs` is not loaded, no permission).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A value outside the parameter's range; nothing was written.
    #[error("{DOTTED_PREFIX}{name}: {value} is out of range ({range})")]
    OutOfRange {
        /// The parameter's file name (`drop_entry`).
        name: &'static str,
        /// The value refused.
        value: Value,
        /// The values the parameter accepts.
        range: Range,
    },
    /// The network namespace could not be entered.
    #[error("{0}")]
    Namespace(std::io::Error),
}

/// A parameter's value as the kernel prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// One integer (most parameters).
    Integer(i64),
    /// Several integers (`sync_threshold`: threshold and period).
    Integers(Vec<i64>),
    /// Anything else (`est_cpulist`), without the trailing newline.
    Text(String),
}

impl Value {
    /// The value of a file's contents.
    pub fn parse(text: &str) -> Value {
        let words: Vec<&str> = text.split_whitespace().collect();
        let numbers: Option<Vec<i64>> = words.iter().map(|w| w.parse().ok()).collect();
        match numbers {
            Some(mut n) if n.len() == 1 => Value::Integer(n.remove(0)),
            Some(n) if n.len() > 1 => Value::Integers(n),
            _ => Value::Text(text.trim_end_matches('\n').to_string()),
        }
    }

    /// The integer, for a single-integer value.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

/// As the kernel prints it (integers separated by tabs).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(n) => write!(f, "{n}"),
            Value::Integers(ns) => {
                let words: Vec<String> = ns.iter().map(|n| n.to_string()).collect();
                f.write_str(&words.join("\t"))
            }
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// The values a parameter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// A switch: 0 is off, any other integer (a C `int`) is on.
    Boolean,
    /// Seconds the kernel keeps in jiffies: at most `INT_MAX / HZ` either side
    /// of 0. HZ is not visible from user space, so this accepts what a kernel
    /// with the largest HZ (1000) accepts: -2147483 to 2147483.
    Seconds,
    /// One integer from `min` to `max`, both included.
    Integer {
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
    },
    /// One power of two from 1 to `max` (`sync_ports`).
    PowerOfTwo {
        /// Largest accepted.
        max: i64,
    },
    /// Two integers, threshold and period: both at least 0, threshold below
    /// period unless period is 0 (`sync_threshold`).
    ThresholdPeriod,
    /// A CPU list such as `0-3,6` (`est_cpulist`), checked by the kernel.
    CpuList,
}

impl Range {
    /// Whether `value` is accepted.
    pub fn accepts(&self, value: &Value) -> bool {
        match (self, value) {
            (Range::Boolean, Value::Integer(n)) => i32::try_from(*n).is_ok(),
            (Range::Seconds, Value::Integer(n)) => n.abs() <= SECONDS_MAX,
            (Range::Integer { min, max }, Value::Integer(n)) => (*min..=*max).contains(n),
            (Range::PowerOfTwo { max }, Value::Integer(n)) => {
                *n >= 1 && *n <= *max && (*n & (*n - 1)) == 0
            }
            (Range::ThresholdPeriod, Value::Integers(ns)) => {
                matches!(ns.as_slice(), [t, p] if *t >= 0 && *p >= 0 && (*p == 0 || t < p))
            }
            (Range::CpuList, Value::Text(t)) => t
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-'),
            (Range::CpuList, Value::Integer(n)) => *n >= 0,
            _ => false,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Range::Boolean => f.write_str("0 (off) or any other integer (on)"),
            Range::Seconds => write!(f, "-{SECONDS_MAX} to {SECONDS_MAX} seconds"),
            Range::Integer { min, max } => write!(f, "{min} to {max}"),
            Range::PowerOfTwo { max } => write!(f, "a power of two from 1 to {max}"),
            Range::ThresholdPeriod => f.write_str(
                "two integers `threshold period`, both >= 0, threshold < period unless period is 0",
            ),
            Range::CpuList => f.write_str("a CPU list such as 0-3,6"),
        }
    }
}

/// `INT_MAX / HZ` for the largest HZ a kernel is built with (1000).
const SECONDS_MAX: i64 = i32::MAX as i64 / 1000;

/// Any C `int` (`proc_dointvec`).
const INT: Range = Range::Integer {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};

macro_rules! parameters {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $range:expr; )*) => {
        /// An IPVS kernel parameter known to this library.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Parameter {
            $( $(#[$doc])* $variant, )*
        }

        impl Parameter {
            /// Every known parameter.
            pub const ALL: &'static [Parameter] = &[$(Parameter::$variant),*];

            /// Its file name under `/proc/sys/net/ipv4/vs` (`conntrack`).
            pub fn name(self) -> &'static str {
                match self { $(Parameter::$variant => $name,)* }
            }

            /// The values the kernel accepts.
            pub fn range(self) -> Range {
                match self { $(Parameter::$variant => $range,)* }
            }
        }
    };
}

parameters! {
    /// Free memory (pages) below which the defense strategies switch on.
    Amemthresh = "amemthresh", INT;
    /// Drop rate (1/N packets) used by `drop_packet` mode 3.
    AmDroprate = "am_droprate", INT;
    /// Defense strategy: drop connection entries under memory pressure (0 off, 1 auto, 2 on, 3 always).
    DropEntry = "drop_entry", Range::Integer { min: 0, max: 3 };
    /// Defense strategy: drop packets under memory pressure (0 off, 1 auto, 2 on, 3 always).
    DropPacket = "drop_packet", Range::Integer { min: 0, max: 3 };
    /// Keep netfilter connection tracking for IPVS connections (needed for stateful firewalls, SNAT).
    Conntrack = "conntrack", Range::Boolean;
    /// Defense strategy: stricter TCP state timeouts under memory pressure (0 off, 1 auto, 2 on, 3 always).
    SecureTcp = "secure_tcp", Range::Integer { min: 0, max: 3 };
    /// Reroute NAT replies whose source was changed, as for local SNAT.
    SnatReroute = "snat_reroute", Range::Boolean;
    /// Version of the connection-sync protocol the master sends (0 old, 1 new).
    SyncVersion = "sync_version", Range::Integer { min: 0, max: 1 };
    /// Number of sync-daemon threads/ports (a power of two).
    SyncPorts = "sync_ports", Range::PowerOfTwo { max: 1 << 30 };
    /// Sync persistence templates for persistent services only.
    SyncPersistMode = "sync_persist_mode", Range::Boolean;
    /// Maximum number of queued sync messages.
    SyncQlenMax = "sync_qlen_max", Range::Integer { min: 0, max: i64::MAX };
    /// Sync socket buffer size in bytes (0 or less: the system default).
    SyncSockSize = "sync_sock_size", INT;
    /// Send packets to the original destination when no real server is available.
    CacheBypass = "cache_bypass", Range::Boolean;
    /// Expire a connection at once when its real server is removed.
    ExpireNodestConn = "expire_nodest_conn", Range::Boolean;
    /// Accept TCP connections in any state, not only from SYN (for failover).
    SloppyTcp = "sloppy_tcp", Range::Boolean;
    /// Accept SCTP associations in any state, not only from INIT (for failover).
    SloppySctp = "sloppy_sctp", Range::Boolean;
    /// Expire persistence templates of a quiescent (weight 0) real server.
    ExpireQuiescentTemplate = "expire_quiescent_template", Range::Boolean;
    /// Sync a connection after `threshold` packets, then every `period` packets.
    SyncThreshold = "sync_threshold", Range::ThresholdPeriod;
    /// Minimum seconds between two syncs of a connection whose state did not change.
    SyncRefreshPeriod = "sync_refresh_period", Range::Seconds;
    /// How many times a sync message is retried (sync protocol 1).
    SyncRetries = "sync_retries", Range::Integer { min: 0, max: 3 };
    /// Send ICMP errors for packets of NAT connections whose real server is gone.
    NatIcmpSend = "nat_icmp_send", Range::Boolean;
    /// Path-MTU discovery for forwarded packets (0 lets them fragment).
    PmtuDisc = "pmtu_disc", Range::Boolean;
    /// Only act as a sync backup: do not load-balance while the backup daemon runs.
    BackupOnly = "backup_only", Range::Boolean;
    /// How a reused client port is rescheduled (a bitmap: bit 1 when it is safe, bit 2
    /// also for FIN_WAIT; the kernel stores any integer and reads these bits).
    ConnReuseMode = "conn_reuse_mode", INT;
    /// Schedule ICMP packets that arrive for a virtual service without a connection.
    ScheduleIcmp = "schedule_icmp", Range::Boolean;
    /// Ignore tunnelled packets (leave them to the tunnel driver).
    IgnoreTunneled = "ignore_tunneled", Range::Boolean;
    /// Run the rate estimator (the per-second rates of `--rate`).
    RunEstimation = "run_estimation", Range::Boolean;
    /// CPUs the rate-estimator kthreads may run on (Linux 6.2+).
    EstCpulist = "est_cpulist", Range::CpuList;
    /// Nice value of the rate-estimator kthreads (Linux 6.2+).
    EstNice = "est_nice", Range::Integer { min: -20, max: 19 };
    /// Debug message level (kernels built with `CONFIG_IP_VS_DEBUG`). Global to the
    /// host: read-only in every network namespace but the first.
    DebugLevel = "debug_level", INT;
    /// Seconds an idle lblc scheduler entry is kept (present while `ip_vs_lblc` is loaded).
    LblcExpiration = "lblc_expiration", Range::Seconds;
    /// Seconds an idle lblcr scheduler entry is kept (present while `ip_vs_lblcr` is loaded).
    LblcrExpiration = "lblcr_expiration", Range::Seconds;
}

impl Parameter {
    /// The parameter of this file name.
    pub fn from_name(name: &str) -> Option<Parameter> {
        let name = name.strip_prefix(DOTTED_PREFIX).unwrap_or(name);
        Parameter::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DOTTED_PREFIX}{}", self.name())
    }
}

/// One parameter file and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The file name (`conntrack`).
    pub name: String,
    /// The known parameter, `None` for a file this library does not know.
    pub parameter: Option<Parameter>,
    /// Its value.
    pub value: Value,
}

impl Setting {
    /// The name as `sysctl` prints it: `net.ipv4.vs.conntrack`.
    pub fn dotted_name(&self) -> String {
        format!("{DOTTED_PREFIX}{}", self.name)
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SysctlError + '_ {
    move |source| SysctlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every parameter file under `root`/net/ipv4/vs (`root` is `/proc/sys` in
/// production), sorted by name.
pub fn read_all_at(root: &Path) -> Result<Vec<Setting>, SysctlError> {
    let dir = root.join(VS_DIR);
    let mut settings = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(io_error(&dir))? {
        let entry = entry.map_err(io_error(&dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not a kernel parameter name
        };
        let path = entry.path();
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        settings.push(Setting {
            parameter: Parameter::from_name(&name),
            name,
            value: Value::parse(&text),
        });
    }
    settings.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(settings)
}

/// One parameter's value under `root`.
pub fn read_at(root: &Path, parameter: Parameter) -> Result<Value, SysctlError> {
    let path = root.join(VS_DIR).join(parameter.name());
    let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
    Ok(Value::parse(&text))
}

/// Check `value` against the parameter's range, then write it under `root`.
/// Out of range: [`SysctlError::OutOfRange`] and nothing is written.
pub fn write_at(root: &Path, parameter: Parameter, value: &Value) -> Result<(), SysctlError> {
    let range = parameter.range();
    if !range.accepts(value) {
        return Err(SysctlError::OutOfRange {
            name: parameter.name(),
            value: value.clone(),
            range,
        });
    }
    let path = root.join(VS_DIR).join(parameter.name());
    // Never create: a missing file means the kernel lacks the parameter.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .map_err(io_error(&path))?;
    // One write: the kernel parses the buffer of a single write call.
    file.write_all(format!("{value}\n").as_bytes())
        .map_err(io_error(&path))
}

/// Every IPVS parameter of the caller's network namespace, sorted by name.
pub fn read_all() -> Result<Vec<Setting>, SysctlError> {
    read_all_at(Path::new(PROC_SYS))
}

/// One parameter of the caller's network namespace.
pub fn read(parameter: Parameter) -> Result<Value, SysctlError> {
    read_at(Path::new(PROC_SYS), parameter)
}

/// Write one parameter of the caller's network namespace, range checked first.
pub fn write(parameter: Parameter, value: &Value) -> Result<(), SysctlError> {
    write_at(Path::new(PROC_SYS), parameter, value)
}

fn in_netns<R: Send>(
    netns: &Netns,
    work: impl FnOnce() -> Result<R, SysctlError> + Send,
) -> Result<R, SysctlError> {
    run_in(netns, work).map_err(SysctlError::Namespace)?
}

/// [`read_all`] in another network namespace.
pub fn read_all_in(netns: &Netns) -> Result<Vec<Setting>, SysctlError> {
    in_netns(netns, read_all)
}

/// [`read`] in another network namespace.
pub fn read_in(netns: &Netns, parameter: Parameter) -> Result<Value, SysctlError> {
    in_netns(netns, || read(parameter))
}

/// [`write()`] in another network namespace.
pub fn write_in(netns: &Netns, parameter: Parameter, value: &Value) -> Result<(), SysctlError> {
    in_netns(netns, || write(parameter, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc/sys` with these IPVS files; removed on drop.
    struct FakeRoot(PathBuf);

    impl FakeRoot {
        fn new(tag: &str, files: &[(&str, &str)]) -> FakeRoot {
            let root =
                std::env::temp_dir().join(format!("ipvs-core-sysctl-{tag}-{}", std::process::id()));
            let vs = root.join(VS_DIR);
            std::fs::create_dir_all(&vs).unwrap();
            for (name, text) in files {
                std::fs::write(vs.join(name), text).unwrap();
            }
            FakeRoot(root)
        }

        fn file(&self, name: &str) -> String {
            std::fs::read_to_string(self.0.join(VS_DIR).join(name)).unwrap()
        }
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn lists_every_file_sorted_typed_and_unknown_ones_by_name() {
        let root = FakeRoot::new(
            "list",
            &[
                ("sync_threshold", "3\t50\n"),
                ("conntrack", "0\n"),
                ("from_a_newer_kernel", "7\n"),
                ("est_cpulist", "0-3\n"),
                ("amemthresh", "1024\n"),
            ],
        );
        let got = read_all_at(&root.0).unwrap();
        let summary: Vec<(String, Option<Parameter>, Value)> = got
            .into_iter()
            .map(|s| (s.dotted_name(), s.parameter, s.value))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "net.ipv4.vs.amemthresh".into(),
                    Some(Parameter::Amemthresh),
                    Value::Integer(1024)
                ),
                (
                    "net.ipv4.vs.conntrack".into(),
                    Some(Parameter::Conntrack),
                    Value::Integer(0)
                ),
                (
                    "net.ipv4.vs.est_cpulist".into(),
                    Some(Parameter::EstCpulist),
                    Value::Text("0-3".into())
                ),
                (
                    "net.ipv4.vs.from_a_newer_kernel".into(),
                    None,
                    Value::Integer(7)
                ),
                (
                    "net.ipv4.vs.sync_threshold".into(),
                    Some(Parameter::SyncThreshold),
                    Value::Integers(vec![3, 50])
                ),
            ]
        );
        assert_eq!(Value::Integers(vec![3, 50]).to_string(), "3\t50");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let root = FakeRoot::new("missing", &[]);
        std::fs::remove_dir(root.0.join(VS_DIR)).unwrap();
        let err = read_all_at(&root.0).unwrap_err().to_string();
        assert!(err.contains("net/ipv4/vs"), "{err}");
    }

    #[test]
    fn writes_in_range_values_and_reads_them_back() {
        let root = FakeRoot::new(
            "write",
            &[
                ("conntrack", "0\n"),
                ("sync_threshold", "3\t50\n"),
                ("sync_ports", "1\n"),
            ],
        );
        write_at(&root.0, Parameter::Conntrack, &1.into()).unwrap();
        assert_eq!(root.file("conntrack"), "1\n");
        assert_eq!(
            read_at(&root.0, Parameter::Conntrack).unwrap(),
            Value::Integer(1)
        );
        write_at(
            &root.0,
            Parameter::SyncThreshold,
            &Value::Integers(vec![5, 0]),
        )
        .unwrap();
        assert_eq!(root.file("sync_threshold"), "5\t0\n");
        write_at(&root.0, Parameter::SyncPorts, &4.into()).unwrap();
        assert_eq!(root.file("sync_ports"), "4\n");
    }

    #[test]
    fn out_of_range_writes_are_refused_naming_parameter_value_and_range() {
        let root = FakeRoot::new(
            "range",
            &[
                ("conntrack", "0\n"),
                ("sync_refresh_period", "0\n"),
                ("drop_entry", "0\n"),
                ("sync_ports", "1\n"),
                ("sync_threshold", "3\t50\n"),
                ("est_nice", "0\n"),
            ],
        );
        let cases: &[(Parameter, Value, &str)] = &[
            (
                Parameter::Conntrack,
                (1i64 << 31).into(),
                "net.ipv4.vs.conntrack: 2147483648 is out of range (0 (off) or any other integer (on))",
            ),
            (
                Parameter::SyncRefreshPeriod,
                2_147_484.into(),
                "-2147483 to 2147483 seconds",
            ),
            (
                Parameter::DropEntry,
                4.into(),
                "net.ipv4.vs.drop_entry: 4 is out of range (0 to 3)",
            ),
            (
                Parameter::DropEntry,
                (-1).into(),
                "net.ipv4.vs.drop_entry: -1 is out of range (0 to 3)",
            ),
            (Parameter::SyncPorts, 3.into(), "a power of two"),
            (Parameter::SyncPorts, 0.into(), "a power of two"),
            (
                Parameter::SyncThreshold,
                Value::Integers(vec![50, 3]),
                "threshold < period",
            ),
            (Parameter::SyncThreshold, 3.into(), "two integers"),
            (Parameter::EstNice, 20.into(), "-20 to 19"),
        ];
        for (parameter, value, expected) in cases {
            let before = root.file(parameter.name());
            let err = write_at(&root.0, *parameter, value)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{parameter} {value}: {err}");
            assert!(err.contains(parameter.name()), "{err}");
            assert_eq!(root.file(parameter.name()), before, "{parameter} changed");
        }
    }

    #[test]
    fn a_write_never_creates_a_missing_parameter() {
        let root = FakeRoot::new("absent", &[]);
        let err = write_at(&root.0, Parameter::EstNice, &0.into()).unwrap_err();
        assert!(matches!(err, SysctlError::Io { .. }), "{err}");
        assert!(!root.0.join(VS_DIR).join("est_nice").exists());
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        for p in Parameter::ALL {
            assert_eq!(Parameter::from_name(p.name()), Some(*p));
            assert_eq!(Parameter::from_name(&p.to_string()), Some(*p));
        }
        let mut names: Vec<&str> = Parameter::ALL.iter().map(|p| p.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Parameter::ALL.len());
        assert_eq!(Parameter::from_name("no_such"), None);
    }

    #[test]
    fn values_parse_as_the_kernel_prints_them() {
        assert_eq!(Value::parse("-5\n"), Value::Integer(-5));
        assert_eq!(Value::parse("3\t50\n"), Value::Integers(vec![3, 50]));
        assert_eq!(Value::parse("0-1,3\n"), Value::Text("0-1,3".into()));
        assert_eq!(Value::parse("\n"), Value::Text(String::new()));
    }
}
