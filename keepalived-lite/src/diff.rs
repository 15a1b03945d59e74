//! What a reload changes: an instance, script or `global_defs` is "the same" when only
//! its location in the file moved.

use crate::config::{GlobalDefs, Instance, VrrpScript};

/// Whether two instances are the same but for their location.
pub fn same_instance(a: &Instance, b: &Instance) -> bool {
    let mut b = b.clone();
    b.location = a.location.clone();
    *a == b
}

/// Whether two scripts are the same but for their locations.
pub fn same_script(a: &VrrpScript, b: &VrrpScript) -> bool {
    let mut b = b.clone();
    b.location = a.location.clone();
    b.user_location = a.user_location.clone();
    *a == b
}

/// Whether two `global_defs` are the same but for locations.
pub fn same_global(a: &GlobalDefs, b: &GlobalDefs) -> bool {
    let mut b = b.clone();
    b.script_user_location = a.script_user_location.clone();
    *a == b
}
