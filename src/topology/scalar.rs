//! How serde-saphyr (with its default options) reads an untagged YAML scalar, so that the
//! schema check accepts exactly what deserializing accepts (the tests compare the two).
//!
//! Typed targets read the scalar's text whatever its quoting: `"10"` is a valid `u32`
//! and `"true"` a valid `bool`, and a plain `10` or `yes` is valid text. Only a plain
//! null (`~`, `null`, nothing) is not text. Untagged enums see the type YAML infers:
//! there a quoted `"10"` is text and a plain `10` a number.

use granit_parser::ScalarStyle;
use serde_saphyr::granit_parser;

/// Trims what serde-saphyr trims before reading a number or a boolean.
pub fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// A plain `~`, `null`, `Null`, `NULL` or nothing.
pub fn is_null(text: &str, style: ScalarStyle) -> bool {
    style == ScalarStyle::Plain && matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML 1.1 boolean (`yes`, `on`, `y`, `true`... in any case), as serde-saphyr reads
/// booleans unless `strict_booleans` is set.
pub fn parse_bool(text: &str) -> Option<bool> {
    let t = trim(text);
    let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(&["true", "yes", "y", "on"]) {
        Some(true)
    } else if is(&["false", "no", "n", "off"]) {
        Some(false)
    } else {
        None
    }
}

/// Why a scalar is not an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotInt {
    /// Not written as an integer at all.
    Malformed,
    /// A decimal with a leading zero (`010`): YAML 1.2 has no such integers.
    LeadingZero,
    /// Negative where only unsigned numbers are read.
    Negative,
    /// An integer too large for 128 bits.
    Huge,
}

/// Reads an integer as serde-saphyr does for an integer target: optional sign, then
/// decimal (no leading zero), `0x`, `0o` or `0b`, with single `_` between digits.
/// `signed` says whether the target is signed; unsigned targets refuse any `-`.
pub fn parse_int(text: &str, signed: bool) -> Result<i128, NotInt> {
    let t = trim(text);
    let (negative, rest) = match (t.strip_prefix('-'), t.strip_prefix('+')) {
        (Some(_), _) if !signed => return Err(NotInt::Negative),
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => (false, t),
    };
    let (radix, digits) = radix_and_digits(rest);
    if radix == 10 && digits.starts_with('0') && digits != "0" {
        return Err(if digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            NotInt::LeadingZero
        } else {
            NotInt::Malformed
        });
    }
    let magnitude = digits_value(digits, radix)?;
    let magnitude = i128::try_from(magnitude).map_err(|_| NotInt::Huge)?;
    Ok(if negative { -magnitude } else { magnitude })
}

fn radix_and_digits(rest: &str) -> (u32, &str) {
    for (prefixes, radix) in [(["0x", "0X"], 16), (["0o", "0O"], 8), (["0b", "0B"], 2)] {
        if let Some(digits) = prefixes.iter().find_map(|p| rest.strip_prefix(p)) {
            return (radix, digits);
        }
    }
    (10, rest)
}

fn digits_value(digits: &str, radix: u32) -> Result<u128, NotInt> {
    let bytes = digits.as_bytes();
    let mut value: u128 = 0;
    let mut saw_digit = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let between =
                i > 0 && bytes[i - 1] != b'_' && bytes.get(i + 1).is_some_and(|&n| n != b'_');
            if !between {
                return Err(NotInt::Malformed);
            }
            continue;
        }
        let digit = char::from(b).to_digit(radix).ok_or(NotInt::Malformed)?;
        value = value
            .checked_mul(u128::from(radix))
            .and_then(|v| v.checked_add(u128::from(digit)))
            .ok_or(NotInt::Huge)?;
        saw_digit = true;
    }
    if saw_digit {
        Ok(value)
    } else {
        Err(NotInt::Malformed)
    }
}

/// The type YAML infers for a scalar, as serde-saphyr infers it for untagged enums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Inferred {
    Null,
    Bool(bool),
    /// An integer; unsigned ones are read as `u64`, negative ones as `i64`.
    Int(i128),
    /// A number with a fraction or an exponent (or `.inf`, `.nan`, or a decimal with
    /// a leading zero, which YAML 1.2 reads as a float).
    Float,
    Text,
}

/// Infers the type of an untagged scalar: quoted and block scalars are text; a plain
/// one is null, a boolean, an integer, a float, or else text.
pub fn infer(text: &str, style: ScalarStyle) -> Inferred {
    if style != ScalarStyle::Plain {
        return Inferred::Text;
    }
    if is_null(text, style) {
        return Inferred::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Inferred::Bool(b);
    }
    let t = trim(text);
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let upper_radix = matches!(unsigned.as_bytes(), [b'0', b'X' | b'O' | b'B', ..]);
    if upper_radix || matches!(unsigned, ".nan" | ".NaN" | ".NAN") && unsigned != t {
        return Inferred::Text;
    }
    if t.starts_with('-') {
        if let Ok(v) = parse_int(t, true)
            && i64::try_from(v).is_ok()
        {
            return Inferred::Int(v);
        }
    } else if let Ok(v) = parse_int(t, false)
        && u64::try_from(v).is_ok()
    {
        return Inferred::Int(v);
    }
    if is_float(t) {
        Inferred::Float
    } else {
        Inferred::Text
    }
}

/// A YAML 1.2 float as serde-saphyr recognises one when inferring types.
fn is_float(t: &str) -> bool {
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if matches!(
        unsigned,
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF"
    ) {
        return true;
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => true,
        // Overflowing literals count; Rust's `inf` and `nan` spellings do not.
        Ok(_) => unsigned.as_bytes().first().is_some_and(u8::is_ascii_digit),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Spellings whose reading by serde-saphyr the checker must predict.
    const SPELLINGS: &[&str] = &[
        "10",
        "\"10\"",
        "'10'",
        "0x10",
        "0X10",
        "0o17",
        "0b101",
        "010",
        "0",
        "-0",
        "+5",
        "-1",
        "1_000",
        "1__0",
        "_1",
        "1_",
        "0x_1",
        "1.5",
        "1e3",
        ".5",
        "1.",
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "N",
        "True",
        "tRue",
        "\"true\"",
        "null",
        "~",
        "",
        "\"\"",
        "Null",
        "NULL",
        "nUll",
        "big",
        "\"big\"",
        "|\n  10\n",
        ">\n  yes\n",
        "\" 10 \"",
        "5000000000",
        "300",
        "65536",
        "-300",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "340282366920938463463374607431768211456",
        ".inf",
        "-.inf",
        ".nan",
        "+.nan",
        "inf",
        "nan",
        "0xFF_FF",
        "0xfg",
        "1e999",
        "\"-\"",
        "+",
        "0x",
        "ipv4",
        "\"ipv4\"",
        "[]",
        "{}",
        "[1]",
        "{a: 1}",
    ];

    #[derive(Deserialize)]
    struct W<T> {
        #[allow(dead_code)]
        v: T,
    }

    fn serde_ok<T: for<'de> Deserialize<'de>>(spelling: &str) -> bool {
        serde_saphyr::from_str::<W<T>>(&format!("v: {spelling}\n")).is_ok()
    }

    /// The spelling's scalar as the parser sees it, or None for a collection.
    fn scalar(spelling: &str) -> Option<(String, ScalarStyle)> {
        let doc = format!("v: {spelling}\n");
        let events: Vec<_> = granit_parser::Parser::new_from_str(&doc)
            .map(|e| e.unwrap_or_else(|e| panic!("{spelling:?}: {e}")).0)
            .collect();
        match &events[4] {
            granit_parser::Event::Scalar(text, style, _, _) => Some((text.to_string(), *style)),
            _ => None,
        }
    }

    fn int_ok(spelling: &str, min: i128, max: i128) -> bool {
        scalar(spelling).is_some_and(|(text, style)| {
            !is_null(&text, style)
                && parse_int(&text, min < 0).is_ok_and(|v| (min..=max).contains(&v))
        })
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Untagged {
        Int(u8),
        Bool(bool),
        Text(String),
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Signed {
        Int(i64),
    }

    #[test]
    fn agrees_with_serde_saphyr() {
        for &s in SPELLINGS {
            let sc = scalar(s);
            let text_ok = sc.as_ref().is_some_and(|(t, st)| !is_null(t, *st));
            assert_eq!(text_ok, serde_ok::<String>(s), "String from {s:?}");
            let bool_ok = sc.as_ref().is_some_and(|(t, _)| parse_bool(t).is_some());
            assert_eq!(bool_ok, serde_ok::<bool>(s), "bool from {s:?}");
            assert_eq!(int_ok(s, 0, 255), serde_ok::<u8>(s), "u8 from {s:?}");
            let u32_max = i128::from(u32::MAX);
            assert_eq!(int_ok(s, 0, u32_max), serde_ok::<u32>(s), "u32 from {s:?}");
            let (lo, hi) = (i128::from(i64::MIN), i128::from(i64::MAX));
            assert_eq!(int_ok(s, lo, hi), serde_ok::<i64>(s), "i64 from {s:?}");
            let inferred = sc.as_ref().map(|(t, st)| infer(t, *st));
            let untagged_ok = match inferred {
                Some(Inferred::Int(v)) => (0..=255).contains(&v),
                Some(Inferred::Bool(_) | Inferred::Text) => true,
                _ => false,
            };
            assert_eq!(untagged_ok, serde_ok::<Untagged>(s), "untagged from {s:?}");
            let signed_ok = matches!(inferred, Some(Inferred::Int(v)) if (lo..=hi).contains(&v));
            assert_eq!(signed_ok, serde_ok::<Signed>(s), "untagged i64 from {s:?}");
        }
    }

    #[test]
    fn findings() {
        let plain = ScalarStyle::Plain;
        assert_eq!(infer("10", plain), Inferred::Int(10));
        assert_eq!(infer("10", ScalarStyle::DoubleQuoted), Inferred::Text);
        assert_eq!(infer("on", plain), Inferred::Bool(true));
        assert_eq!(infer("010", plain), Inferred::Float);
        assert_eq!(infer("0X10", plain), Inferred::Text);
        assert_eq!(parse_int("010", false), Err(NotInt::LeadingZero));
        assert_eq!(parse_int("-1", false), Err(NotInt::Negative));
        assert_eq!(parse_int(" 0x1_0 ", false), Ok(16));
        assert!(is_null("", plain) && !is_null("", ScalarStyle::SingleQuoted));
    }
}
