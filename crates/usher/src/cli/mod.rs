//! The subcommands, and what the servers' settings share: [`settings`] (one declaration per
//! setting, flags over file over defaults), [`duration`] (the one duration parser) and
//! [`connections`] (the public listener's settings, the same for every server).

mod connections;
pub(crate) mod crowd;
pub(crate) mod demo;
mod duration;
pub(crate) mod gate;
mod gate_side;
mod item_session;
pub(crate) mod keys;
pub(crate) mod reception;
mod settings;
pub(crate) mod shop;
mod shop_entry;
mod when;

/// `error` and its causes on one line, each said once: a cause whose words its parent already
/// ends with (`nope.toml: No such file or directory`, whose source is that same OS error) is
/// not repeated.
pub(crate) fn report(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::report;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Wrapped {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn each_error_is_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let wrapped = anyhow::Error::from(Wrapped {
            path: "nope.toml".into(),
            source: io,
        });
        assert_eq!(report(&wrapped), "nope.toml: entity not found");
        let chained = anyhow::anyhow!("disk full").context("cannot save the line");
        assert_eq!(report(&chained), "cannot save the line: disk full");
    }
}
