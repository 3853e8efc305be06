//! Shared harness for the black-box and conformance suites.
pub mod keys;
