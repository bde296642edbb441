//! The `tracing` feature: spans that follow tasks. Without it, only a
//! [`TaskSpan`] of no size that does nothing.
//!
//! A floor-0 leaf. A task, a cleanup and an `unblock` job capture the span
//! current where they are made ([`TaskSpan::capture`]) and enter it around
//! each poll, their drop, and the job's call. The loop hides the spans its
//! thread had entered around a run (`hide`) while it polls tasks, so that
//! a span entered around a run covers the run's own future and no task,
//! and restores them around each poll of the run's future.

#[cfg(feature = "tracing")]
use tracing::span::{Entered, Id};
#[cfg(feature = "tracing")]
use tracing::{Dispatch, Span};

/// The span a task was spawned in; nothing for a task spawned in none.
#[cfg(feature = "tracing")]
#[derive(Debug, Default)]
pub(crate) struct TaskSpan(Option<Box<Span>>);

/// Without the `tracing` feature: nothing, in no bytes.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Default)]
pub(crate) struct TaskSpan;

#[cfg(not(feature = "tracing"))]
impl TaskSpan {
    #[inline]
    pub(crate) fn capture() -> TaskSpan {
        TaskSpan
    }
}

#[cfg(feature = "tracing")]
impl TaskSpan {
    /// The span current on this thread, if any (boxed: a task without a
    /// span pays one word).
    pub(crate) fn capture() -> TaskSpan {
        // No subscriber was ever set: no span can be current (one load).
        if !tracing::dispatcher::has_been_set() {
            return TaskSpan(None);
        }
        let span = Span::current();
        TaskSpan((!span.is_none() && !span.is_disabled()).then(|| Box::new(span)))
    }

    /// Enters the span until the guard drops.
    #[inline]
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        self.0.as_deref().map(Span::enter)
    }
}

/// The spans this thread had entered, exited by [`hide`] and entered again
/// when this drops, innermost last.
#[cfg(feature = "tracing")]
pub(crate) struct Hidden {
    /// The dispatcher they belong to, and their ids, outermost first.
    hidden: Option<(Dispatch, Vec<Id>)>,
}

/// Exits every span entered on this thread, until the guard drops: what the
/// loop polls meanwhile runs in its own span, or in none.
#[cfg(feature = "tracing")]
#[inline]
pub(crate) fn hide() -> Hidden {
    if !tracing::dispatcher::has_been_set() {
        return Hidden { hidden: None };
    }
    hide_entered()
}

/// [`hide`] with a subscriber: kept out of line, out of the loop's way.
#[cfg(feature = "tracing")]
#[cold]
#[inline(never)]
fn hide_entered() -> Hidden {
    tracing::dispatcher::get_default(|dispatch| {
        let mut ids: Vec<Id> = Vec::new();
        // Bounded, for a subscriber that does not keep a stack of entered spans.
        while ids.len() < 64 {
            let current = dispatch.current_span();
            let Some(id) = current.id() else {
                break;
            };
            if ids.contains(id) {
                // Exiting did not change the current span: leave it be.
                break;
            }
            dispatch.exit(id);
            ids.push(id.clone());
        }
        ids.reverse();
        Hidden {
            hidden: (!ids.is_empty()).then(|| (dispatch.clone(), ids)),
        }
    })
}

#[cfg(feature = "tracing")]
impl Drop for Hidden {
    fn drop(&mut self) {
        if let Some((dispatch, ids)) = &self.hidden {
            for id in ids {
                dispatch.enter(id);
            }
        }
    }
}
