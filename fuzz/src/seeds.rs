//! The seed corpus and the AFL++ dictionaries, generated from the fixture so
//! they carry its real `kid`s and times. `cargo run --bin replay -- seeds`
//! writes them to `corpus/` and `dict/`; a test checks they are current.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::fixture::{AUDIENCE, ISSUER, NOW, Sign, fixture, sign};

const JTI: &str = "5f0e8b8e-3c47-4a4e-9d5b-0a7d5e6c1a01";
const SID: &str = "0b8a3b1c-2d4e-4f60-8a7b-9c0d1e2f3a4b";

fn header(typ: &str, alg: &str, kid: &str) -> Value {
    json!({ "typ": typ, "alg": alg, "kid": kid })
}

fn access_payload(exp: u64) -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "exp": exp, "iat": NOW, "nbf": NOW,
        "jti": JTI, "sid": SID, "roles": ["user", "admin"], "scope": "read write",
    })
}

fn refresh_payload() -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": [AUDIENCE, "other"], "exp": NOW + 14 * 86_400,
        "iat": NOW, "nbf": NOW, "jti": JTI, "sid": SID,
    })
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON")
}

fn structured(mode: u8, header: &Value, payload: &Value) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend(bytes(header));
    out.push(b'\n');
    out.extend(bytes(payload));
    out
}

fn token(header: &Value, payload: &Value, how: Sign) -> String {
    sign(&bytes(header), &bytes(payload), how)
}

/// Every seed: (target, file name, contents).
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let f = fixture();
    let (hs, es) = (f.hs_kid.as_str(), f.es_kid.as_str());
    let at = header("at+jwt", "HS256", hs);
    let rt = header("refresh+jwt", "HS256", hs);
    let live = access_payload(NOW + 900);
    let expired = access_payload(NOW - 60);
    let access = token(&at, &live, Sign::Valid);
    let refresh = token(&rt, &refresh_payload(), Sign::Valid);
    let expired_access = token(&at, &expired, Sign::Valid);
    let none = token(&header("at+jwt", "none", hs), &live, Sign::Empty);
    let mut jku = at.clone();
    jku["jku"] = json!("https://attacker.example/jwks.json");

    vec![
        ("token", "access", access.clone().into_bytes()),
        ("token", "refresh", refresh.clone().into_bytes()),
        ("token", "expired", expired_access.clone().into_bytes()),
        ("token", "alg-none", none.into_bytes()),
        ("token", "three-parts", b"a.b.c".to_vec()),
        ("resign", "access", structured(b'h', &at, &live)),
        (
            "resign",
            "refresh",
            structured(b'h', &rt, &refresh_payload()),
        ),
        (
            "resign",
            "media-type-aud-array",
            structured(b'h', &header("application/AT+JWT", "HS256", hs), &{
                let mut p = live.clone();
                p["aud"] = json!(["other", AUDIENCE]);
                p
            }),
        ),
        ("resign", "expired", structured(b'h', &at, &expired)),
        ("resign", "jku", structured(b'h', &jku, &live)),
        (
            "resign",
            "alg-confusion",
            structured(b'c', &header("at+jwt", "HS256", es), &live),
        ),
        (
            "resign",
            "alg-none",
            structured(b'n', &header("at+jwt", "none", hs), &live),
        ),
        ("resign", "wrong-secret", structured(b'w', &at, &live)),
        // Valid JSON that serde_json's `Value` cannot hold, in a claim the
        // validator ignores: accepted, and the oracle must cope.
        ("resign", "unrepresentable-number", {
            let mut s = structured(b'h', &rt, &refresh_payload());
            s.pop();
            s.extend(br#","x":1e999}"#);
            s
        }),
        ("resign", "lone-surrogates", {
            let mut s = vec![b'h'];
            s.extend(&bytes(&at)[..bytes(&at).len() - 1]);
            s.extend(br#","x":"\ud800","y":"\udc00z"}"#);
            s.push(b'\n');
            s.extend(bytes(&live));
            s
        }),
        ("bearer", "valid", format!("Bearer {access}").into_bytes()),
        (
            "bearer",
            "lowercase",
            format!("bearer {access}").into_bytes(),
        ),
        (
            "bearer",
            "expired",
            format!("Bearer {expired_access}").into_bytes(),
        ),
        (
            "bearer",
            "refresh",
            format!("Bearer {refresh}").into_bytes(),
        ),
        ("bearer", "basic", b"Basic dXNlcjpwYXNz".to_vec()),
        (
            "bearer",
            "two-headers",
            b"Bearer a.b.c\nBearer a.b.c".to_vec(),
        ),
        (
            "cookie",
            "valid",
            format!("access_token\naccess_token={access}").into_bytes(),
        ),
        (
            "cookie",
            "quoted-among-others",
            format!("at\ntheme=dark; at=\"{access}\"; lang=en").into_bytes(),
        ),
        ("cookie", "twice-differing", b"t\nt=1\nt=2".to_vec()),
        // A planted cookie with a byte that is not ASCII beside the token.
        ("cookie", "non-ascii-neighbour", {
            let mut s = b"at\ntheme=d\x94rk; at=".to_vec();
            s.extend(access.as_bytes());
            s
        }),
        (
            "cookie",
            "twice-same",
            format!("at\nat={refresh}\nat={refresh}").into_bytes(),
        ),
    ]
}

/// The AFL++ dictionaries: (file name, contents).
pub fn dictionaries() -> Vec<(&'static str, String)> {
    let f = fixture();
    let (hs, es) = (f.hs_kid.as_str(), f.es_kid.as_str());
    let mut json_words: Vec<String> = [
        "\"alg\"",
        "\"HS256\"",
        "\"ES256\"",
        "\"none\"",
        "\"typ\"",
        "\"at+jwt\"",
        "\"refresh+jwt\"",
        "application/",
        "\"kid\"",
        "\"jku\"",
        "\"x5u\"",
        "\"jwk\"",
        "\"x5c\"",
        "\"crit\"",
        "\"b64\"",
        "\"cty\"",
        "\"iss\"",
        "\"sub\"",
        "\"aud\"",
        "\"exp\"",
        "\"iat\"",
        "\"nbf\"",
        "\"jti\"",
        "\"sid\"",
        "\"roles\"",
        "\"scope\"",
        "\"api\"",
        "1800000000",
        "1799999995",
        "1800000005",
        "18446744073709551615",
        "-1",
        "1e3",
        "null",
        "true",
        "[]",
        "{}",
        "\\u0000",
        "\\ud800",
        "\"\"",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    json_words.extend([
        format!("\"{hs}\""),
        format!("\"{es}\""),
        format!("\"{ISSUER}\""),
        format!("\"{JTI}\""),
    ]);
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let token_words = vec![
        ".".to_owned(),
        "=".to_owned(),
        b64(&header("at+jwt", "HS256", hs).to_string()),
        b64(&header("refresh+jwt", "HS256", hs).to_string()),
        b64(&header("at+jwt", "none", hs).to_string()),
        b64(&header("at+jwt", "HS256", es).to_string()),
        b64(&access_payload(NOW + 900).to_string()),
        "eyJ".to_owned(),
    ];
    let header_words = vec![
        "Bearer ".to_owned(),
        "bearer".to_owned(),
        "Basic ".to_owned(),
        " ".to_owned(),
        "=".to_owned(),
        "==".to_owned(),
        "; ".to_owned(),
        "\"".to_owned(),
        "\t".to_owned(),
        "\n".to_owned(),
        "access_token=".to_owned(),
        "refresh_token".to_owned(),
        "~+/-_.".to_owned(),
        token(
            &header("at+jwt", "HS256", hs),
            &access_payload(NOW + 900),
            Sign::Valid,
        ),
    ];
    vec![
        ("json.dict", dict(&json_words)),
        ("token.dict", dict(&token_words)),
        ("headers.dict", dict(&header_words)),
    ]
}

/// AFL++'s dictionary format: one `"value"` a line, `\xNN` for bytes that
/// need it.
fn dict(words: &[String]) -> String {
    let mut out = String::new();
    for w in words {
        out.push('"');
        for b in w.bytes() {
            match b {
                b'"' | b'\\' => out.push_str(&format!("\\x{b:02x}")),
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out.push_str("\"\n");
    }
    out
}
