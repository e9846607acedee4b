//! EVM access.
