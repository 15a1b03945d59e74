//! Typed generic-netlink interface to Linux IPVS.
