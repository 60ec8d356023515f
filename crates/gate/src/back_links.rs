//! Where refused buyers are sent back: the reception's public URL, as the operator set it, or
//! as a reception said in its welcome on the management link, or the configured default.

use std::sync::{PoisonError, RwLock};

use crate::config::GateConfig;

/// The longest reception URL a welcome may set.
pub const MAX_RECEPTION_URL: usize = 1024;

/// See the module documentation.
#[derive(Debug)]
pub struct BackLinks {
    /// The configured URL (no trailing slash).
    configured: String,
    /// The operator set it: a welcome does not change it.
    fixed: bool,
    /// What the last welcome said.
    learnt: RwLock<Option<String>>,
}

impl BackLinks {
    /// The links back of a gate with `config`, until a welcome says otherwise.
    pub fn new(config: &GateConfig) -> BackLinks {
        BackLinks {
            configured: config.reception_url.clone(),
            fixed: config.reception_url_fixed,
            learnt: RwLock::new(None),
        }
    }

    /// A reception's public URL, as its welcome said: the links back lead there from now on,
    /// unless the operator set one. Ignored unless it is an `http(s)://` URL of at most
    /// [`MAX_RECEPTION_URL`] visible characters with nothing HTML or a header would misread,
    /// and no query or fragment (the links append a path).
    pub fn learn(&self, url: &str) {
        let url = url.trim_end_matches('/');
        let plain = url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"'<>\\`?#".contains(&b));
        let web = url.starts_with("http://") || url.starts_with("https://");
        if self.fixed || !plain || !web || url.len() > MAX_RECEPTION_URL {
            return;
        }
        *self.learnt.write().unwrap_or_else(PoisonError::into_inner) = Some(url.to_owned());
    }

    /// Where a refused client for `item` starts again.
    pub fn retry_url(&self, item: Option<&str>) -> String {
        let learnt = self.learnt.read().unwrap_or_else(PoisonError::into_inner);
        let reception = learnt.as_deref().unwrap_or(&self.configured);
        match item {
            Some(item) => format!("{reception}/order/{item}"),
            None => format!("{reception}/"),
        }
    }
}
