//! Token amounts. The escrow token has [`DECIMALS`] decimals: prices and balances are integers
//! of nano-units (like iExec's nRLC). In JSON an amount is a decimal string of nano-units
//! (`"1500000000"`); a JSON number is accepted on input.

use alloy::primitives::U256;
use serde::{Deserialize, Deserializer, Serializer};

use crate::ProtocolError;

/// Decimals of the escrow token (the devnet token has 9).
pub const DECIMALS: u32 = 9;

/// Symbol of the devnet token, accepted as a unit suffix by [`parse_amount`].
pub const SYMBOL: &str = "DCT";

/// Parses an amount: a plain integer is nano-units (`1500000000`); a number followed by `DCT`
/// is whole tokens and may have up to 9 decimals (`1.5 DCT`, `2DCT`).
pub fn parse_amount(input: &str) -> Result<U256, ProtocolError> {
    let bad = |reason| ProtocolError::BadAmount {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    let (number, whole_tokens) = match s
        .len()
        .checked_sub(SYMBOL.len())
        .filter(|&i| s.is_char_boundary(i) && s[i..].eq_ignore_ascii_case(SYMBOL))
    {
        Some(i) => (s[..i].trim_end(), true),
        None => (s, false),
    };
    let number = number.replace('_', "");
    if number.is_empty() {
        return Err(bad("no number"));
    }
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number.as_str(), ""),
    };
    if !whole_tokens && !frac.is_empty() {
        return Err(bad("nano-units are whole numbers; add DCT for token units"));
    }
    if frac.len() > DECIMALS as usize {
        return Err(bad("more than 9 decimals"));
    }
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac)) {
        return Err(bad("not a non-negative decimal number"));
    }
    let int = U256::from_str_radix(int, 10).map_err(|_| bad("too large"))?;
    if !whole_tokens {
        return Ok(int);
    }
    let scale = U256::from(10u64).pow(U256::from(DECIMALS));
    let padded = format!("{frac:0<9}");
    let frac = U256::from_str_radix(&padded, 10).map_err(|_| bad("not a number"))?;
    int.checked_mul(scale)
        .and_then(|v| v.checked_add(frac))
        .ok_or_else(|| bad("too large"))
}

/// Formats nano-units as tokens: `1500000000` → `1.5 DCT`, `0` → `0 DCT`.
pub fn format_amount(amount: U256) -> String {
    let scale = U256::from(10u64).pow(U256::from(DECIMALS));
    let int = amount / scale;
    let frac = amount % scale;
    if frac.is_zero() {
        return format!("{int} {SYMBOL}");
    }
    let frac = format!("{:0>9}", frac.to_string());
    format!("{int}.{} {SYMBOL}", frac.trim_end_matches('0'))
}

/// Serde for a [`U256`] as a decimal string (a JSON number is accepted on input).
pub mod decimal {
    use super::*;

    /// Writes the decimal string.
    pub fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Reads a decimal string or a non-negative integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Num(u64),
            Str(String),
        }
        match Repr::deserialize(d)? {
            Repr::Num(n) => Ok(U256::from(n)),
            Repr::Str(s) => {
                let t = s.trim();
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(serde::de::Error::custom(format!(
                        "invalid amount {s:?}: expected a decimal integer of nano-units"
                    )));
                }
                U256::from_str_radix(t, 10).map_err(|_| {
                    serde::de::Error::custom(format!("amount {s:?} does not fit in 256 bits"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nano_units_and_tokens() {
        assert_eq!(
            parse_amount("1500000000").unwrap(),
            U256::from(1_500_000_000u64)
        );
        assert_eq!(
            parse_amount("1.5 DCT").unwrap(),
            U256::from(1_500_000_000u64)
        );
        assert_eq!(parse_amount("2dct").unwrap(), U256::from(2_000_000_000u64));
        assert_eq!(parse_amount("0.000000001DCT").unwrap(), U256::from(1));
        assert_eq!(parse_amount("1_000").unwrap(), U256::from(1000));
        for bad in [
            "",
            "DCT",
            "-1",
            "1.5",
            "1.0000000001 DCT",
            "abc",
            "1e9",
            "1..2 DCT",
            "é",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_tokens() {
        assert_eq!(format_amount(U256::ZERO), "0 DCT");
        assert_eq!(format_amount(U256::from(1_500_000_000u64)), "1.5 DCT");
        assert_eq!(format_amount(U256::from(1u64)), "0.000000001 DCT");
        assert_eq!(
            parse_amount(&format_amount(U256::from(123_456_789_012u64))).unwrap(),
            U256::from(123_456_789_012u64)
        );
    }
}
