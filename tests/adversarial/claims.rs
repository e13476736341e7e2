//! Rows that change the payload: duplicate JSON keys, `exp`, `nbf`, `iat`
//! and the other required claims, issuer and audience, and the token type.

use super::*;

/// The claim rows, against the main instance.
pub(crate) fn rows(l: &Logins) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let Logins {
        access,
        refresh,
        h,
        p,
        t,
        ..
    } = l;
    let t = *t;
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::Main, req, expect));
    };

    // Duplicate JSON keys (RFC 7519 §4: reject, or take the lexically last).
    let hs = h.to_string();
    let ps = p.to_string();
    let future = t + 3600;
    let past = t - 3600;
    for (name, header, payload) in [
        (
            "header: alg HS256 then alg none",
            append_member(h, r#""alg":"none""#),
            ps.clone(),
        ),
        (
            "header: alg none then alg HS256",
            prepend_member(h, r#""alg":"none""#),
            ps.clone(),
        ),
        (
            "header: typ refresh+jwt then at+jwt",
            prepend_member(h, r#""typ":"refresh+jwt""#),
            ps.clone(),
        ),
        (
            "header: kid twice",
            append_member(h, r#""kid":"unknown""#),
            ps.clone(),
        ),
        (
            "payload: exp future then exp past",
            hs.clone(),
            append_member(&with(p, "exp", json!(future)), &format!(r#""exp":{past}"#)),
        ),
        (
            "payload: exp past then exp future",
            hs.clone(),
            append_member(&with(p, "exp", json!(past)), &format!(r#""exp":{future}"#)),
        ),
        (
            "payload: sub alice then sub root",
            hs.clone(),
            append_member(p, r#""sub":"root""#),
        ),
        (
            "payload: sub root then sub alice",
            hs.clone(),
            prepend_member(p, r#""sub":"root""#),
        ),
        (
            "payload: jti twice",
            hs.clone(),
            append_member(p, r#""jti":"00000000-0000-4000-8000-000000000000""#),
        ),
    ] {
        add(
            &format!("duplicate {name}"),
            bearer(&sign_raw(&header, &payload, SECRET.as_bytes())),
            INVALID_TOKEN,
        );
    }
    // An application claim twice: the extra claims are flattened, so this is
    // the path where a duplicate could slip through. Checked on /admin.
    let mut admin_dup = bearer(&sign_raw(
        &hs,
        &append_member(p, r#""roles":["admin"]"#),
        SECRET.as_bytes(),
    ));
    admin_dup.path = "/admin";
    add(
        "duplicate payload: roles [user] then [admin], on /admin",
        admin_dup,
        INVALID_TOKEN,
    );

    // exp.
    for (name, exp) in [
        ("exp float", "4102444800.5"),
        ("exp integral float", "4102444800.0"),
        ("exp exponent notation", "4.1e9"),
        ("exp string", "\"4102444800\""),
        ("exp 1e300", "1e300"),
        ("exp u64::MAX+1", "18446744073709551616"),
        ("exp 2^70", "1180591620717411303424"),
        ("exp negative", "-1"),
        ("exp null", "null"),
        ("exp true", "true"),
        ("exp array", "[4102444800]"),
    ] {
        let payload = append_member(&without(p, "exp"), &format!(r#""exp":{exp}"#));
        add(
            name,
            bearer(&sign_raw(&hs, &payload, SECRET.as_bytes())),
            INVALID_TOKEN,
        );
    }
    add(
        "exp missing",
        bearer(&forge(h, &without(p, "exp"))),
        INVALID_TOKEN,
    );
    add(
        "exp an hour ago",
        bearer(&forge(h, &with(p, "exp", json!(past)))),
        INVALID_TOKEN,
    );
    add(
        "exp 0",
        bearer(&forge(h, &with(p, "exp", json!(0)))),
        INVALID_TOKEN,
    );
    // Signed with the server's own key: no overflow on exp + leeway, and a
    // lifetime no issuer of ours makes is refused however it was signed.
    add(
        "exp u64::MAX (own key; no overflow, over the lifetime limit)",
        bearer(&forge(h, &with(p, "exp", json!(u64::MAX)))),
        INVALID_TOKEN,
    );
    add(
        "exp 30 days after iat (own key; over the lifetime limit)",
        bearer(&forge(
            h,
            &with(
                p,
                "exp",
                json!(p["iat"].as_u64().unwrap_or(t) + 30 * 86_400),
            ),
        )),
        INVALID_TOKEN,
    );
    add(
        "iat an hour ahead (own key)",
        bearer(&forge(
            h,
            &with(
                &with(&with(p, "iat", json!(future)), "nbf", json!(t)),
                "exp",
                json!(future + 60),
            ),
        )),
        INVALID_TOKEN,
    );
    add(
        "sub empty (own key)",
        bearer(&forge(h, &with(p, "sub", json!("")))),
        INVALID_TOKEN,
    );

    // nbf, iat and the other required claims.
    for (name, claim, value) in [
        ("nbf an hour ahead", "nbf", json!(future)),
        ("nbf u64::MAX", "nbf", json!(u64::MAX)),
        ("nbf string", "nbf", json!(t.to_string())),
        ("nbf float", "nbf", json!(t as f64 - 0.5)),
        ("iat string", "iat", json!(t.to_string())),
        ("iat negative", "iat", json!(-1)),
        ("jti not a uuid", "jti", json!("1")),
        ("sid not a uuid", "sid", json!("../../x")),
        ("sub number", "sub", json!(42)),
        ("sub null", "sub", json!(null)),
        ("roles string", "roles", json!("admin")),
    ] {
        add(
            name,
            bearer(&forge(h, &with(p, claim, value))),
            INVALID_TOKEN,
        );
    }
    for claim in ["iat", "jti", "sid", "sub"] {
        add(
            &format!("{claim} missing"),
            bearer(&forge(h, &without(p, claim))),
            INVALID_TOKEN,
        );
    }
    add(
        "payload is a JSON array",
        bearer(&forge(h, &json!([p.clone()]))),
        INVALID_TOKEN,
    );
    add(
        "header is a JSON string",
        bearer(&sign_raw("\"HS256\"", &ps, SECRET.as_bytes())),
        INVALID_TOKEN,
    );

    // iss/aud: the example server sets and requires both (`--issuer`,
    // `--audience`, with defaults); a token naming anything else is refused.
    let iss = p["iss"].as_str().unwrap_or("https://example.invalid");
    let aud = p["aud"].as_str().unwrap_or("example.invalid");
    for (name, claims) in [
        (
            "iss differs from the server's",
            with(p, "iss", json!(format!("{iss}.evil"))),
        ),
        ("iss missing", without(p, "iss")),
        (
            "aud differs from the server's",
            with(p, "aud", json!(format!("{aud}.evil"))),
        ),
        ("aud missing", without(p, "aud")),
    ] {
        add(name, bearer(&forge(h, &claims)), INVALID_TOKEN);
    }

    // Type confusion both ways.
    add(
        "refresh token as bearer on /profile",
        bearer(refresh),
        INVALID_TOKEN,
    );
    add(
        "access token in the /auth/refresh body",
        refresh_body(access),
        REFRESH_REFUSED,
    );
    add(
        "access token in the refresh cookie",
        refresh_cookie(access),
        REFRESH_REFUSED,
    );
    rows
}
