//! The login throttle's flags: its limits, where the client address comes
//! from, and the device key. Counters live in the authority's store: in
//! memory, or in Redis with `--redis-url`, shared by every instance.

use std::path::Path;
use std::time::Duration;

use auth_axum_extras::throttle::ClientAddress;
use auth_core::TokenAuthority;
use auth_core::throttle::{self, DeviceKey, LoginThrottle, ThrottlePolicy};

use crate::{Error, duration};

/// The login throttle's flags (defaults: `auth_core::throttle`'s).
#[derive(clap::Args, Debug, Clone)]
pub struct ThrottleArgs {
    /// Check every login, however many failed before (the throttle is on
    /// by default).
    #[arg(long)]
    pub no_login_throttle: bool,
    /// Consecutive failures of one account from one address before it
    /// waits 1 s, then 2 s, 4 s, ... up to --login-max-wait.
    #[arg(long, value_name = "N", default_value_t = throttle::DEFAULT_FREE_FAILURES)]
    pub login_free_failures: u32,
    /// The longest wait the throttle imposes (humantime).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = duration)]
    pub login_max_wait: Duration,
    /// More failures than this from one address within --address-window
    /// make the address wait, for every account.
    #[arg(long, value_name = "N", default_value_t = throttle::DEFAULT_ADDRESS_FAILURES)]
    pub address_failures: u32,
    /// The window of --address-failures (humantime).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration)]
    pub address_window: Duration,
    /// At most this many failures per account within --account-window are
    /// checked from devices that never logged in to it.
    #[arg(long, value_name = "N", default_value_t = throttle::DEFAULT_ACCOUNT_FAILURES)]
    pub account_failures: u32,
    /// The window of --account-failures (humantime).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = duration)]
    pub account_window: Duration,
    /// Behind this many trusted proxies, read the client address from
    /// X-Forwarded-For (the Nth entry from the right); 0 uses the TCP peer.
    /// Exactly the number of proxies: one more and clients choose their
    /// address.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub trusted_proxies: usize,
}

impl ThrottleArgs {
    /// The policy the flags describe.
    pub fn policy(&self) -> ThrottlePolicy {
        ThrottlePolicy::default()
            .free_failures(self.login_free_failures)
            .max_wait(self.login_max_wait)
            .address_failures(self.address_failures, self.address_window)
            .account_failures(self.account_failures, self.account_window)
    }

    /// Where the client address comes from.
    pub fn client_address(&self) -> ClientAddress {
        match self.trusted_proxies {
            0 => ClientAddress::Peer,
            hops => ClientAddress::ForwardedFor { hops },
        }
    }

    /// The throttle over `authority`'s store, or none with
    /// `--no-login-throttle`. Device cookies are signed with a key derived
    /// from what the instances of a deployment share: the
    /// [`SECRET_ENV`](crate::SECRET_ENV) secret, else the `--key-pem` file,
    /// so each instance recognises the devices the others saw, and a
    /// restart forgets none. Without either, a random key (logged).
    pub fn throttle(
        &self,
        authority: &TokenAuthority,
        secret: Option<&str>,
        key_pem: Option<&Path>,
    ) -> Result<Option<LoginThrottle>, Error> {
        if self.no_login_throttle {
            return Ok(None);
        }
        let mut throttle = LoginThrottle::new(authority.store().clone())
            .clock(authority.clock().clone())
            .policy(self.policy());
        match shared_material(secret, key_pem)? {
            Some(material) => {
                // A key of its own: the label keeps it apart from the token
                // signing key it is derived from.
                let mut seed = b"auth-device-cookie\0".to_vec();
                seed.extend_from_slice(&material);
                throttle = throttle.device_key(DeviceKey::from_secret(&seed)?);
            }
            None => tracing::warn!(
                "device cookies are signed with a random key: other instances and restarts do not recognise them (set {} or --key-pem)",
                crate::SECRET_ENV
            ),
        }
        Ok(Some(throttle))
    }
}

/// What every instance shares to derive its own keys from (the device
/// cookies', the DPoP nonces'): the HS256 secret, else the `--key-pem`
/// file; `None` when the signing key is random.
pub fn shared_material(
    secret: Option<&str>,
    key_pem: Option<&Path>,
) -> Result<Option<Vec<u8>>, Error> {
    Ok(match (secret, key_pem) {
        (Some(secret), _) => Some(secret.as_bytes().to_vec()),
        (None, Some(path)) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read --key-pem {}: {e}", path.display()))?,
        ),
        (None, None) => None,
    })
}
