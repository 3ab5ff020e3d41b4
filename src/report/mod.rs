//! Presentation only: tables, CSV, JSON, hlog. Each renderer is a pure function from results to bytes.
pub mod simulate;
