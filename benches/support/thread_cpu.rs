//! A criterion measurement of the benchmark thread's own CPU time, shared by the benches that
//! are run on a loaded machine (`BENCH_CLOCK=thread-cpu`): wall-clock time would mostly measure
//! how long the thread waited for a core. Included with `#[path]` by each bench:
//!
//! ```ignore
//! #[path = "../../../benches/support/thread_cpu.rs"]
//! #[macro_use]
//! mod thread_cpu;
//! thread_cpu_main!(bench); // bench: fn<M: Measurement + 'static>(&mut Criterion<M>)
//! ```

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of the calling thread, in nanoseconds.
pub(crate) struct ThreadCpu;

fn thread_cpu_nanos() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }

    fn end(&self, started: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(started)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time: reuse its formatting (and throughput units).
        WallTime.formatter()
    }
}

/// `fn main` running `$bench` with wall-clock time, or with [`ThreadCpu`] when
/// `BENCH_CLOCK=thread-cpu`.
macro_rules! thread_cpu_main {
    ($bench:ident) => {
        fn main() {
            if std::env::var("BENCH_CLOCK").as_deref() == Ok("thread-cpu") {
                let mut c = criterion::Criterion::default()
                    .with_measurement($crate::thread_cpu::ThreadCpu)
                    .configure_from_args();
                $bench(&mut c);
                c.final_summary();
            } else {
                let mut c = criterion::Criterion::default().configure_from_args();
                $bench(&mut c);
                c.final_summary();
            }
        }
    };
}
