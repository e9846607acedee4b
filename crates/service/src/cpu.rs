//! The CPU a process has used, for the measurements services log beside their wall times.

use std::time::Duration;

/// CPU time this process has used so far, user and system, over all its threads (Linux's
/// `CLOCK_PROCESS_CPUTIME_ID`, nanosecond resolution; `/proc`'s ticks are 10 ms). The
/// difference of two readings is what the process ran in between, whichever thread ran it: in a
/// process that hosts several services, theirs too. Zero where the clock cannot be read.
pub fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration; the clock id is a
    // constant every Linux kernel since 2.6.12 knows.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if read != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_advances_with_work_and_not_with_sleep() {
        let start = process_cpu_time();
        assert!(start > Duration::ZERO, "the process clock reads zero");
        // Spin until 20 ms of CPU have passed on this thread's account.
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while process_cpu_time() - start < Duration::from_millis(20) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(
                spin.elapsed() < Duration::from_secs(20),
                "20 ms of CPU never came"
            );
        }
        std::hint::black_box(x);
        let busy = process_cpu_time();
        std::thread::sleep(Duration::from_millis(200));
        let slept = process_cpu_time() - busy;
        assert!(
            slept < Duration::from_millis(100),
            "200 ms of sleep counted {slept:?} of CPU"
        );
    }
}
