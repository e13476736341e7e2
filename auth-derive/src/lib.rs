//! `#[derive(Privileges)]`, re-exported by `auth-core` as
//! `auth_core::Privileges` (feature `derive`, on by default): use it from
//! there.
//!
//! The derive implements `auth_core::Privileges` for a struct of
//! application claims from two fields:
//!
//! - roles: the field named `roles`, or the one marked
//!   `#[privileges(roles)]`: any collection of strings (`Vec<String>`,
//!   `HashSet<String>`, `BTreeSet<String>`, `Option<Vec<String>>`...);
//! - scope: the field named `scope`, or the one marked
//!   `#[privileges(scope)]`: a space-separated OAuth scope string
//!   (`String`, `Option<String>`, `Box<str>`...).
//!
//! Either may be missing (no role, or no scope, is then ever granted); a
//! struct with neither is refused at compile time, since its claims could
//! never pass a check.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{Data, DeriveInput, Error, Fields, Ident, parse_macro_input};

/// Implements `auth_core::Privileges` from a `roles` and/or a `scope`
/// field; see the [crate docs](crate).
#[proc_macro_derive(Privileges, attributes(privileges))]
pub fn derive_privileges(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> Result<proc_macro2::TokenStream, Error> {
    let Data::Struct(data) = &input.data else {
        return Err(Error::new(
            Span::call_site(),
            "#[derive(Privileges)] works on structs with a `roles` and/or a `scope` field",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(Error::new(
            Span::call_site(),
            "#[derive(Privileges)] needs named fields: `roles` and/or `scope`",
        ));
    };
    let mut roles: Option<&Ident> = None;
    let mut scope: Option<&Ident> = None;
    let mut marked_roles: Option<&Ident> = None;
    let mut marked_scope: Option<&Ident> = None;
    for field in &fields.named {
        let Some(name) = field.ident.as_ref() else {
            continue;
        };
        if name == "roles" {
            roles = Some(name);
        }
        if name == "scope" {
            scope = Some(name);
        }
        for attr in field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("privileges"))
        {
            attr.parse_nested_meta(|meta| {
                let slot = if meta.path.is_ident("roles") {
                    &mut marked_roles
                } else if meta.path.is_ident("scope") {
                    &mut marked_scope
                } else {
                    return Err(meta.error("expected `roles` or `scope`"));
                };
                if slot.is_some() {
                    return Err(meta.error("marked twice: one field per kind"));
                }
                *slot = Some(name);
                Ok(())
            })?;
        }
    }
    let roles = marked_roles.or(roles);
    let scope = marked_scope.or(scope);
    if roles.is_none() && scope.is_none() {
        return Err(Error::new(
            Span::call_site(),
            "#[derive(Privileges)] found no `roles` nor `scope` field: name one so, or mark it \
             `#[privileges(roles)]` / `#[privileges(scope)]`",
        ));
    }
    let has_role = match roles {
        Some(f) => quote!(::auth_core::privileges::has_role(&self.#f, role)),
        None => quote!({
            let _ = role;
            false
        }),
    };
    let has_scope = match scope {
        Some(f) => quote!(::auth_core::privileges::has_scope(&self.#f, scope)),
        None => quote!({
            let _ = scope;
            false
        }),
    };
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::auth_core::Privileges for #name #ty_generics #where_clause {
            fn has_role(&self, role: &str) -> bool {
                #has_role
            }
            fn has_scope(&self, scope: &str) -> bool {
                #has_scope
            }
        }
    })
}
