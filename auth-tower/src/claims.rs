//! Reading the claims an [`AuthLayer`](crate::AuthLayer) left in a request,
//! and telling "no token" apart from a mistake in the service stack.
//!
//! Every request that passes an `AuthLayer<E>` carries a [`ClaimsType`]
//! naming `E`, with or without a token. So a reader asking for claims of
//! another type, or a route the layer does not wrap, is reported as a
//! [`ClaimsError`] (a server bug, answered 500) and never mistaken for a
//! request without a token.
//!
//! ```
//! use auth_core::{NoClaims, RoleClaims};
//! use auth_tower::{ClaimsError, ClaimsType, claims};
//!
//! let mut req = http::Request::new(());
//! // What AuthLayer::<RoleClaims>::optional() leaves when no token came:
//! req.extensions_mut().insert(ClaimsType::of::<RoleClaims>());
//!
//! assert!(matches!(claims::<RoleClaims>(req.extensions()), Ok(None)));
//! let err = claims::<NoClaims>(req.extensions()).unwrap_err();
//! assert!(matches!(err, ClaimsError::Mismatch { .. }));
//! assert!(err.to_string().contains("RoleClaims"));
//!
//! let bare = http::Request::new(());
//! assert!(matches!(claims::<RoleClaims>(bare.extensions()), Err(ClaimsError::NoLayer { .. })));
//! ```

use std::any::{TypeId, type_name};
use std::fmt;
use std::sync::Arc;

use auth_core::AccessClaims;
use http::Extensions;

use crate::layer::Config;
use crate::on_rejection::Responder;

/// The claims type of the [`AuthLayer`](crate::AuthLayer) that ran on a
/// request: a request extension the layer inserts on every request it lets
/// through. It also tells [`Rejection::response_for`](crate::Rejection::response_for)
/// how that layer answers refusals (its realm and `on_rejection` hook).
#[derive(Clone)]
pub struct ClaimsType {
    id: TypeId,
    name: &'static str,
    layer: Option<Arc<Config>>,
}

impl ClaimsType {
    /// The marker of an `AuthLayer<E>` (with the default way of answering
    /// refusals).
    pub fn of<E: 'static>() -> Self {
        ClaimsType {
            id: TypeId::of::<E>(),
            name: type_name::<E>(),
            layer: None,
        }
    }

    /// The marker the layer with `config` inserts: one reference count more.
    pub(crate) fn of_layer<E: 'static>(config: &Arc<Config>) -> Self {
        ClaimsType {
            layer: Some(config.clone()),
            ..ClaimsType::of::<E>()
        }
    }

    /// How the layer that ran answers refusals, if known.
    pub(crate) fn responder(&self) -> Option<&Responder> {
        self.layer.as_deref().map(|c| &c.responder)
    }

    /// Whether the layer stores `AccessClaims<E>`.
    pub fn is<E: 'static>(&self) -> bool {
        self.id == TypeId::of::<E>()
    }

    /// The type's name, for messages (`auth_core::claims::RoleClaims`).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for ClaimsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ClaimsType").field(&self.name).finish()
    }
}

impl PartialEq for ClaimsType {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for ClaimsType {}

/// Why claims could not be read: the service stack is wired wrongly. This is
/// a bug in the application, never the client's fault: answer 500 and log it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsError {
    /// No `AuthLayer` ran on this request (the route is outside the layer,
    /// or the layer sits below the reader).
    #[error(
        "no AuthLayer ran on this request, so there are no AccessClaims<{expected}> (is the route inside the layer?)"
    )]
    NoLayer {
        /// The claims type the reader asked for.
        expected: &'static str,
    },
    /// An `AuthLayer` ran, but with another claims type.
    #[error(
        "the AuthLayer stores AccessClaims<{stored}>, but AccessClaims<{expected}> was asked for (use the layer's claims type)"
    )]
    Mismatch {
        /// The claims type the reader asked for.
        expected: &'static str,
        /// The claims type of the layer that ran.
        stored: &'static str,
    },
}

/// The access claims an `AuthLayer<E>` validated for this request (the
/// layer stores them as an `Arc<AccessClaims<E>>` extension, shared with
/// its token cache):
/// `Ok(Some(_))` with a valid token, `Ok(None)` when the layer let a request
/// without a token through ([`optional`](crate::AuthLayer::optional)), and
/// [`ClaimsError`] when no layer, or a layer of another claims type, ran.
pub fn claims<E: Send + Sync + 'static>(
    extensions: &Extensions,
) -> Result<Option<&Arc<AccessClaims<E>>>, ClaimsError> {
    if let Some(claims) = extensions.get::<Arc<AccessClaims<E>>>() {
        return Ok(Some(claims));
    }
    match extensions.get::<ClaimsType>() {
        Some(t) if t.is::<E>() => Ok(None),
        Some(t) => Err(ClaimsError::Mismatch {
            expected: type_name::<E>(),
            stored: t.name(),
        }),
        None => Err(ClaimsError::NoLayer {
            expected: type_name::<E>(),
        }),
    }
}
