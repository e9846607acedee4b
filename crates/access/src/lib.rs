//! The pool's security model as pure logic, after XtremWeb-HEP: what a user's **right** lets it
//! do, what an object's **access bits** let each relation do with it, and where **confinement**
//! lets apps, data and jobs go. No I/O: the scheduler asks these functions, and the tests (and
//! the tables of `docs/pool-security.md`, generated from them) check every combination.
//!
//! ```
//! use decloud_access::{Action, Mode, Perm, Relation, Right};
//! assert!(Right::Standard.allows(Action::SubmitJob));
//! assert!(!Right::Standard.allows(Action::InsertUser));
//! let mode = Mode::parse("750").unwrap();
//! assert!(mode.allows(Relation::GroupMember, Perm::Read));
//! assert!(!mode.allows(Relation::Other, Perm::Read));
//! ```

mod bits;
mod confinement;
mod rights;

pub use bits::{Mode, Perm, Relation, change_mode, relation_of};
pub use confinement::{
    Datum, DatumKind, Job, Placement, Principal, Visibility, Worker, may_read, may_run, may_submit,
    may_use_datum,
};
pub use rights::{Action, Right, WorkerAction, WorkerRequest, worker_may};

/// Why the model refuses something; each message says what would be allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// Access bits that are not three octal digits.
    #[error("access bits {0:?} are not three octal digits (e.g. 755, 750, 700)")]
    BadMode(String),
    /// A right name nobody knows.
    #[error(
        "unknown right {0:?}: use one of none, visitor, standard, advanced, administrator, worker"
    )]
    UnknownRight(String),
    /// Only the owner or an administrator changes an object's access bits.
    #[error("only the object's owner or an administrator changes its access bits")]
    NotOwner,
    /// Only an administrator widens access bits.
    #[error(
        "access bits {from:o} -> {to:o} widen what someone may do: only an administrator may widen them"
    )]
    Widening {
        /// The bits before.
        from: u16,
        /// The bits asked for.
        to: u16,
    },
}
