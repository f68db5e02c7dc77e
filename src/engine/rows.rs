//! How the event loop holds its trace ([`Rows`]): whole, or as a streamed window
//! ([`super::window`]).

use crate::trace::Trace;

/// How the loop holds its trace: the whole trace, borrowed (`&Trace`), or a streamed window
/// it owns (`Box<Trace>`), whose rows are appended and dropped between runs and addressed by
/// global position ([`Trace::base`]). A type parameter, so a whole-trace replay compiles to a
/// loop with no window arithmetic and no pause check.
pub(super) trait Rows<'a>: std::ops::Deref<Target = Trace> {
    const WINDOW: bool;
    /// The whole trace (a whole-trace replay only: a reconfigurable server reads it).
    fn whole(&self) -> &'a Trace;
    /// The window (a streamed replay only).
    fn window_mut(&mut self) -> &mut Trace;
}

impl<'a> Rows<'a> for &'a Trace {
    const WINDOW: bool = false;
    fn whole(&self) -> &'a Trace {
        self
    }
    fn window_mut(&mut self) -> &mut Trace {
        unreachable!("a borrowed trace has no window")
    }
}

impl<'a> Rows<'a> for Box<Trace> {
    const WINDOW: bool = true;
    fn whole(&self) -> &'a Trace {
        unreachable!("a streamed replay has no repartitioner")
    }
    fn window_mut(&mut self) -> &mut Trace {
        self
    }
}
