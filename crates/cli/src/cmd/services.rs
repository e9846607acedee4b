//! decloud's services run inside this process by `decloud node` and `decloud demo` through
//! `decloud-local`; the defaults other commands need to find them.

pub(crate) use decloud_local::node::DEFAULT_SCHEDULER_URL;
