//! List the services of another network namespace (`ip netns add NAME`) from
//! a program that stays in its own: the handle's socket is opened inside the
//! namespace, the calling thread never moves.
//!
//! `cargo run -p ipvs-core --example netns_services -- NAME`

use std::process::ExitCode;

use ipvs_core::{Handle, Netns};

fn main() -> ExitCode {
    let Some(name) = std::env::args().nth(1) else {
        eprintln!("usage: netns_services NAME");
        return ExitCode::from(2);
    };
    match Handle::in_netns(&Netns::named(&name)).and_then(|mut h| h.services()) {
        Ok(services) => {
            for s in services {
                println!("{} {}", s.key, s.scheduler);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netns_services: {e}");
            ExitCode::FAILURE
        }
    }
}
