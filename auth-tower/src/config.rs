//! What the layer's service, its future and the claims readers share: the
//! layer's configuration and its documented defaults. Imports none of them.

use std::time::Duration;

use std::sync::Arc;

use auth_core::Validator;
use auth_core::dpop::DpopVerifier;

use crate::on_rejection::Responder;
use crate::source::TokenSource;

/// The default `realm` of the `WWW-Authenticate` challenge.
pub const DEFAULT_REALM: &str = "api";

/// The default limit on a revocation check that needs I/O: 2 s. The built-in
/// stores answer from memory and never wait; a custom store that asks a
/// remote service must not hold requests forever when it hangs.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The layer's settings, shared by its services and their futures.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) validator: Validator,
    pub(crate) sources: Vec<TokenSource>,
    pub(crate) optional: bool,
    pub(crate) responder: Responder,
    pub(crate) check_timeout: Option<Duration>,
    /// DPoP proofs' verifier (`None`: bound tokens are refused).
    pub(crate) dpop: Option<DpopVerifier>,
    /// The public origin proofs' `htu` names (`None`: the request's own
    /// host, either scheme).
    pub(crate) dpop_origin: Option<Arc<str>>,
}
