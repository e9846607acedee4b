//! Rights and actions: an ordered ladder where a user of right R may do action A iff
//! 0 < A ≤ R, and the worker right beside it, which allows exactly the four things a worker
//! does and nothing of the ladder.

use serde::{Deserialize, Serialize};

use crate::AccessError;

/// What a user asks the pool to do, from the least to the most powerful. Whether it may act on
/// a given object is then up to the object's [access bits](crate::Mode) and its
/// [confinement](crate::Visibility).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[repr(u8)]
pub enum Action {
    /// List objects and read their descriptions.
    List = 1,
    /// Read an object's content (download an app, a datum, a job's result).
    Read = 2,
    /// Submit a job.
    SubmitJob = 3,
    /// Insert a datum.
    InsertData = 4,
    /// Insert an application.
    InsertApp = 5,
    /// Delete an object.
    Delete = 6,
    /// Change an object's owner group or access bits (`chgrp`, `chmod`).
    ChangeAccess = 7,
    /// Create a group.
    InsertGroup = 8,
    /// Create a user, or validate a pending identity.
    InsertUser = 9,
    /// Change a user's right.
    SetRights = 10,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 10] = [
        Action::List,
        Action::Read,
        Action::SubmitJob,
        Action::InsertData,
        Action::InsertApp,
        Action::Delete,
        Action::ChangeAccess,
        Action::InsertGroup,
        Action::InsertUser,
        Action::SetRights,
    ];

    /// Its place on the ladder (1 to 10).
    pub fn level(self) -> u8 {
        self as u8
    }

    /// Its name, as the API and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Read => "read",
            Action::SubmitJob => "submit-job",
            Action::InsertData => "insert-data",
            Action::InsertApp => "insert-app",
            Action::Delete => "delete",
            Action::ChangeAccess => "change-access",
            Action::InsertGroup => "insert-group",
            Action::InsertUser => "insert-user",
            Action::SetRights => "set-rights",
        }
    }
}

/// A user's right: the highest [`Action`] it may do (all those below too), or the worker right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Right {
    /// Nothing: a pending identity waiting for an administrator, or a disabled user.
    None,
    /// Lists and reads what the bits let it see.
    Visitor,
    /// Also submits jobs, inserts data and apps, deletes what the bits let it (XtremWeb-HEP's
    /// standard user: it inserts jobs and data, not users).
    Standard,
    /// Also changes access bits and owner groups, and creates groups.
    Advanced,
    /// Everything, and bypasses access bits.
    Administrator,
    /// A worker: it asks for work, sends heartbeats, downloads what its jobs need and uploads
    /// their results ([`WorkerAction`]); it never lists, inserts or deletes anything.
    Worker,
}

impl Right {
    /// Every right, from none to administrator, then the worker's.
    pub const ALL: [Right; 6] = [
        Right::None,
        Right::Visitor,
        Right::Standard,
        Right::Advanced,
        Right::Administrator,
        Right::Worker,
    ];

    /// Its place on the ladder: the highest action level it allows (0 for none and worker).
    pub fn level(self) -> u8 {
        match self {
            Right::None | Right::Worker => 0,
            Right::Visitor => Action::Read.level(),
            Right::Standard => Action::Delete.level(),
            Right::Advanced => Action::InsertGroup.level(),
            Right::Administrator => Action::SetRights.level(),
        }
    }

    /// Whether a user of this right may ask for `action`: 0 < action ≤ right.
    pub fn allows(self, action: Action) -> bool {
        let a = action.level();
        0 < a && a <= self.level()
    }

    /// Whether this right bypasses access bits and confinement (the administrator's).
    pub fn is_administrator(self) -> bool {
        self == Right::Administrator
    }

    /// Its name, as the API and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Right::None => "none",
            Right::Visitor => "visitor",
            Right::Standard => "standard",
            Right::Advanced => "advanced",
            Right::Administrator => "administrator",
            Right::Worker => "worker",
        }
    }
}

impl std::str::FromStr for Right {
    type Err = AccessError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Right::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AccessError::UnknownRight(s.to_owned()))
    }
}

/// The four things a worker does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkerAction {
    /// Ask for work.
    AskWork,
    /// Say it is alive.
    Heartbeat,
    /// Download an app or a datum by its id.
    Download,
    /// Upload the result of a job.
    UploadResult,
}

impl WorkerAction {
    /// Every worker action.
    pub const ALL: [WorkerAction; 4] = [
        WorkerAction::AskWork,
        WorkerAction::Heartbeat,
        WorkerAction::Download,
        WorkerAction::UploadResult,
    ];

    /// Its name, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerAction::AskWork => "ask-work",
            WorkerAction::Heartbeat => "heartbeat",
            WorkerAction::Download => "download",
            WorkerAction::UploadResult => "upload-result",
        }
    }
}

/// A worker's request and what the pool knows about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerRequest {
    /// What it asks.
    pub action: WorkerAction,
    /// For a download: the object is the app or a datum of a job the worker was given. For an
    /// upload: the job is one the worker holds.
    pub of_its_job: bool,
}

/// Whether a principal of right `right` may make the worker request `request`: only the
/// worker right, and a download or an upload only for a job the worker was given.
pub fn worker_may(right: Right, request: WorkerRequest) -> bool {
    if right != Right::Worker {
        return false;
    }
    match request.action {
        WorkerAction::AskWork | WorkerAction::Heartbeat => true,
        WorkerAction::Download | WorkerAction::UploadResult => request.of_its_job,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_allows_everything_up_to_the_right_and_nothing_above() {
        for right in Right::ALL {
            for action in Action::ALL {
                let expected = action.level() <= right.level() && right.level() > 0;
                assert_eq!(right.allows(action), expected, "{right:?} {action:?}");
            }
        }
        assert!(Right::Standard.allows(Action::SubmitJob));
        assert!(Right::Standard.allows(Action::InsertData));
        assert!(
            !Right::Standard.allows(Action::InsertUser),
            "standard users add no users"
        );
        assert!(Action::ALL.iter().all(|a| Right::Administrator.allows(*a)));
        assert!(Action::ALL.iter().all(|a| !Right::None.allows(*a)));
    }

    #[test]
    fn a_worker_does_four_things_and_nothing_of_the_ladder() {
        assert!(Action::ALL.iter().all(|a| !Right::Worker.allows(*a)));
        for action in WorkerAction::ALL {
            let mine = WorkerRequest {
                action,
                of_its_job: true,
            };
            let other = WorkerRequest {
                action,
                of_its_job: false,
            };
            assert!(worker_may(Right::Worker, mine), "{action:?}");
            assert_eq!(
                worker_may(Right::Worker, other),
                matches!(action, WorkerAction::AskWork | WorkerAction::Heartbeat),
                "{action:?} of another job"
            );
            for right in Right::ALL.into_iter().filter(|r| *r != Right::Worker) {
                assert!(!worker_may(right, mine), "{right:?} is no worker");
            }
        }
    }

    #[test]
    fn rights_parse_from_their_names() {
        for right in Right::ALL {
            assert_eq!(right.as_str().parse::<Right>().unwrap(), right);
        }
        assert!(
            "root"
                .parse::<Right>()
                .unwrap_err()
                .to_string()
                .contains("standard")
        );
    }
}
