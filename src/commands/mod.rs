//! The command layer: the only code that sees the clap `Args` (`crate::cli`), reads
//! input files, prints and writes outputs. Each command turns its flags into a
//! validated plan or settings value, calls its pure core, and hands the result to
//! the renderers and `crate::output`.
pub mod forecast;
pub mod loadtest;
pub mod merge;
pub mod prometheus;
pub mod simulate;
pub mod target;
