//! How qecho ends when something went wrong: the exit status for errors and the one-paragraph
//! message on standard error. Every subcommand uses these, so they live here, below all of them.

/// Exit status for an error: bad usage, bad input, or no connection (like ping's 2).
pub const EXIT_ERROR: u8 = 2;

/// Prints an error the way every qecho error looks: one paragraph on stderr.
pub fn print_error(report: &color_eyre::Report) {
    // `{:#}` prints the whole chain of causes on one line: "what failed: why".
    eprintln!("qecho: error: {report:#}");
}
