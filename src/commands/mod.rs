//! The command layer: the only code that sees the command line's `Args`, reads the
//! inputs, prints and writes. Each command turns its flags into a validated plan or
//! settings value, calls its pure core, and hands the result to the renderers and
//! `output.rs`.
pub mod loadtest;
