//! The subcommands, and what the servers' settings share: [`settings`] (one declaration per
//! setting, flags over file over defaults) and [`duration`] (the one duration parser).

pub(crate) mod crowd;
pub(crate) mod demo;
mod duration;
pub(crate) mod keys;
pub(crate) mod reception;
mod settings;
pub(crate) mod shop;
