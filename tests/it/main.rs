//! The workspace's integration tests: one binary, a module per area.
//!
//! Tests declared with `ipvs_lab::lab_test!` run against a real kernel with IPVS (see
//! docs/lab.md); run one with `cargo test --test it lab::nat_traffic_arrives_intact`.

mod behaviour;
mod cli;
mod cli_apply;
mod cli_check;
mod cli_kernel;
mod cli_sysctl;
mod core;
mod core_apply;
mod core_bench;
mod core_fixtures;
mod core_handles;
mod lab;
mod lvs;
mod ops;
mod ops_bench;
mod ops_deploy;
mod ops_image;
mod ops_netpol;
mod ops_operator;
mod ops_runbook;
mod ops_vrrp;
mod vrrp;
