//! The login request body, read within bounds: the username, the password,
//! `cookieOnly` (or `cookie_only`), and the application's extra fields, whose number, nesting
//! and total size are capped while they are parsed (never buffered whole
//! first), so a body of 16 KiB costs about 16 KiB however it is shaped.

use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::body::OWN_MESSAGE;

/// The most extra fields (besides `username`, `password` and `cookieOnly`)
/// a login body may carry: 16.
pub const MAX_EXTRA_FIELDS: usize = 16;
/// The deepest nesting of an extra field's value: 4 (a field holding an
/// object holding an array holding a scalar is 3).
pub const MAX_EXTRA_DEPTH: usize = 4;
/// The most JSON values the extra fields hold in all, nested ones counted:
/// 256.
pub const MAX_EXTRA_VALUES: usize = 256;

/// A login body.
#[cfg_attr(test, derive(Debug))]
pub(crate) struct LoginBody {
    pub(crate) username: String,
    pub(crate) password: String,
    /// Deliver the refresh token in the cookie only, never in the body.
    pub(crate) cookie_only: bool,
    /// Everything else, for the verifier.
    pub(crate) extra: Map<String, Value>,
}

fn too_large<E: de::Error>(what: fmt::Arguments<'_>) -> E {
    E::custom(format_args!(
        "{OWN_MESSAGE}the extra fields of the login body {what}"
    ))
}

impl<'de> Deserialize<'de> for LoginBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(LoginVisitor)
    }
}

struct LoginVisitor;

impl<'de> Visitor<'de> for LoginVisitor {
    type Value = LoginBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a login object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LoginBody, A::Error> {
        let (mut username, mut password, mut cookie_only) = (None, None, None);
        let mut extra = Map::new();
        let budget = Cell::new(MAX_EXTRA_VALUES);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "username" => set(&mut username, "username", map.next_value()?)?,
                "password" => set(&mut password, "password", map.next_value()?)?,
                // Also in the OAuth 2.0 spelling, as the refresh body takes
                // `refresh_token`: a browser client written with those names
                // must not get the refresh token in the body for a typo's sake.
                "cookieOnly" | "cookie_only" => {
                    set(&mut cookie_only, "cookieOnly", map.next_value()?)?;
                }
                _ => {
                    if extra.len() == MAX_EXTRA_FIELDS {
                        return Err(too_large(format_args!("are more than {MAX_EXTRA_FIELDS}")));
                    }
                    let value = map.next_value_seed(Bounded {
                        budget: &budget,
                        depth: 1,
                    })?;
                    if extra.insert(key, value).is_some() {
                        return Err(too_large(format_args!("name one field twice")));
                    }
                }
            }
        }
        Ok(LoginBody {
            username: username.ok_or_else(|| de::Error::missing_field("username"))?,
            password: password.ok_or_else(|| de::Error::missing_field("password"))?,
            cookie_only: cookie_only.unwrap_or(false),
            extra,
        })
    }
}

fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// A JSON value counted against the shared `budget` of values, at most
/// [`MAX_EXTRA_DEPTH`] deep.
#[derive(Clone, Copy)]
struct Bounded<'a> {
    budget: &'a Cell<usize>,
    depth: usize,
}

impl Bounded<'_> {
    /// Counts one value.
    fn take<E: de::Error>(self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(too_large(format_args!(
                "hold more than {MAX_EXTRA_VALUES} values"
            ))),
        }
    }

    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_EXTRA_DEPTH {
            return Err(too_large(format_args!(
                "are nested more than {MAX_EXTRA_DEPTH} deep"
            )));
        }
        Ok(Bounded {
            budget: self.budget,
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.take()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.take()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.take()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.take()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.take()?;
        let inner = self.deeper()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.take()?;
        let inner = self.deeper()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LoginBody, String> {
        crate::body::parse_json::<LoginBody>(json.as_bytes())
            .map_err(|e| e.description().to_owned())
    }

    #[test]
    fn the_login_fields_and_the_extras_are_read() {
        let b = parse(
            r#"{"username":"alice","password":"p","cookieOnly":true,"tenant":"acme","otp":123456,"ctx":{"a":[1,2.5,null,false]}}"#,
        )
        .unwrap();
        assert_eq!((b.username.as_str(), b.password.as_str()), ("alice", "p"));
        assert!(b.cookie_only);
        assert_eq!(b.extra["tenant"], "acme");
        assert_eq!(b.extra["otp"], 123456);
        assert_eq!(b.extra["ctx"]["a"][1], 2.5);
        assert!(
            !parse(r#"{"username":"a","password":"p"}"#)
                .unwrap()
                .cookie_only
        );
    }

    #[test]
    fn extras_past_their_bounds_are_refused_in_our_own_words() {
        let zeros = format!(
            r#"{{"username":"a","password":"p","pad":[{}0]}}"#,
            "0,".repeat(MAX_EXTRA_VALUES)
        );
        let e = parse(&zeros).unwrap_err();
        assert!(e.contains("more than 256 values"), "{e}");
        let deep = r#"{"username":"a","password":"p","x":[[[[1]]]]}"#;
        assert!(parse(deep).unwrap_err().contains("nested"));
        assert!(parse(r#"{"username":"a","password":"p","x":[[[1]]]}"#).is_ok());
        let many: String = (0..=MAX_EXTRA_FIELDS)
            .map(|i| format!(r#","f{i}":1"#))
            .collect();
        let e = parse(&format!(r#"{{"username":"a","password":"p"{many}}}"#)).unwrap_err();
        assert!(e.contains("more than 16"), "{e}");
        let e = parse(r#"{"username":"a","password":"p","SECRET":1,"SECRET":2}"#).unwrap_err();
        assert!(e.contains("twice") && !e.contains("SECRET"), "{e}");
        let e = parse(r#"{"username":"a","username":"b","password":"p"}"#).unwrap_err();
        assert!(e.contains("duplicate field `username`"), "{e}");
        let e = parse(r#"{"username":"a"}"#).unwrap_err();
        assert!(e.contains("missing field `password`"), "{e}");
    }

    #[test]
    fn cookie_only_is_read_in_both_spellings_and_only_once() {
        let b = parse(r#"{"username":"a","password":"p","cookie_only":true}"#).unwrap();
        assert!(b.cookie_only);
        assert!(b.extra.is_empty(), "{:?}", b.extra);
        let e = parse(r#"{"username":"a","password":"p","cookieOnly":false,"cookie_only":true}"#)
            .unwrap_err();
        assert!(e.contains("duplicate field `cookieOnly`"), "{e}");
    }
}
