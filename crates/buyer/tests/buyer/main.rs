//! The buyer against mock servers on loopback: one test binary, one module per concern.
// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod flow;
mod mock;
mod odd_answers;
