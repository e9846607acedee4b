//! Tags: a `bytes32` bitmap of requirements. Bit 0 is TEE, bit 1 random selection (the deal's
//! workers are drawn by a beacon round, not picked by the scheduler: docs/randomness.md); a
//! workerpool order must offer every bit the app, dataset and request orders ask for
//! (`required & !offered == 0`).

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{B256, U256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ProtocolError;

/// The named bits, in bit order.
const NAMES: [(&str, usize); 2] = [("tee", 0), ("random", 1)];

/// The name of a whole spot-check byte (0xff: every q covered).
const SPOT_CHECKS: &str = "spot-checks";

/// A set of requirements: a 256-bit bitmap, as the contracts store it.
///
/// In JSON it is a list of names (`["tee"]`, unknown bits as `"bit<N>"`); it also reads a
/// `0x`-prefixed 32-byte hex bitmap, or a single comma-separated string (`"tee"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub B256);

impl Tag {
    /// No requirement.
    pub const NONE: Tag = Tag(B256::ZERO);
    /// Bit 0: the task must run in a trusted execution environment.
    pub const TEE: Tag = Tag(B256::new([
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 1,
    ]));

    /// Bit 1: random selection. The hub refuses the scheduler's authorizations for such a deal;
    /// its workers prove their drawn positions (`HubSelection.contributeDrawn`).
    pub const RANDOM: Tag = Tag(B256::new([
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 2,
    ]));

    /// The tag with only bit `bit` set.
    pub fn bit(bit: u8) -> Tag {
        Tag(B256::from(U256::from(1u8) << bit))
    }

    /// Whether bit `bit` is set.
    pub fn has_bit(&self, bit: u8) -> bool {
        U256::from_be_bytes(self.0.0).bit(bit as usize)
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.0 == B256::ZERO
    }

    /// Whether the TEE bit is set.
    pub fn is_tee(&self) -> bool {
        self.has_bit(0)
    }

    /// Whether the random-selection bit is set.
    pub fn is_random(&self) -> bool {
        self.has_bit(1)
    }

    /// Every bit of either tag.
    pub fn union(self, other: Tag) -> Tag {
        Tag(self.0 | other.0)
    }

    /// Whether `self` (offered, e.g. by a workerpool order) covers every bit of `required`.
    pub fn covers(&self, required: Tag) -> bool {
        (required.0 & !self.0) == B256::ZERO
    }

    /// The set bits, low to high.
    pub fn bits(&self) -> Vec<u8> {
        let v = U256::from_be_bytes(self.0.0);
        (0..=255u8).filter(|&b| v.bit(b as usize)).collect()
    }

    /// Names of the set bits: `tee`, `random`, or `bit<N>` for bits without a name; the
    /// spot-check byte (bits 16–23, [`crate::spot`]) is one name: `spot-checks` when all its
    /// bits are set (what a workerpool order offering spot checks carries), else `spot<q>`.
    pub fn names(&self) -> Vec<String> {
        let spot = crate::spot::spot_byte(*self);
        let in_spot = |b: u8| (16..24).contains(&(b as usize));
        let mut out: Vec<String> = Vec::new();
        for b in self.bits() {
            if in_spot(b) {
                if b as usize == crate::spot::TAG_SPOT_SHIFT + spot.trailing_zeros() as usize {
                    out.push(match spot {
                        0xff => SPOT_CHECKS.to_string(),
                        q => format!("spot{q}"),
                    });
                }
                continue;
            }
            out.push(match NAMES.iter().find(|(_, bit)| *bit == b as usize) {
                Some((name, _)) => (*name).to_string(),
                None => format!("bit{b}"),
            });
        }
        out
    }

    /// Parses one name: `tee`, `random`, `spot-checks` (the whole spot-check byte: a pool
    /// offering audits of any probability), `spot<q>` (q = 1..255, audits with probability
    /// q/256), `bit<N>`, or a `0x` 32-byte hex bitmap (case-insensitive).
    pub fn from_name(name: &str) -> Result<Tag, ProtocolError> {
        let trimmed = name.trim();
        let lower = trimmed.to_ascii_lowercase();
        if let Some((_, bit)) = NAMES.iter().find(|(n, _)| *n == lower) {
            return Ok(Tag::bit(*bit as u8));
        }
        if lower == SPOT_CHECKS {
            return Ok(crate::spot::with_spot_byte(Tag::NONE, 0xff));
        }
        if let Some(q) = lower.strip_prefix("spot")
            && let Ok(q) = q.parse::<u8>()
            && q != 0
        {
            return Ok(crate::spot::with_spot_byte(Tag::NONE, q));
        }
        if let Some(n) = lower.strip_prefix("bit")
            && let Ok(b) = n.parse::<u8>()
        {
            return Ok(Tag::bit(b));
        }
        if lower.starts_with("0x")
            && let Ok(b) = trimmed.parse::<B256>()
        {
            return Ok(Tag(b));
        }
        Err(ProtocolError::UnknownTag {
            name: name.to_string(),
        })
    }

    /// Parses names and unions them; the empty list is [`Tag::NONE`].
    pub fn from_names<I, S>(names: I) -> Result<Tag, ProtocolError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        names.into_iter().try_fold(Tag::NONE, |acc, n| {
            Ok(acc.union(Tag::from_name(n.as_ref())?))
        })
    }
}

impl FromStr for Tag {
    type Err = ProtocolError;

    /// `""` or `"none"` is no tag; otherwise comma-separated names (`"tee"`, `"tee,bit3"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(Tag::NONE);
        }
        Tag::from_names(s.split(','))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().join(","))
    }
}

impl From<B256> for Tag {
    fn from(b: B256) -> Self {
        Tag(b)
    }
}

impl From<Tag> for B256 {
    fn from(t: Tag) -> Self {
        t.0
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            List(Vec<String>),
            One(String),
        }
        match Repr::deserialize(deserializer)? {
            Repr::List(names) => Tag::from_names(names),
            Repr::One(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tee_is_bit_zero_like_the_contracts_tag_tee() {
        assert_eq!(Tag::TEE, Tag::bit(0));
        assert_eq!(U256::from_be_bytes(Tag::TEE.0.0), U256::from(1));
        assert!(Tag::TEE.is_tee());
        assert_eq!("tee".parse::<Tag>().unwrap(), Tag::TEE);
        assert_eq!("TEE".parse::<Tag>().unwrap(), Tag::TEE);
    }

    #[test]
    fn names_round_trip() {
        let t: Tag = "tee,bit7".parse().unwrap();
        assert_eq!(t.names(), vec!["tee", "bit7"]);
        assert_eq!(t.to_string().parse::<Tag>().unwrap(), t);
        assert_eq!("none".parse::<Tag>().unwrap(), Tag::NONE);
        assert_eq!(Tag::NONE.to_string(), "none");
        let hex = "0x0000000000000000000000000000000000000000000000000000000000000081";
        assert_eq!(hex.parse::<Tag>().unwrap(), t);
        assert!(matches!(
            "gpu".parse::<Tag>(),
            Err(ProtocolError::UnknownTag { .. })
        ));
        assert!("bit256".parse::<Tag>().is_err());
        let r: Tag = "random".parse().unwrap();
        assert_eq!(r, Tag::RANDOM);
        assert_eq!(r, Tag::bit(1));
        assert!(r.is_random() && !r.is_tee());
        assert_eq!(
            "tee,random".parse::<Tag>().unwrap().names(),
            vec!["tee", "random"]
        );
    }

    #[test]
    fn the_spot_check_byte_is_one_name() {
        let offered: Tag = "random,spot-checks".parse().unwrap();
        assert_eq!(crate::spot::spot_byte(offered), 0xff);
        assert_eq!(offered.names(), vec!["random", "spot-checks"]);
        let asked: Tag = "random,spot77".parse().unwrap();
        assert_eq!(crate::spot::spot_byte(asked), 77);
        assert_eq!(asked.names(), vec!["random", "spot77"]);
        assert_eq!(asked.to_string().parse::<Tag>().unwrap(), asked);
        assert!(
            offered.covers(asked),
            "a pool offering spot checks covers any q"
        );
        assert!(!Tag::RANDOM.covers(asked));
        assert!("spot0".parse::<Tag>().is_err());
    }

    #[test]
    fn covers_is_the_contracts_rule() {
        let pool = Tag::TEE.union(Tag::bit(3));
        assert!(pool.covers(Tag::TEE));
        assert!(pool.covers(Tag::NONE));
        assert!(!Tag::NONE.covers(Tag::TEE));
        assert!(!pool.covers(Tag::bit(4)));
    }

    #[test]
    fn json_is_a_list_of_names_and_accepts_hex() {
        assert_eq!(serde_json::to_string(&Tag::TEE).unwrap(), r#"["tee"]"#);
        assert_eq!(serde_json::from_str::<Tag>(r#"["tee"]"#).unwrap(), Tag::TEE);
        assert_eq!(serde_json::from_str::<Tag>(r#""tee""#).unwrap(), Tag::TEE);
        assert_eq!(serde_json::from_str::<Tag>("[]").unwrap(), Tag::NONE);
        assert!(serde_json::from_str::<Tag>(r#"["fast"]"#).is_err());
    }
}
