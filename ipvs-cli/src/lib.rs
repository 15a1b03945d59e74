//! ipvsadm-rs library: argument parsing and rendering.
