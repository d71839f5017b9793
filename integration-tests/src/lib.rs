//! Tests that span crates and need a broker live in `tests/`; see the README of this folder.
