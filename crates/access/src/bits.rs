//! Access bits: every object has an owner, a group and `rwx` bits for its owner, its group's
//! members and everybody else, in octal as Unix writes them (755, 750, 700). The owner's bits
//! apply to the owner even when the group's are wider; an administrator bypasses them all.

use serde::{Deserialize, Serialize};

use crate::AccessError;

/// What a relation may do with an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Perm {
    /// See it and read its content.
    Read,
    /// Change or delete it.
    Write,
    /// Run it (an app), or use it in a job (a datum), or send it work (a worker).
    Execute,
}

impl Perm {
    /// Every permission, in `rwx` order.
    pub const ALL: [Perm; 3] = [Perm::Read, Perm::Write, Perm::Execute];

    fn bit(self) -> u16 {
        match self {
            Perm::Read => 4,
            Perm::Write => 2,
            Perm::Execute => 1,
        }
    }

    /// Its letter in `rwx`.
    pub fn letter(self) -> char {
        match self {
            Perm::Read => 'r',
            Perm::Write => 'w',
            Perm::Execute => 'x',
        }
    }
}

/// How the one who asks relates to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// It owns the object.
    Owner,
    /// It is a member of the object's group (and not its owner).
    GroupMember,
    /// Anybody else.
    Other,
    /// A pool administrator, whoever owns the object.
    Administrator,
}

impl Relation {
    /// Every relation.
    pub const ALL: [Relation; 4] = [
        Relation::Owner,
        Relation::GroupMember,
        Relation::Other,
        Relation::Administrator,
    ];
}

/// How `actor` relates to an object owned by `owner` in group `group` (`None`: no group), when
/// the actor belongs to `actor_groups` and is an administrator or not.
pub fn relation_of<U: PartialEq, G: PartialEq>(
    actor: &U,
    actor_groups: &[G],
    administrator: bool,
    owner: &U,
    group: Option<&G>,
) -> Relation {
    if administrator {
        Relation::Administrator
    } else if actor == owner {
        Relation::Owner
    } else if group.is_some_and(|g| actor_groups.contains(g)) {
        Relation::GroupMember
    } else {
        Relation::Other
    }
}

/// An object's access bits: nine bits, `rwx` for owner, group and others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mode(u16);

impl Mode {
    /// Owner only (700).
    pub const PRIVATE: Mode = Mode(0o700);
    /// Owner everything, group reads and runs (750).
    pub const GROUP: Mode = Mode(0o750);
    /// Owner everything, everybody reads and runs (755).
    pub const PUBLIC: Mode = Mode(0o755);

    /// The bits from their number (only the low nine count).
    pub fn from_bits(bits: u16) -> Mode {
        Mode(bits & 0o777)
    }

    /// The nine bits.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// Parses three octal digits (`"750"`, with or without a leading `0o` or `0`).
    pub fn parse(text: &str) -> Result<Mode, AccessError> {
        let digits = text
            .strip_prefix("0o")
            .or_else(|| (text.len() == 4).then(|| text.strip_prefix('0')).flatten())
            .unwrap_or(text);
        if digits.len() != 3 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(AccessError::BadMode(text.to_owned()));
        }
        u16::from_str_radix(digits, 8)
            .map(Mode)
            .map_err(|_| AccessError::BadMode(text.to_owned()))
    }

    /// Whether `relation` may `perm` the object.
    pub fn allows(self, relation: Relation, perm: Perm) -> bool {
        let shift = match relation {
            Relation::Administrator => return true,
            Relation::Owner => 6,
            Relation::GroupMember => 3,
            Relation::Other => 0,
        };
        self.0 >> shift & perm.bit() != 0
    }

    /// Whether every bit of `self` is also set in `other` (`self` allows nothing `other` does
    /// not).
    pub fn within(self, other: Mode) -> bool {
        self.0 & !other.0 == 0
    }

    /// `rwxr-x---` form.
    pub fn symbolic(self) -> String {
        [6, 3, 0]
            .iter()
            .flat_map(|shift| {
                Perm::ALL.map(|p| {
                    if self.0 >> shift & p.bit() != 0 {
                        p.letter()
                    } else {
                        '-'
                    }
                })
            })
            .collect()
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:03o}", self.0)
    }
}

impl TryFrom<String> for Mode {
    type Error = AccessError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Mode::parse(&text)
    }
}

impl From<Mode> for String {
    fn from(mode: Mode) -> String {
        mode.to_string()
    }
}

/// A `chmod` from `from` to `to` asked by `relation`: only the owner or an administrator, and
/// only an administrator may widen (give a relation a permission it did not have). Returns the
/// new bits.
pub fn change_mode(relation: Relation, from: Mode, to: Mode) -> Result<Mode, AccessError> {
    match relation {
        Relation::Administrator => Ok(to),
        Relation::Owner if to.within(from) => Ok(to),
        Relation::Owner => Err(AccessError::Widening {
            from: from.bits(),
            to: to.bits(),
        }),
        Relation::GroupMember | Relation::Other => Err(AccessError::NotOwner),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn octal_modes_read_as_unix_writes_them() {
        let m = Mode::parse("750").unwrap();
        assert_eq!(m.bits(), 0o750);
        assert_eq!(m.symbolic(), "rwxr-x---");
        assert_eq!(m.to_string(), "750");
        assert_eq!(Mode::parse("0750").unwrap(), m);
        assert_eq!(Mode::parse("0o750").unwrap(), m);
        for bad in ["", "75", "7500", "758", "rwx", "-750", "0x1ed"] {
            let e = Mode::parse(bad).unwrap_err();
            assert!(e.to_string().contains("three octal digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_owner_bits_apply_to_the_owner_even_when_the_group_has_more() {
        let m = Mode::parse("070").unwrap();
        assert!(!m.allows(Relation::Owner, Perm::Read));
        assert!(m.allows(Relation::GroupMember, Perm::Read));
        assert!(
            m.allows(Relation::Administrator, Perm::Write),
            "administrators bypass bits"
        );
    }

    #[test]
    fn relations_come_from_ownership_groups_and_the_administrator_right() {
        let groups = ["lab"];
        assert_eq!(
            relation_of(&"ann", &groups, false, &"ann", Some(&"lab")),
            Relation::Owner
        );
        assert_eq!(
            relation_of(&"bob", &groups, false, &"ann", Some(&"lab")),
            Relation::GroupMember
        );
        assert_eq!(
            relation_of(&"bob", &groups, false, &"ann", Some(&"ops")),
            Relation::Other
        );
        assert_eq!(
            relation_of(&"bob", &groups, false, &"ann", None),
            Relation::Other
        );
        assert_eq!(
            relation_of(&"bob", &groups, true, &"ann", None),
            Relation::Administrator
        );
    }

    proptest! {
        /// A chmod by the owner succeeds exactly when it widens nothing; by a group member or
        /// another user never; by an administrator always.
        #[test]
        fn only_administrators_widen(from in 0u16..0o1000, to in 0u16..0o1000) {
            let (from, to) = (Mode::from_bits(from), Mode::from_bits(to));
            let widens = Relation::ALL.iter().take(3).any(|r| {
                Perm::ALL.iter().any(|p| to.allows(*r, *p) && !from.allows(*r, *p))
            });
            prop_assert_eq!(change_mode(Relation::Owner, from, to).is_ok(), !widens);
            prop_assert_eq!(change_mode(Relation::Administrator, from, to), Ok(to));
            prop_assert_eq!(change_mode(Relation::GroupMember, from, to), Err(AccessError::NotOwner));
            prop_assert_eq!(change_mode(Relation::Other, from, to), Err(AccessError::NotOwner));
        }
    }
}
