//! The live progress bar: elapsed time, rps, p95, errors and generator warnings.
//! Shown on stderr only when stdout and stderr are terminals and `--quiet` is off.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::loadtest::aggregator::{FinishedSecond, HistoryRow};
use crate::loadtest::cpu::SATURATED_PERCENT;
use crate::loadtest::run::Observer;
use crate::units::format_ms;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `duration`, or nothing when not on a terminal or when quiet.
    pub fn new(duration: Duration, quiet: bool) -> Progress {
        let on_terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        if quiet || !on_terminal {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(duration.as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        Progress { bar: Some(bar) }
    }

    /// Show the second that just ended.
    pub fn update(&self, row: &HistoryRow, saturated: bool, late: bool) {
        let Some(bar) = &self.bar else { return };
        bar.set_position(row.elapsed_s);
        let mut msg = format!(
            "{:.0} rps  p95 {}  errors {}  users {}",
            row.rps,
            format_ms(row.p95_ms),
            row.total_failures,
            row.users
        );
        if saturated {
            msg.push_str(&format!(
                "  ⚠ generator CPU {:.0}%",
                row.generator_cpu_percent
            ));
        }
        if late {
            msg.push_str(&format!("  ⚠ {} sends late", row.late_sends));
        }
        bar.set_message(msg);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar follows the run second by second.
impl Observer for Progress {
    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        let row = &second.row;
        self.update(
            row,
            row.generator_cpu_percent >= SATURATED_PERCENT,
            row.late_sends > 0,
        );
        Ok(())
    }

    fn finished(&mut self) -> anyhow::Result<()> {
        self.finish();
        Ok(())
    }
}
