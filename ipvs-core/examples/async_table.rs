//! Print the IPVS table as JSON through the async handle (what a tokio
//! program, such as a kube-rs controller, would use), optionally from another
//! network namespace.
//!
//! `cargo run -p ipvs-core --features tokio --example async_table [-- NETNS]`

use std::process::ExitCode;

use ipvs_core::{AsyncHandle, Netns};

fn main() -> ExitCode {
    let netns = std::env::args().nth(1);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("async_table: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(netns.as_deref())) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("async_table: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(netns: Option<&str>) -> Result<String, Box<dyn std::error::Error>> {
    let mut ipvs = match netns {
        Some(name) => AsyncHandle::in_netns(&Netns::named(name)).await?,
        None => AsyncHandle::new().await?,
    };
    let table = ipvs.table().await?;
    Ok(serde_json::to_string_pretty(&table)?)
}
