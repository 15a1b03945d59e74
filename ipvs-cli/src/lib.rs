//! ipvsadm-rs: a drop-in `ipvsadm` 1.31 built on ipvs-core, with JSON output.
//!
//! The binary is thin: [`run::run`] does the whole command. [`args::parse`]
//! validates a command line exactly as ipvsadm does (same messages, same exit
//! codes) and resolves it into an [`args::Action`]; [`exec::execute`] carries
//! it out through ipvs-core ([`restore`] is a client of it); [`listing`] reads
//! the table and hands it service by service to [`render`] (ipvsadm's text
//! byte for byte), [`json`] and [`table`] (the extensions), which write to
//! any `std::io::Write` as they go.
//!
//! ```
//! use ipvs_cli::args::{parse, Action, Op};
//!
//! let args: Vec<String> = ["-A", "-t", "192.0.2.1:80", "-s", "rr"].map(String::from).to_vec();
//! match parse("ipvsadm", &args, false) {
//!     Ok(Action::Apply { op, .. }) => assert_eq!(op, Op::AddService),
//!     other => panic!("{other:?}"),
//! }
//! let bad: Vec<String> = ["-A", "-t", "192.0.2.1:80", "-w", "1"].map(String::from).to_vec();
//! let failure = parse("ipvsadm", &bad, false).unwrap_err();
//! assert_eq!(failure.code, 2);
//! assert_eq!(failure.message, "Illegal 'weight' option with the 'add-service' command\n");
//! ```

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod addr;
pub mod apply_file;
pub mod args;
pub mod check;
pub mod connections;
pub mod exec;
pub mod generate;
pub mod json;
pub mod listing;
pub mod lossless;
pub mod options;
pub mod popt;
pub mod render;
pub mod restore;
pub mod run;
pub mod sort;
pub mod strerror;
pub mod sysctl;
pub mod table;
pub mod usage;
