//! The chaos suite lands here (issue 8). For now the crate holds `tests/compose.rs`, which keeps
//! `docker-compose.yml` honest: this machine cannot run it, so it is checked against the code.
