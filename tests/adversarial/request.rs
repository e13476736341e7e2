//! Rows that change the request around a valid token: its segments,
//! whitespace, characters outside base64url, size, several `Authorization`
//! headers, and cookies beside the bearer.

use super::*;

/// The request rows, against the main instance.
pub(crate) fn rows(l: &Logins) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let Logins {
        access,
        root_access,
        root_refresh,
        h,
        p,
        ..
    } = l;
    let (hs, ps) = (h.to_string(), p.to_string());
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::Main, req, expect));
    };

    // Shape: segments.
    let (hp, sig) = access.rsplit_once('.').expect("jws");
    add(
        "4 parts: token.x",
        bearer(&format!("{access}.x")),
        INVALID_TOKEN,
    );
    add(
        "4 parts: header.payload.payload.sig",
        bearer(&format!("{hp}.{}.{sig}", b64(ps.as_bytes()))),
        INVALID_TOKEN,
    );
    add(
        "5 parts (JWE shape)",
        bearer(&format!("{access}.AAAA.BBBB")),
        INVALID_TOKEN,
    );
    add("trailing dot", bearer(&format!("{access}.")), INVALID_TOKEN);
    add("2 parts", bearer(hp), INVALID_TOKEN);
    add("1 part", bearer(&b64(hs.as_bytes())), INVALID_TOKEN);
    add("only dots", bearer(".."), INVALID_TOKEN);
    add(
        "empty payload segment",
        bearer(&format!("{}..{sig}", b64(hs.as_bytes()))),
        INVALID_TOKEN,
    );
    add("empty signature", bearer(&format!("{hp}.")), INVALID_TOKEN);

    // Whitespace. Leading/trailing whitespace around a field value is not
    // part of it (RFC 9110 §5.5), so hyper hands the layer a clean value.
    add(
        "leading space before the scheme",
        authz(format!(" Bearer {access}")),
        ok("alice"),
    );
    add(
        "trailing space after the token",
        authz(format!("Bearer {access} ")),
        ok("alice"),
    );
    add(
        "trailing tab after the token",
        authz(format!("Bearer {access}\t")),
        ok("alice"),
    );
    add(
        "two spaces after the scheme",
        authz(format!("Bearer  {access}")),
        INVALID_REQUEST,
    );
    add(
        "space inside the token",
        authz(format!("Bearer {} {}", &access[..10], &access[10..])),
        INVALID_REQUEST,
    );
    add(
        "two tokens",
        authz(format!("Bearer {access} {access}")),
        INVALID_REQUEST,
    );
    add(
        "tab between scheme and token (not the Bearer scheme)",
        authz(format!("Bearer\t{access}")),
        MISSING,
    );
    add("scheme only", authz("Bearer"), INVALID_REQUEST);
    add("scheme and a space", authz("Bearer "), INVALID_REQUEST);
    add(
        "another scheme",
        authz("Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ="),
        MISSING,
    );
    add("no Authorization", get(vec![]), MISSING);

    // Characters outside base64url.
    add(
        "'+' in the signature (b64token, not base64url)",
        bearer(&format!("{hp}.+{}", &sig[1..])),
        INVALID_TOKEN,
    );
    add(
        "'/' in the header",
        bearer(&format!("/{}", &access[1..])),
        INVALID_TOKEN,
    );
    add(
        "'=' padding after the signature",
        bearer(&format!("{access}==")),
        INVALID_TOKEN,
    );
    add(
        "'!' in the token (not a b64token)",
        bearer(&format!("{access}!")),
        INVALID_REQUEST,
    );
    add(
        "percent-encoded dot",
        bearer(&access.replacen('.', "%2E", 1)),
        INVALID_REQUEST,
    );
    add(
        "'=' in the middle",
        bearer(&format!("{hp}=.{sig}")),
        INVALID_REQUEST,
    );
    add(
        "non-ASCII byte in the token",
        authz([format!("Bearer {access}").as_bytes(), "é".as_bytes()].concat()),
        INVALID_REQUEST,
    );
    add(
        "quoted token",
        authz(format!("Bearer \"{access}\"")),
        INVALID_REQUEST,
    );

    // Size.
    add(
        "token just over 8 KiB",
        bearer(&format!("{access}{}", "A".repeat(8 * 1024))),
        INVALID_REQUEST,
    );
    for (name, size) in [("100 KB", 100 * 1024), ("1 MB", 1024 * 1024)] {
        let mut req = bearer(&format!("{access}{}", "A".repeat(size)));
        req.raw_tcp = true;
        add(&format!("{name} Authorization header"), req, CLEAN_4XX);
    }
    let mut many = get((0..2000)
        .map(|i| ("x-filler", format!("{i:0>60}").into_bytes()))
        .collect());
    many.headers
        .push(("authorization", format!("Bearer {access}").into_bytes()));
    many.raw_tcp = true;
    add(
        "2000 filler headers (~130 KB) and a valid token",
        many,
        CLEAN_4XX,
    );

    // Several Authorization headers.
    let two = |a: String, b: String| {
        get(vec![
            ("authorization", a.into()),
            ("authorization", b.into()),
        ])
    };
    add(
        "two identical Authorization headers",
        two(format!("Bearer {access}"), format!("Bearer {access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization alice then root",
        two(format!("Bearer {access}"), format!("Bearer {root_access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization Basic then Bearer",
        two("Basic YQ==".into(), format!("Bearer {access}")),
        INVALID_REQUEST,
    );
    add(
        "Authorization garbage then valid",
        two("Bearer x.y.z".into(), format!("Bearer {access}")),
        INVALID_REQUEST,
    );

    // Bearer and cookie with different tokens: bearer only, never the cookie.
    let cookies = format!(
        "access_token={root_access}; token={root_access}; jwt={root_access}; \
         auth={root_access}; refresh_token={root_refresh}"
    );
    add(
        "bearer alice, cookies carry root",
        get(vec![
            ("authorization", format!("Bearer {access}").into_bytes()),
            ("cookie", cookies.clone().into_bytes()),
        ]),
        ok("alice"),
    );
    add(
        "no bearer, cookies carry root",
        get(vec![("cookie", cookies.clone().into_bytes())]),
        MISSING,
    );
    add(
        "bad bearer, cookies carry root",
        get(vec![
            ("authorization", b"Bearer x.y.z".to_vec()),
            ("cookie", cookies.clone().into_bytes()),
        ]),
        INVALID_TOKEN,
    );
    let mut admin_by_cookie = get(vec![
        ("authorization", format!("Bearer {access}").into_bytes()),
        ("cookie", cookies.into_bytes()),
    ]);
    admin_by_cookie.path = "/admin";
    add(
        "bearer alice, root cookies, on /admin",
        admin_by_cookie,
        Expect {
            status: &[403],
            challenge: Challenge::Code("insufficient_scope"),
            body: BodyIs::Any,
        },
    );
    rows
}
