//! Rows against the instance configured with an issuer and an audience:
//! a token naming anything else is refused.

use super::*;

/// The issuer and audience rows against `iss_aud`, whose login token is
/// `ia_access`; `access` is the main instance's token.
pub(crate) fn rows(ia_access: &str, access: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    // An issuer and audience configured: anything else is refused.
    let (ih, ip) = parts(ia_access);
    assert_eq!(
        (ip["iss"].as_str(), ip["aud"].as_str()),
        (Some(ISS), Some(AUD))
    );
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::IssAud, req, expect));
    };
    add(
        "iss/aud: control, login token",
        bearer(ia_access),
        ok("alice"),
    );
    add(
        "iss/aud: control, aud array holding ours",
        bearer(&forge(&ih, &with(&ip, "aud", json!(["other", AUD])))),
        ok("alice"),
    );
    for (claim, value) in [
        ("iss", json!("https://evil.test")),
        ("iss", json!(format!("{ISS}/"))),
        ("iss", json!(ISS.to_uppercase())),
        ("iss", json!("")),
        ("iss", json!(null)),
        ("iss", json!([ISS])),
        ("aud", json!("evil.test")),
        ("aud", json!(AUD.to_uppercase())),
        ("aud", json!(["other", "evil.test"])),
        ("aud", json!([])),
        ("aud", json!("")),
        ("aud", json!(42)),
    ] {
        add(
            &format!("iss/aud: {claim} {value}"),
            bearer(&forge(&ih, &with(&ip, claim, value.clone()))),
            INVALID_TOKEN,
        );
    }
    for claim in ["iss", "aud"] {
        add(
            &format!("iss/aud: {claim} missing"),
            bearer(&forge(&ih, &without(&ip, claim))),
            INVALID_TOKEN,
        );
    }
    add(
        "iss/aud: main's token (its own iss and aud)",
        bearer(access),
        INVALID_TOKEN,
    );
    rows
}
