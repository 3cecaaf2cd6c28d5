//! Settings of the process that runs the engine (the `ferry` CLI, the desktop
//! app), made first thing in `main`, before any thread starts.

/// Prepares the process: the driver's buffer pool (see
/// [`crate::mysql::size_driver_buffers`]) and no transparent huge pages.
pub fn prepare() {
    crate::mysql::size_driver_buffers();
    no_transparent_huge_pages();
}

/// Turns transparent huge pages off for this process. The allocator (mimalloc)
/// asks for them on its arenas, so each first touch of its memory faulted in and
/// zeroed 2 MiB: with them a 20 000-transaction catch-up spent most of Ferry's
/// kernel time zeroing pages (its system CPU 0.15–0.22 s, against 0.06–0.10 s
/// without) and took 0.59 s against 0.48 s (mean of 8 alternating pairs, all
/// won), and a 2 M-row copy peaked at 115 MiB against 70 MiB. A kernel without the setting (before 3.15) refuses it and nothing
/// changes, so its answer is not needed.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_process_runs_without_transparent_huge_pages() {
        super::no_transparent_huge_pages();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        // The kernel shows the setting since 5.0; before, there is nothing to read.
        if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
            assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
        }
    }
}
