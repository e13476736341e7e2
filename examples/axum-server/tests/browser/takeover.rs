//! A thief who refreshed a copied cookie first: the page ends the session.
//! A Bearer session: the page has no IndexedDB, so no DPoP key (a bound
//! session cannot be refreshed with a copied cookie at all; see `dpop`).

use crate::harness::{Browser, browser_installed};
use crate::server::{refreshes, server};

/// Hides IndexedDB from the page's scripts, as some private browsing modes do.
pub(crate) const NO_INDEXEDDB: &str =
    "Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true })";

/// A thief copied the refresh cookie and refreshed with it first. The page's
/// next refresh is `refresh_superseded`, and so is its retry, since its
/// cookie still holds the replaced token: the page then logs out with that
/// token, which ends the session, so the thief's new tokens stop working.
/// Without IndexedDB the client keeps no DPoP key and signs in as Bearer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_who_refreshes_first_loses_the_session() {
    if !browser_installed() {
        return;
    }
    // The thief's access token would outlive the test: refused, it was
    // revoked with its session.
    let s = server(&["--access-ttl", "10m"], "http").await;
    let thief = contract_tests::Client::new(s.addr);
    let mut b = Browser::start(&[], "thief").await;
    b.before_scripts(NO_INDEXEDDB).await;
    b.client
        .goto(&format!("{}/", s.base))
        .await
        .expect("the page loads");
    b.ready().await;
    // Both of the page's refreshes must come within the reuse grace (2 s)
    // of the thief's; past it the page's token is reuse, and the server ends
    // the session by itself. A machine too busy for that gets another try.
    for attempt in 1..=5 {
        b.sign_in("alice", "alice-password").await;
        b.until_alice("signed in").await;
        assert_eq!(b.text("token-type").await, "Bearer", "no key, no binding");
        let stolen = b.refresh_cookie(&s.base).await.expect("the refresh cookie");
        let superseded = refreshes(&thief, "superseded").await;
        let reused = refreshes(&thief, "reused").await;
        let taken = thief.refresh_by_cookie(&stolen).await;
        assert_eq!(taken.status, 200, "the thief's refresh: {}", taken.json);
        let access = taken.field("accessToken");
        let refresh = taken.set_cookie().expect("the thief's new refresh token");

        // A reload: one refresh with the cookie the thief's refresh replaced.
        b.client.refresh().await.expect("reload");
        b.ready().await;
        if refreshes(&thief, "reused").await > reused {
            eprintln!("attempt {attempt}: the page refreshed after the reuse grace; again");
            continue;
        }
        assert_eq!(
            refreshes(&thief, "superseded").await,
            superseded + 2,
            "the page's refresh and its retry, both superseded"
        );
        b.screenshot("taken-over").await;

        assert_eq!(
            thief.refresh_by_cookie(&refresh).await.status,
            401,
            "the thief's refresh token still works: the page left the session to the thief"
        );
        assert_eq!(
            thief.get("/profile", Some(&access)).await.status,
            401,
            "the thief's access token still works"
        );
        assert!(b.visible("signin").await, "the sign-in form shows");
        let log = b.log().await;
        assert!(
            log.iter()
                .any(|l| l.ends_with("signed out (session_taken_over)")),
            "{log:?}"
        );
        assert!(!b.text("error").await.is_empty(), "the page says why");
        assert_eq!(b.refresh_cookie(&s.base).await, None, "the cookie is gone");
        b.client.close().await.expect("the session ends");
        return;
    }
    panic!("the page never refreshed within the reuse grace of the thief's refresh");
}
