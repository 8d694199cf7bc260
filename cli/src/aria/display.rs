//! The live progress display: one line per running download (bytes, percent, speed, ETA,
//! connections) and an overall line, redrawn in place with indicatif. Hidden when stdout is
//! not a terminal, and with `-q`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

const DOWNLOAD: &str =
    "[#{prefix}] {msg} {bytes}/{total_bytes} ({percent}%) {bytes_per_sec} ETA {eta}";
const OVERALL: &str = "[overall] {msg} {bytes}/{total_bytes} {bytes_per_sec}";

/// Every download's line and the overall one.
#[derive(Clone)]
pub(crate) struct Display {
    multi: MultiProgress,
    overall: ProgressBar,
    downloads: usize,
    finished: Arc<AtomicUsize>,
}

impl Display {
    /// On stdout when it is a terminal and `quiet` is off; hidden otherwise.
    pub(crate) fn for_stdout(quiet: bool, downloads: usize) -> Self {
        let target = if quiet || !std::io::stdout().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stdout()
        };
        Self::new(target, downloads)
    }

    pub(crate) fn new(target: ProgressDrawTarget, downloads: usize) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0).with_style(style(OVERALL)));
        let display = Self {
            multi,
            overall,
            downloads,
            finished: Arc::default(),
        };
        display.count();
        display
    }

    /// A line for download `gid`, saved as `name` over `connections` connections.
    pub(crate) fn download(&self, gid: usize, name: &str, connections: usize) -> Line {
        let bar = self.multi.insert_before(
            &self.overall,
            ProgressBar::new(0).with_style(style(DOWNLOAD)),
        );
        bar.set_prefix(gid.to_string());
        bar.set_message(format!("{name} CN:{connections}"));
        Line {
            bar,
            display: self.clone(),
            length: Arc::default(),
            position: Arc::default(),
        }
    }

    /// A download ended (whatever the outcome).
    pub(crate) fn finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.count();
    }

    fn count(&self) {
        self.overall.set_message(format!(
            "{}/{} done",
            self.finished.load(Ordering::Relaxed),
            self.downloads
        ));
    }

    /// Runs `print` with the lines taken off the screen, so what it prints stays above them.
    pub(crate) fn suspend(&self, print: impl FnOnce()) {
        self.multi.suspend(print);
    }

    /// Takes the lines off the screen, before the results table.
    pub(crate) fn clear(&self) {
        self.overall.finish_and_clear();
        // A display that cannot be cleared leaves lines behind; the table still follows.
        let _ = self.multi.clear();
    }
}

/// One download's line; its counts also feed the overall line.
#[derive(Clone)]
pub(crate) struct Line {
    bar: ProgressBar,
    display: Display,
    length: Arc<AtomicU64>,
    position: Arc<AtomicU64>,
}

impl Line {
    /// The download's length, once known.
    pub(crate) fn set_length(&self, length: u64) {
        let before = self.length.swap(length, Ordering::Relaxed);
        if before != length {
            self.bar.set_length(length);
            let overall = self.display.overall.length().unwrap_or(0);
            self.display
                .overall
                .set_length(overall.saturating_sub(before).saturating_add(length));
        }
    }

    /// The bytes written so far.
    pub(crate) fn set_position(&self, position: u64) {
        let before = self.position.swap(position, Ordering::Relaxed);
        self.bar.set_position(position);
        if position >= before {
            self.display.overall.inc(position - before);
        } else {
            let overall = self.display.overall.position();
            self.display
                .overall
                .set_position(overall.saturating_sub(before - position));
        }
    }

    /// The download ended: its line goes away ([`Display::finished`] counts it).
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants checked by the tests; the default style stands in for
    // one that would not parse.
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use indicatif::InMemoryTerm;

    use super::*;

    #[test]
    fn templates_parse() {
        assert!(ProgressStyle::with_template(DOWNLOAD).is_ok());
        assert!(ProgressStyle::with_template(OVERALL).is_ok());
    }

    #[test]
    fn lines_show_each_download_and_the_total() {
        let term = InMemoryTerm::new(10, 120);
        let display = Display::new(ProgressDrawTarget::term_like(Box::new(term.clone())), 2);
        let first = display.download(1, "big.iso", 4);
        let second = display.download(2, "small.bin", 1);
        first.set_length(4096);
        second.set_length(1024);
        first.set_position(2048);
        second.set_position(1024);
        second.finish();
        display.finished();
        first.bar.tick();
        display.overall.tick();
        let screen = term.contents();
        assert!(
            screen.contains("[#1] big.iso CN:4 2.00 KiB/4.00 KiB (50%)"),
            "{screen}"
        );
        assert!(
            !screen.contains("small.bin"),
            "a finished download's line goes: {screen}"
        );
        assert!(
            screen.contains("[overall] 1/2 done 3.00 KiB/5.00 KiB"),
            "{screen}"
        );
    }
}
