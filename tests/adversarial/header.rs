//! Rows that change the header: `alg`, `kid`, `typ`, key indirections and
//! critical extensions, after the controls that must pass.

use super::*;

/// The header rows, against the main instance.
pub(crate) fn rows(l: &Logins) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let Logins {
        access, h, p, t, ..
    } = l;
    let t = *t;
    let mut add = |name: &str, req: Req, expect: Expect| {
        rows.push(row(name, Target::Main, req, expect));
    };

    // Controls: these must pass, or the refusals below prove nothing.
    add(
        "control: the login's access token",
        bearer(access),
        ok("alice"),
    );
    add("control: re-signed copy", bearer(&forge(h, p)), ok("alice"));
    add(
        "control: lower-case scheme",
        authz(format!("bearer {access}")),
        ok("alice"),
    );
    add(
        "control: nbf in the past",
        bearer(&forge(h, &with(p, "nbf", json!(t - 60)))),
        ok("alice"),
    );

    // alg none, in every spelling, unsigned and signed.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let hn = with(h, "alg", json!(alg));
        add(
            &format!("alg {alg}, no signature"),
            bearer(&unsigned(&hn, p)),
            INVALID_TOKEN,
        );
        add(
            &format!("alg {alg}, HMAC signature"),
            bearer(&forge(&hn, p)),
            INVALID_TOKEN,
        );
    }
    add(
        "alg none, no kid, no signature",
        bearer(&unsigned(
            &without(&with(h, "alg", json!("none")), "kid"),
            p,
        )),
        INVALID_TOKEN,
    );
    for alg in [json!("hs256"), json!("HS256 "), json!("HS512"), json!(null)] {
        add(
            &format!("alg {alg}"),
            bearer(&forge(&with(h, "alg", alg.clone()), p)),
            INVALID_TOKEN,
        );
    }
    add(
        "alg missing",
        bearer(&forge(&without(h, "alg"), p)),
        INVALID_TOKEN,
    );

    // kid.
    for kid in [
        json!("unknown-kid"),
        json!("../../etc/passwd"),
        json!("/dev/null"),
        json!("' OR '1'='1"),
        json!(""),
        json!(null),
        json!(42),
    ] {
        add(
            &format!("kid {kid}"),
            bearer(&forge(&with(h, "kid", kid.clone()), p)),
            INVALID_TOKEN,
        );
    }
    add(
        "kid missing",
        bearer(&forge(&without(h, "kid"), p)),
        INVALID_TOKEN,
    );

    // typ.
    for typ in [json!("JWT"), json!("refresh+jwt"), json!(""), json!(null)] {
        add(
            &format!("typ {typ}"),
            bearer(&forge(&with(h, "typ", typ.clone()), p)),
            INVALID_TOKEN,
        );
    }
    add(
        "typ missing",
        bearer(&forge(&without(h, "typ"), p)),
        INVALID_TOKEN,
    );

    // Key indirections and critical extensions (RFC 8725 §3.10, RFC 7515 §4.1.11).
    let jwk = json!({"kty": "oct", "k": b64(SECRET.as_bytes())});
    for (name, value) in [
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", jwk),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("crit", json!([])),
        ("b64", json!(false)),
    ] {
        add(
            &format!("header {name}: {value}"),
            bearer(&forge(&with(h, name, value.clone()), p)),
            INVALID_TOKEN,
        );
    }
    rows
}
