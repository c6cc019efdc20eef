//! `failback_build_info` and the standard process metrics, read from `/proc/self` (Linux);
//! a value that cannot be read is left out rather than made up.

use super::text::{gauge, header, labels, sample};

/// The commit this binary was built from, when the build said (`FAILBACK_BUILD_COMMIT`).
const COMMIT: Option<&str> = option_env!("FAILBACK_BUILD_COMMIT");

pub fn render_build_info(out: &mut String) {
    let name = "failback_build_info";
    header(
        out,
        name,
        "gauge",
        "1, labelled with the build's version (and commit when known).",
    );
    let mut pairs = vec![("version", env!("CARGO_PKG_VERSION"))];
    if let Some(c) = COMMIT {
        pairs.push(("commit", c));
    }
    sample(out, name, &labels(&pairs), 1.0);
}

/// Fields of `/proc/self/stat` after the command name: (utime, stime, starttime) in clock
/// ticks.
fn stat_times(stat: &str) -> Option<(u64, u64, u64)> {
    // The command name is in parentheses and may hold spaces: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the man page, so field n is f[n - 3].
    let get = |n: usize| f.get(n - 3).and_then(|v| v.parse().ok());
    Some((get(14)?, get(15)?, get(22)?))
}

/// `btime` of `/proc/stat`: the boot time, seconds since the epoch.
fn boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS:  1234 kB` of `/proc/self/status`, in bytes.
fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// The soft `Max open files` of `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (t > 0).then_some(t as f64)
}

pub fn render_process(out: &mut String) {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let ticks = ticks_per_second();
    let times = read("/proc/self/stat").as_deref().and_then(stat_times);
    if let (Some(hz), Some((utime, stime, start))) = (ticks, times) {
        let cpu = (utime + stime) as f64 / hz;
        header(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        sample(out, "process_cpu_seconds_total", "", cpu);
        if let Some(btime) = read("/proc/stat").as_deref().and_then(boot_time) {
            let started = btime as f64 + start as f64 / hz;
            gauge(
                out,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                started,
            );
        }
    }
    if let Some(rss) = read("/proc/self/status").as_deref().and_then(rss_bytes) {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is one of the entries.
        let open = fds.count().saturating_sub(1);
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            open as f64,
        );
    }
    if let Some(max) = read("/proc/self/limits").as_deref().and_then(max_fds) {
        gauge(
            out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat =
            "42 (fail back) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 1000 200";
        assert_eq!(stat_times(stat), Some((250, 50, 12345)));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
        assert_eq!(
            rss_bytes("Name:\tx\nVmRSS:\t  2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n";
        assert_eq!(max_fds(limits), Some(1024));
    }

    #[test]
    fn this_process_has_its_metrics() {
        let mut out = String::new();
        render_process(&mut out);
        for name in [
            "process_cpu_seconds_total ",
            "process_start_time_seconds ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
        ] {
            assert!(out.lines().any(|l| l.starts_with(name)), "{name}: {out}");
        }
    }
}
