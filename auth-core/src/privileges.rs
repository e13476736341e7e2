//! The pieces of [`Privileges`](crate::Privileges) that
//! `#[derive(Privileges)]` builds on, for hand-written impls too: a role
//! check over any collection of strings, and a scope check over a
//! space-separated scope string.
//!
//! ```
//! use auth_core::privileges::{has_role, has_scope};
//!
//! assert!(has_role(&vec!["user".to_string(), "admin".to_string()], "admin"));
//! assert!(!has_role(&None::<Vec<String>>, "admin"));
//! assert!(has_scope(&Some("read write".to_string()), "write"));
//! assert!(!has_scope(&"read write".to_string(), "rea"));
//! ```

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::Arc;

/// Whether `roles` holds `role` (exactly: no case folding, no prefixes).
pub fn has_role<R: RoleList + ?Sized>(roles: &R, role: &str) -> bool {
    roles.holds(role)
}

/// Whether the space-separated `scope` string holds the item `wanted`
/// (RFC 6749 §3.3: exact items, case-sensitive).
pub fn has_scope<S: ScopeString + ?Sized>(scope: &S, wanted: &str) -> bool {
    scope
        .scope_str()
        .is_some_and(|s| s.split(' ').any(|item| !item.is_empty() && item == wanted))
}

/// A collection of role names, as a claims field holds them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a collection of role names",
    label = "the roles field must hold strings",
    note = "use `Vec<String>`, a `HashSet`/`BTreeSet` of strings, or an `Option` of one"
)]
pub trait RoleList {
    /// Whether `role` is one of them.
    fn holds(&self, role: &str) -> bool;
}

/// A space-separated OAuth scope string, as a claims field holds it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a scope string",
    label = "the scope field must be a space-separated string",
    note = "use `String` or `Option<String>`"
)]
pub trait ScopeString {
    /// The string, if there is one.
    fn scope_str(&self) -> Option<&str>;
}

impl<T: AsRef<str>> RoleList for [T] {
    fn holds(&self, role: &str) -> bool {
        self.iter().any(|r| r.as_ref() == role)
    }
}

impl<T: AsRef<str>> RoleList for Vec<T> {
    fn holds(&self, role: &str) -> bool {
        self.as_slice().holds(role)
    }
}

impl<T: AsRef<str>, const N: usize> RoleList for [T; N] {
    fn holds(&self, role: &str) -> bool {
        self.as_slice().holds(role)
    }
}

impl<T: AsRef<str>, H: BuildHasher> RoleList for HashSet<T, H> {
    fn holds(&self, role: &str) -> bool {
        self.iter().any(|r| r.as_ref() == role)
    }
}

impl<T: AsRef<str>> RoleList for BTreeSet<T> {
    fn holds(&self, role: &str) -> bool {
        self.iter().any(|r| r.as_ref() == role)
    }
}

impl<R: RoleList> RoleList for Option<R> {
    fn holds(&self, role: &str) -> bool {
        self.as_ref().is_some_and(|r| r.holds(role))
    }
}

impl<R: RoleList + ?Sized> RoleList for Box<R> {
    fn holds(&self, role: &str) -> bool {
        (**self).holds(role)
    }
}

impl<R: RoleList + ?Sized> RoleList for Arc<R> {
    fn holds(&self, role: &str) -> bool {
        (**self).holds(role)
    }
}

impl ScopeString for str {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl ScopeString for String {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl ScopeString for Box<str> {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl ScopeString for Arc<str> {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl ScopeString for Rc<str> {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl ScopeString for Cow<'_, str> {
    fn scope_str(&self) -> Option<&str> {
        Some(self)
    }
}

impl<S: ScopeString> ScopeString for Option<S> {
    fn scope_str(&self) -> Option<&str> {
        self.as_ref().and_then(ScopeString::scope_str)
    }
}
