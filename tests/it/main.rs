//! The integration tests: one binary, sharing one generated company and one
//! trained model (see `common`).

mod common;
mod contract;
mod features;
mod model;
mod score;
mod crm;
mod sync;
mod delivery;
mod effectiveness;
mod object_stores;
mod setup;
mod house;
mod other_company;
mod drift;
mod report;
mod stack;
mod signals;
mod cluster;
