//! The export itself: one snapshot transaction, counted sections streamed through COPY into
//! the gzip JSON archive writer.

pub mod adoption;
pub mod archive;
pub mod content;
pub mod copy;
pub mod direct;
pub mod drain;
pub mod formats;
pub mod estimate;
pub mod job;
pub mod locks;
pub mod manifest;
pub mod outcome;
pub mod narrowing;
pub mod preview;
pub mod render;
pub mod snapshot;
pub mod verify;
