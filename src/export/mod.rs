//! The export itself: one snapshot transaction, counted sections streamed through COPY into
//! the gzip JSON archive writer.

pub mod adoption;
pub mod archive;
pub mod content;
pub mod copy;
mod deflate;
pub mod direct;
pub mod drain;
pub mod estimate;
pub mod formats;
mod hex_deflate;
pub mod job;
pub mod judging;
pub mod locks;
pub mod manifest;
pub mod narrowing;
pub mod outcome;
pub mod preview;
pub mod reading;
pub mod render;
pub mod snapshot;
pub mod verify;
