//! The little DER this crate reads and writes: the key structures of PKCS#8,
//! SEC1, PKCS#1 and X.509 `SubjectPublicKeyInfo`. Only definite lengths
//! within the input are read; nothing recurses, so no input nests deeper
//! than the structures the callers walk.

/// `SEQUENCE`.
pub(crate) const SEQUENCE: u8 = 0x30;
/// `INTEGER`.
pub(crate) const INTEGER: u8 = 0x02;
/// `BIT STRING`.
pub(crate) const BIT_STRING: u8 = 0x03;
/// `OCTET STRING`.
pub(crate) const OCTET_STRING: u8 = 0x04;
/// `OBJECT IDENTIFIER`.
pub(crate) const OID: u8 = 0x06;
/// `[0]`, constructed (explicit).
pub(crate) const CONTEXT_0: u8 = 0xa0;
/// `[1]`, constructed (explicit).
pub(crate) const CONTEXT_1: u8 = 0xa1;

/// Reads DER elements one after the other.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(der: &'a [u8]) -> Reader<'a> {
        Reader { rest: der }
    }

    /// Whether every element was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, without reading it.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element: its tag and its contents.
    pub(crate) fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            // Long form; 0x80 (indefinite) is not DER.
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |len, b| (len << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        self.rest = rest;
        Some((tag, contents))
    }

    /// The contents of the next element, if it has this tag; nothing is
    /// read otherwise.
    pub(crate) fn take(&mut self, tag: u8) -> Option<&'a [u8]> {
        if self.peek() != Some(tag) {
            return None;
        }
        self.any().map(|(_, contents)| contents)
    }

    /// The next element as a reader of its contents, if it is a `SEQUENCE`.
    pub(crate) fn sequence(&mut self) -> Option<Reader<'a>> {
        self.take(SEQUENCE).map(Reader::new)
    }

    /// A non-negative `INTEGER`, big-endian, without leading zeros.
    pub(crate) fn unsigned(&mut self) -> Option<&'a [u8]> {
        let value = self.take(INTEGER)?;
        if value.first().is_some_and(|b| b & 0x80 != 0) {
            return None;
        }
        Some(&value[value.iter().take_while(|b| **b == 0).count()..])
    }

    /// A small non-negative `INTEGER` (a version number).
    pub(crate) fn small(&mut self) -> Option<u32> {
        let value = self.unsigned()?;
        if value.len() > 2 {
            return None;
        }
        Some(value.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)))
    }

    /// A `BIT STRING` of whole bytes.
    pub(crate) fn bits(&mut self) -> Option<&'a [u8]> {
        match self.take(BIT_STRING)? {
            [0, bytes @ ..] => Some(bytes),
            _ => None,
        }
    }
}

/// A DER tag-length-value.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A non-negative `INTEGER` from big-endian bytes (leading zeros dropped,
/// one added where the first bit would read as a sign).
pub(crate) fn unsigned(value: &[u8]) -> Vec<u8> {
    let value = &value[value.iter().take_while(|b| **b == 0).count()..];
    let mut content = Vec::with_capacity(value.len() + 1);
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(value);
    let out = tlv(INTEGER, &content);
    content.iter_mut().for_each(|b| *b = 0);
    out
}

/// The exact bit length of a big-endian unsigned integer (a modulus of
/// 2041 bits is 256 bytes long, yet under 2048 bits).
pub(crate) fn bit_length(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// The dotted form of an object identifier's contents (`1.3.132.0.10`),
/// for messages.
pub(crate) fn dotted(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for b in oid {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
        if value > u64::MAX >> 7 {
            return "an overlong OID".into();
        }
    }
    let text: Vec<String> = arcs.iter().map(u64::to_string).collect();
    text.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_integers_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let der = tlv(OCTET_STRING, &content);
            let mut r = Reader::new(&der);
            assert_eq!(r.take(OCTET_STRING), Some(&content[..]), "{len}");
            assert!(r.is_empty());
        }
        for value in [&[][..], &[0], &[0x7f], &[0x80], &[0, 0, 0x80, 1]] {
            let der = unsigned(value);
            let trimmed = &value[value.iter().take_while(|b| **b == 0).count()..];
            assert_eq!(Reader::new(&der).unsigned(), Some(trimmed), "{value:?}");
        }
    }

    #[test]
    fn truncated_indefinite_and_negative_inputs_are_refused() {
        assert!(Reader::new(&[0x30]).any().is_none());
        assert!(Reader::new(&[0x30, 0x02, 0x01]).any().is_none());
        assert!(Reader::new(&[0x30, 0x80, 0x00, 0x00]).any().is_none());
        assert!(Reader::new(&[0x30, 0x85, 1, 0, 0, 0, 0]).any().is_none());
        assert!(Reader::new(&[0x02, 0x01, 0x80]).unsigned().is_none());
        assert_eq!(
            dotted(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            "1.2.840.10045.2.1"
        );
        assert_eq!(dotted(&[0x2b, 0x81, 0x04, 0x00, 0x0a]), "1.3.132.0.10");
    }
}
