//! (filled in by later stages)
