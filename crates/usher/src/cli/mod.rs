//! The subcommands, and what the servers' settings share: [`settings`] (one declaration per
//! setting, flags over file over defaults), [`duration`] (the one duration parser) and
//! [`connections`] (the public listener's settings, the same for every server).

mod connections;
pub(crate) mod crowd;
pub(crate) mod demo;
mod duration;
pub(crate) mod gate;
mod gate_side;
pub(crate) mod keys;
pub(crate) mod reception;
mod settings;
pub(crate) mod shop;
mod shop_entry;
mod when;
