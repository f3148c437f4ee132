//! How long a browser or a CDN may keep each kind of response: one table, beside the key layout
//! ([`crate::layout`]), for what the workers store with each object and what the api answers, so
//! the two can no longer disagree (they did: stored playlists said 10 s, `/play` said 60 s).

/// Every kind of response the platform caches differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Segments, init segments, sprite sheets, downloads: a key is never rewritten with other bytes
    /// (a re-encode writes a new generation), so any cache may keep them for a year.
    Immutable,
    /// A finished playlist or manifest, a poster, a generated image: rewritten only by a reprocess,
    /// after which a minute of the old copy still plays (the old generation stays until replaced).
    Mutable,
    /// A growing (`EVENT`) playlist while the first encode runs: it changes every few seconds.
    Growing,
    /// The public watch and embed pages, which carry no secret.
    PublicPage,
    /// oEmbed answers: the card of a link changes only with the video's title.
    Card,
    /// Bundled page assets: versioned with the binary, so revalidated to pick up an upgrade at once.
    Revalidate,
    /// Anything holding a capability or an expiring URL (signed pages, upload state): never kept.
    Private,
}

impl Caching {
    /// Seconds a cache may keep the response; `None` for the kinds that are never kept fresh.
    pub const fn max_age(self) -> Option<u64> {
        match self {
            Self::Immutable => Some(31_536_000),
            Self::Mutable => Some(60),
            Self::Growing => Some(1),
            Self::PublicPage => Some(60),
            Self::Card => Some(300),
            Self::Revalidate | Self::Private => None,
        }
    }

    /// The `Cache-Control` value, its max-age capped at `cap` seconds (a signed URL's remaining
    /// life: no cache may keep an answer past its signature).
    pub fn header(self, cap: Option<u64>) -> String {
        match (self, self.max_age()) {
            (Self::Revalidate, _) => "no-cache".to_owned(),
            (_, None) => "no-store".to_owned(),
            (_, Some(age)) => {
                let age = cap.map_or(age, |c| c.min(age));
                if self == Self::Immutable {
                    format!("public, max-age={age}, immutable")
                } else {
                    format!("public, max-age={age}")
                }
            }
        }
    }

    /// [`Self::header`] with no cap: objects written to the store, and answers no signature expires.
    pub fn uncapped(self) -> String {
        self.header(None)
    }
}

#[cfg(test)]
mod tests {
    use super::Caching;

    #[test]
    fn every_kind_has_one_value_and_caps_never_lengthen_it() {
        assert_eq!(
            Caching::Immutable.uncapped(),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(Caching::Mutable.uncapped(), "public, max-age=60");
        assert_eq!(Caching::Growing.header(Some(30)), "public, max-age=1");
        assert_eq!(Caching::Mutable.header(Some(5)), "public, max-age=5");
        assert_eq!(Caching::Private.header(Some(5)), "no-store");
        assert_eq!(Caching::Revalidate.uncapped(), "no-cache");
    }
}
