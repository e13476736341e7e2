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
use bytes::Bytes;
use http::{Extensions, Response};

use crate::config::{Config, DEFAULT_REALM};
use crate::on_rejection::Responder;
pub use crate::rejection::ClaimsError;
use crate::rejection::Rejection;

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
/// Answering a refusal as the layer that ran would: it lives here, beside
/// the [`ClaimsType`] extension that carries the layer's responder.
impl Rejection {
    /// The answer to this refusal of a request that an
    /// [`AuthLayer`](crate::AuthLayer) let through (an extractor or handler
    /// refusing it later): written as that layer writes its own, with its
    /// realm and [`on_rejection`](crate::AuthLayer::on_rejection) hook, so
    /// an application's refusals all look alike. Without a layer, the
    /// default ([`to_response`](Self::to_response) with
    /// [`DEFAULT_REALM`](crate::DEFAULT_REALM)). The refusal is logged and
    /// counted like the layer's.
    ///
    /// ```
    /// use auth_tower::Rejection;
    ///
    /// let (parts, ()) = http::Request::new(()).into_parts();
    /// let res = Rejection::Missing.response_for(&parts);
    /// assert_eq!(res.status(), 401);
    /// assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
    /// ```
    pub fn response_for(self, parts: &http::request::Parts) -> Response<Bytes> {
        let layer = parts
            .extensions
            .get::<ClaimsType>()
            .and_then(|t| t.responder());
        let default;
        let responder = match layer {
            Some(r) => r,
            None => {
                default = Responder::new(DEFAULT_REALM);
                &default
            }
        };
        responder.respond(
            self,
            &parts.method,
            &parts.uri,
            &parts.headers,
            &parts.extensions,
        )
    }
}
