//! The command layer: the only code that sees the clap `Args` (`crate::cli`), reads
//! input files, prints and writes outputs. Each command turns its flags into
//! validated settings, calls its pure core and hands the result to `crate::output`.
pub mod forecast;
pub mod simulate;
pub mod target;
