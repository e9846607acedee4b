//! A task's status on the hub (`Hub.sol`'s `STATUS_*` constants, `TaskView.status`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ProtocolError;

/// Where a task stands on chain. The discriminants are the hub's `uint8` codes, and the order
/// is the task's progress: a status at or past [`TaskStatus::Revealing`] has reached consensus.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum TaskStatus {
    /// Not initialized yet (the first authorized contribution may initialize it).
    #[default]
    Unset = 0,
    /// Initialized, accepting contributions.
    Active = 1,
    /// Consensus reached, reveals open.
    Revealing = 2,
    /// Finalized: the result is certified and everybody is paid.
    Completed = 3,
    /// Claimed after its final deadline: the requester was refunded.
    Failed = 4,
}

impl TaskStatus {
    /// Every status, by code.
    pub const ALL: [TaskStatus; 5] = [
        Self::Unset,
        Self::Active,
        Self::Revealing,
        Self::Completed,
        Self::Failed,
    ];

    /// The status of hub code `code`; `None` for a code the hub doesn't use.
    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The hub's code.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name stored in databases and sent over the APIs: `unset`, `active`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Active => "active",
            Self::Revealing => "revealing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// The protocol's name, as the contracts and the docs spell it: `UNSET`, `ACTIVE`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unset => "UNSET",
            Self::Active => "ACTIVE",
            Self::Revealing => "REVEALING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
        }
    }

    /// Whether the task is over (completed or failed).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = ProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ProtocolError::UnknownTaskStatus {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Solidity source that defines the codes.
    const HUB_BASE_SOL: &str = include_str!("../../../contracts/src/HubBase.sol");

    #[test]
    fn codes_are_the_hubs() {
        for status in TaskStatus::ALL {
            let declaration = format!(
                "uint8 public constant STATUS_{} = {};",
                status.name(),
                status.as_u8()
            );
            assert!(
                HUB_BASE_SOL.contains(&declaration),
                "{declaration} not in HubBase.sol"
            );
            assert_eq!(TaskStatus::from_u8(status.as_u8()), Some(status));
            assert_eq!(status.as_str().parse::<TaskStatus>().unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
        assert_eq!(TaskStatus::from_u8(5), None);
        assert!("nope".parse::<TaskStatus>().is_err());
        assert!(TaskStatus::Completed > TaskStatus::Revealing);
    }
}
