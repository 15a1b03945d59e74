//! `vrrp-send`: sends hand-made VRRP advertisements over IPv4 (any TTL, wrong password,
//! bad checksum, truncated or padded), to test that receivers drop what they must.
//!
//! Exit codes: 0 sent, 1 send failed, 2 bad command line.
#![warn(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use clap::Parser;
use keepalived_lite::net::send_ipv4_raw;
use keepalived_lite::packet::{Advert, Auth, ChecksumMode, Version, VRRP_MCAST_V4};

/// Send one crafted VRRP advertisement.
#[derive(Debug, Parser)]
#[command(name = "vrrp-send", args_override_self = true)]
struct Cli {
    /// Interface to send on.
    #[arg(long)]
    interface: String,
    /// IPv4 source address.
    #[arg(long)]
    src: Ipv4Addr,
    /// Destination (default the VRRP group 224.0.0.18).
    #[arg(long, default_value_t = VRRP_MCAST_V4)]
    dst: Ipv4Addr,
    /// IP TTL.
    #[arg(long, default_value_t = 255)]
    ttl: u8,
    /// VRRP version (2 or 3).
    #[arg(long = "vrrp-version", default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    vrrp_version: u8,
    /// Virtual router id.
    #[arg(long)]
    vrid: u8,
    /// Priority.
    #[arg(long)]
    priority: u8,
    /// Advertisement interval in centiseconds.
    #[arg(long, default_value_t = 100)]
    interval_cs: u16,
    /// PASS authentication password (VRRPv2).
    #[arg(long)]
    pass: Option<String>,
    /// Virtual address (repeat for several).
    #[arg(long = "vip")]
    vips: Vec<Ipv4Addr>,
    /// Flip the checksum.
    #[arg(long)]
    corrupt_checksum: bool,
    /// Cut the VRRP message to this many bytes.
    #[arg(long)]
    truncate: Option<usize>,
    /// Append this many zero bytes.
    #[arg(long)]
    pad: Option<usize>,
    /// How many copies to send.
    #[arg(long, default_value_t = 1)]
    count: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let adv = Advert {
        version: if cli.vrrp_version == 2 {
            Version::V2
        } else {
            Version::V3
        },
        vrid: cli.vrid,
        priority: cli.priority,
        interval_cs: cli.interval_cs,
        addrs: cli.vips.iter().map(|a| IpAddr::V4(*a)).collect(),
        auth: cli.pass.as_deref().map(Auth::pass).unwrap_or(Auth::None),
    };
    let mut msg = adv.encode(
        IpAddr::V4(cli.src),
        IpAddr::V4(cli.dst),
        ChecksumMode::PseudoHeader,
    );
    if cli.corrupt_checksum {
        msg[6] ^= 0x5a;
    }
    if let Some(n) = cli.truncate {
        msg.truncate(n);
    }
    if let Some(n) = cli.pad {
        msg.extend(std::iter::repeat_n(0u8, n));
    }
    for _ in 0..cli.count {
        if let Err(e) = send_ipv4_raw(&cli.interface, cli.src, cli.dst, cli.ttl, &msg) {
            eprintln!("vrrp-send: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
