//! A task's status on the hub (`Hub.sol`'s `STATUS_*` constants, `TaskView.status`).

use serde::{Deserialize, Serialize};

named_enum!(
    /// Where a task stands on chain. The discriminants are the hub's `uint8` codes, and the order
    /// is the task's progress: a status at or past [`TaskStatus::Revealing`] has reached consensus.
    #[derive(
        Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
    )]
    #[serde(rename_all = "lowercase")]
    #[repr(u8)]
    pub enum TaskStatus ("task status", expected "unset, active, revealing, completed or failed") {
        /// Not initialized yet (the first authorized contribution may initialize it).
        #[default]
        Unset = 0 => "unset",
        /// Initialized, accepting contributions.
        Active = 1 => "active",
        /// Consensus reached, reveals open.
        Revealing = 2 => "revealing",
        /// Finalized: the result is certified and everybody is paid.
        Completed = 3 => "completed",
        /// Claimed after its final deadline: the requester was refunded.
        Failed = 4 => "failed",
    }
);

impl TaskStatus {
    /// The status of hub code `code`; `None` for a code the hub doesn't use.
    pub fn from_u8(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The hub's code.
    pub const fn as_u8(self) -> u8 {
        self as u8
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
