//! Confinement: apps, data and workers are public, shared with a group, or private to their
//! owner, and work goes only where that allows.
//!
//! | object | public | group `g` | private to `o` |
//! |---|---|---|---|
//! | app: who submits it | anybody who may submit | members of `g` | `o` |
//! | app: which workers run it | any worker | `g`'s workers | `o`'s private workers |
//! | datum: who reads it | anybody who may read | members of `g` | `o` |
//! | datum: which workers receive it | any worker | `g`'s workers | `o`'s private workers |
//! | worker: what it runs | public apps | public apps and `g`'s | public apps and `o`'s |
//!
//! An X.509 certificate stored as a datum is private whatever its visibility says, and no
//! worker ever receives one. An administrator submits and reads anything; placement has no
//! bypass (a private app never runs on a stranger's machine, whoever asks).

use serde::{Deserialize, Serialize};

use crate::rights::{Action, Right};

/// Who may see and use an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    /// Anybody, anywhere.
    Public,
    /// The members and workers of this group.
    Group(String),
    /// Its owner (this user) and the owner's private workers.
    Private(String),
}

/// A user of the pool as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Its identity (a wallet address, a login, a certificate's subject...).
    pub id: String,
    /// The groups it belongs to.
    pub groups: Vec<String>,
    /// Its right.
    pub right: Right,
}

impl Principal {
    fn reaches(&self, visibility: &Visibility) -> bool {
        match visibility {
            Visibility::Public => true,
            Visibility::Group(g) => self.groups.contains(g),
            Visibility::Private(owner) => *owner == self.id,
        }
    }
}

/// What kind of datum: certificates are never handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatumKind {
    /// Input data.
    Data,
    /// An X.509 certificate (with its key, for mutual TLS): private to its owner, whatever its
    /// visibility says, and never sent to a worker.
    Certificate,
}

/// A datum as the model sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datum {
    /// Who may see and use it.
    pub visibility: Visibility,
    /// What it is.
    pub kind: DatumKind,
    /// Its owner.
    pub owner: String,
}

/// A worker as the model sees it: public, a group's, or private to its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    /// Whose work it does.
    pub visibility: Visibility,
}

/// A job to place: its app's visibility and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The app's visibility.
    pub app: Visibility,
    /// Its data.
    pub data: Vec<Datum>,
}

/// Whether `who` may submit a job of an app of visibility `app`.
pub fn may_submit(who: &Principal, app: &Visibility) -> bool {
    who.right.allows(Action::SubmitJob) && (who.right.is_administrator() || who.reaches(app))
}

/// Whether `worker` may run an app of visibility `app`: public apps anywhere; a group's apps
/// on that group's workers; a private app on its owner's private workers.
pub fn may_run(worker: &Worker, app: &Visibility) -> bool {
    match app {
        Visibility::Public => true,
        confined => *confined == worker.visibility,
    }
}

/// Whether `worker` may receive `datum`: the same rule as apps, and never a certificate.
pub fn may_use_datum(worker: &Worker, datum: &Datum) -> bool {
    datum.kind != DatumKind::Certificate && may_run(worker, &datum.visibility)
}

/// Whether `who` may read `datum`: by its visibility, a certificate by its owner only; an
/// administrator reads anything.
pub fn may_read(who: &Principal, datum: &Datum) -> bool {
    if !who.right.allows(Action::Read) {
        return false;
    }
    if who.right.is_administrator() {
        return true;
    }
    match datum.kind {
        DatumKind::Certificate => datum.owner == who.id,
        DatumKind::Data => who.reaches(&datum.visibility),
    }
}

/// Where a job may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The worker may run it.
    Allowed,
    /// The worker may not run its app.
    AppConfined,
    /// The worker may not receive one of its data.
    DataConfined,
}

impl Placement {
    /// Where `job` may go on `worker`.
    pub fn of(job: &Job, worker: &Worker) -> Placement {
        if !may_run(worker, &job.app) {
            Placement::AppConfined
        } else if !job.data.iter().all(|d| may_use_datum(worker, d)) {
            Placement::DataConfined
        } else {
            Placement::Allowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, groups: &[&str], right: Right) -> Principal {
        Principal {
            id: id.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            right,
        }
    }

    fn group(g: &str) -> Visibility {
        Visibility::Group(g.into())
    }

    fn private(o: &str) -> Visibility {
        Visibility::Private(o.into())
    }

    #[test]
    fn submitting_follows_the_apps_confinement_and_the_right() {
        let ann = user("ann", &["lab"], Right::Standard);
        let bob = user("bob", &[], Right::Standard);
        let admin = user("root", &[], Right::Administrator);
        let visitor = user("vic", &["lab"], Right::Visitor);
        for (app, ann_may, bob_may) in [
            (Visibility::Public, true, true),
            (group("lab"), true, false),
            (private("ann"), true, false),
            (private("bob"), false, true),
        ] {
            assert_eq!(may_submit(&ann, &app), ann_may, "ann, {app:?}");
            assert_eq!(may_submit(&bob, &app), bob_may, "bob, {app:?}");
            assert!(may_submit(&admin, &app), "the administrator, {app:?}");
            assert!(!may_submit(&visitor, &app), "a visitor submits nothing");
        }
    }

    #[test]
    fn private_and_group_work_stays_on_its_workers_and_certificates_on_nobody() {
        let public = Worker {
            visibility: Visibility::Public,
        };
        let lab = Worker {
            visibility: group("lab"),
        };
        let anns = Worker {
            visibility: private("ann"),
        };
        let data = |visibility| Datum {
            visibility,
            kind: DatumKind::Data,
            owner: "ann".into(),
        };
        let job = |app, data| Job { app, data };
        assert_eq!(
            Placement::of(&job(private("ann"), vec![]), &public),
            Placement::AppConfined
        );
        assert_eq!(
            Placement::of(&job(private("ann"), vec![]), &anns),
            Placement::Allowed
        );
        assert_eq!(
            Placement::of(&job(group("lab"), vec![]), &anns),
            Placement::AppConfined
        );
        assert_eq!(
            Placement::of(&job(Visibility::Public, vec![]), &lab),
            Placement::Allowed
        );
        assert_eq!(
            Placement::of(
                &job(Visibility::Public, vec![data(private("ann"))]),
                &public
            ),
            Placement::DataConfined,
            "a public app does not carry private data to a public worker"
        );
        let certificate = Datum {
            visibility: Visibility::Public,
            kind: DatumKind::Certificate,
            owner: "ann".into(),
        };
        for worker in [&public, &lab, &anns] {
            assert!(!may_use_datum(worker, &certificate), "{worker:?}");
        }
        assert!(may_read(&user("ann", &[], Right::Visitor), &certificate));
        assert!(!may_read(&user("bob", &[], Right::Standard), &certificate));
    }
}
