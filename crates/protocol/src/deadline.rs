//! The hub's deadline multipliers (iExec's): a task's deadlines are its initialization time (or
//! its consensus time, for reveals) plus a multiple of its category's reference time
//! (`workClockTimeRef`). They mirror the constants of `contracts/src/HubBase.sol`.

/// Contributions are accepted while `now < init + 7·ref`.
pub const CONTRIBUTION_DEADLINE_RATIO: u64 = 7;
/// Reveals are accepted while `now < consensus + 2·ref`.
pub const REVEAL_DEADLINE_RATIO: u64 = 2;
/// `finalize` while `now < init + 10·ref`; `claim` from then on.
pub const FINAL_DEADLINE_RATIO: u64 = 10;
