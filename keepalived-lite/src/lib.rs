//! A minimal VRRP daemon and library.
