//! Rows against the RS256 and ES256 instances: HS256 tokens signed with
//! their public keys (algorithm confusion), `alg` none, and another
//! server's token.

use super::*;

/// The key-confusion rows against `rsa` and `ec`; `access` is the main
/// instance's token, which neither may accept.
pub(crate) async fn rows(rsa: &Instance, ec: &Instance, access: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    // HS256 signed with the public key of an RS256 / ES256 server.
    for (target, instance, public_pem) in [
        (Target::Rsa, rsa, key_file("rsa2048.pub.pem")),
        (Target::Ec, ec, key_file("es256.pub.pem")),
    ] {
        let (tok, _) = instance.login("alice", "alice-password").await;
        let (th, tp) = parts(&tok);
        let jwks = instance.client.get("/.well-known/jwks.json", None).await;
        assert_eq!(jwks.status, 200);
        let jwks_text = jwks.json.to_string();
        let jwk_text = jwks.json["keys"][0].to_string();
        let pem = std::fs::read(&public_pem).expect("public pem");
        let hs = with(&th, "alg", json!("HS256"));
        let alg = th["alg"].as_str().expect("alg").to_owned();
        let mut add = |name: String, req: Req, expect: Expect| {
            rows.push(row(name, target, req, expect));
        };
        add(
            format!("control: {alg} login token"),
            bearer(&tok),
            ok("alice"),
        );
        for (what, secret) in [
            ("the public PEM", pem.clone()),
            (
                "the public PEM without its newline",
                pem.trim_ascii_end().to_vec(),
            ),
            ("the JWKS document", jwks_text.into_bytes()),
            ("the JWK", jwk_text.into_bytes()),
        ] {
            add(
                format!("{alg} server, HS256 token signed with {what}"),
                bearer(&sign_raw(&hs.to_string(), &tp.to_string(), &secret)),
                INVALID_TOKEN,
            );
        }
        add(
            format!("{alg} server, HS256 signed with the PEM, no kid"),
            bearer(&sign_raw(
                &without(&hs, "kid").to_string(),
                &tp.to_string(),
                &pem,
            )),
            INVALID_TOKEN,
        );
        add(
            format!("{alg} server, alg none"),
            bearer(&unsigned(&with(&th, "alg", json!("none")), &tp)),
            INVALID_TOKEN,
        );
        add(
            format!("{alg} server, main's HS256 token"),
            bearer(access),
            INVALID_TOKEN,
        );
    }
    rows
}
