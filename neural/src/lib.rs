//! Neural learners (in progress).
