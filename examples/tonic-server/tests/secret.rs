//! The tonic example has no built-in secret: it used to sign with one
//! written in its source, so anyone could mint tokens for a server started
//! without `AUTH_JWT_SECRET`.

use auth_core::NoClaims;
use example_tonic_server::{authority_from_secret, random_authority};

#[tokio::test]
async fn without_a_secret_there_is_no_shared_authority_and_random_ones_differ() {
    assert!(authority_from_secret(None).unwrap().is_none());
    let short = authority_from_secret(Some("short".into())).unwrap_err();
    assert!(short.to_string().contains("AUTH_JWT_SECRET"), "{short}");

    // Two servers started without a secret do not accept each other's tokens.
    let (a, b) = (random_authority().unwrap(), random_authority().unwrap());
    let token = a
        .issue("tonic-client", &NoClaims {})
        .await
        .unwrap()
        .access_token;
    assert!(
        a.validator()
            .validate_access::<NoClaims>(&token)
            .await
            .is_ok()
    );
    assert!(
        b.validator()
            .validate_access::<NoClaims>(&token)
            .await
            .is_err()
    );

    // A shared secret gives authorities that do.
    let secret = "a-shared-secret-of-at-least-32-bytes!!";
    let server = authority_from_secret(Some(secret.into())).unwrap().unwrap();
    let client = authority_from_secret(Some(secret.into())).unwrap().unwrap();
    let token = client
        .issue("tonic-client", &NoClaims {})
        .await
        .unwrap()
        .access_token;
    assert!(
        server
            .validator()
            .validate_access::<NoClaims>(&token)
            .await
            .is_ok()
    );
}
