//! Ctrl-C, the asyncio way: while a run executes on the main thread, the
//! first SIGINT interrupts it; a second one ends the process the default way.
//!
//! Installed once per process, by the first run on the main thread, and only
//! if SIGINT still has its default disposition: a handler the application
//! installed is never taken over. signal-hook's handler then runs these
//! actions, in order:
//!
//! 1. if `default` is set, the default action: the process ends by SIGINT;
//! 2. set `interrupted`;
//! 3. set `default`, so that a second SIGINT ends the process;
//! 4. write to a socket, which wakes the run's loop.
//!
//! `default` is set except while a run executes on the main thread, so
//! outside runs SIGINT ends the process as if runner did not exist. A run
//! pays two atomic stores for this; the handler itself stays installed
//! (signal-hook never removes one), doing what the default would.
//!
//! Whether SIGINT has its default disposition is read from
//! `/proc/self/status`, so this is Linux-only; elsewhere runs never
//! intercept SIGINT.

use std::error::Error;
use std::fmt;

/// The error of a run that Ctrl-C interrupted, and the payload a
/// [`Runner::run`](crate::Runner::run) unwinds with.
///
/// [`Runner::try_run`](crate::Runner::try_run) returns it as a value;
/// `run` resumes it as an unwind (no panic message is printed), which
/// `#[runner::scope]` on `fn main` turns into exit status 130.
///
/// # Examples
///
/// ```
/// use runner::Interrupted;
///
/// let result: Result<(), Interrupted> = Err(Interrupted);
/// assert_eq!(result.unwrap_err().to_string(), "interrupted by Ctrl-C (SIGINT)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted by Ctrl-C (SIGINT)")
    }
}

impl Error for Interrupted {}

pub(crate) use imp::Sigint;

#[cfg(target_os = "linux")]
mod imp {
    use std::cell::Cell;
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::task::{Context, Poll};

    use async_io::Async;
    use signal_hook::consts::SIGINT;

    /// The process's SIGINT handling, once installed.
    pub(crate) struct Sigint {
        /// Set: SIGINT does the default. Cleared while a run executes on the main thread.
        default: Arc<AtomicBool>,
        /// Set by SIGINT.
        interrupted: Arc<AtomicBool>,
        /// Readable after a SIGINT.
        wake: Async<UnixStream>,
    }

    impl Sigint {
        /// The SIGINT handling for a run on this thread: `Some` on the main
        /// thread once installed, if SIGINT had its default disposition.
        pub(crate) fn for_this_thread() -> Option<&'static Sigint> {
            thread_local! {
                /// Whether this is the main thread; `None` until asked.
                static MAIN: Cell<Option<bool>> = const { Cell::new(None) };
            }
            let main = MAIN.with(|main| {
                let is_main = main
                    .get()
                    .unwrap_or_else(|| rustix::thread::gettid() == rustix::process::getpid());
                main.set(Some(is_main));
                is_main
            });
            if !main {
                return None;
            }
            static SIGINT_HANDLING: OnceLock<Option<Sigint>> = OnceLock::new();
            SIGINT_HANDLING.get_or_init(Sigint::install).as_ref()
        }

        fn install() -> Option<Sigint> {
            if !sigint_is_default() {
                return None;
            }
            let default = Arc::new(AtomicBool::new(true));
            let interrupted = Arc::new(AtomicBool::new(false));
            let (read, write) = UnixStream::pair().ok()?;
            let wake = Async::new(read).ok()?;
            // Registered in this order, they run in this order (see the module docs).
            signal_hook::flag::register_conditional_default(SIGINT, default.clone()).ok()?;
            signal_hook::flag::register(SIGINT, interrupted.clone()).ok()?;
            signal_hook::flag::register(SIGINT, default.clone()).ok()?;
            signal_hook::low_level::pipe::register(SIGINT, write).ok()?;
            Some(Sigint {
                default,
                interrupted,
                wake,
            })
        }

        /// Lets SIGINT interrupt runs until the guard drops.
        #[inline]
        pub(crate) fn arm(&'static self) -> Armed {
            // Release, not SeqCst: a plain store on x86, where SeqCst is an `xchg`.
            self.interrupted.store(false, Ordering::Release);
            self.default.store(false, Ordering::Release);
            Armed(self)
        }

        #[inline]
        pub(crate) fn is_interrupted(&self) -> bool {
            self.interrupted.load(Ordering::Acquire)
        }

        /// Ready once a SIGINT has arrived since the last call.
        pub(crate) fn poll_wake(&self, cx: &mut Context<'_>) -> Poll<()> {
            if self.wake.poll_readable(cx).is_pending() {
                return Poll::Pending;
            }
            // Drain the wake-ups; the socket is non-blocking.
            let mut buffer = [0; 64];
            while matches!(self.wake.get_ref().read(&mut buffer), Ok(n) if n > 0) {}
            Poll::Ready(())
        }
    }

    /// Gives SIGINT back its default behaviour when a run ends.
    pub(crate) struct Armed(&'static Sigint);

    impl Drop for Armed {
        #[inline]
        fn drop(&mut self) {
            self.0.default.store(true, Ordering::Release);
            self.0.interrupted.store(false, Ordering::Release);
        }
    }

    /// Whether SIGINT is neither caught nor ignored, per `/proc/self/status`.
    fn sigint_is_default() -> bool {
        let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
            return false;
        };
        let mask = |field: &str| {
            let line = status.lines().find_map(|line| line.strip_prefix(field))?;
            u64::from_str_radix(line.trim(), 16).ok()
        };
        // Signal n is bit n - 1.
        let bit = 1 << (SIGINT - 1);
        match (mask("SigIgn:"), mask("SigCgt:")) {
            (Some(ignored), Some(caught)) => (ignored | caught) & bit == 0,
            _ => false,
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::convert::Infallible;
    use std::task::{Context, Poll};

    /// No SIGINT handling off Linux: runs never intercept it.
    pub(crate) struct Sigint(Infallible);

    impl Sigint {
        pub(crate) fn for_this_thread() -> Option<&'static Sigint> {
            None
        }

        #[inline]
        pub(crate) fn arm(&'static self) -> Armed {
            match self.0 {}
        }

        #[inline]
        pub(crate) fn is_interrupted(&self) -> bool {
            match self.0 {}
        }

        pub(crate) fn poll_wake(&self, _: &mut Context<'_>) -> Poll<()> {
            match self.0 {}
        }
    }

    pub(crate) struct Armed(Infallible);
}
