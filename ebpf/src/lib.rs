//! Library target so the agent can name this crate as a build dependency; the programs
//! themselves live in the binary target (src/main.rs).
#![no_std]
