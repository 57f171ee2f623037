//! Zoom's paged lists, read in one place: the lists of users, groups and a host's meetings all
//! page with `next_page_token`, and all need the same restart when a token expires mid-list.

use super::Inner;
use super::http::Label;
use crate::platform::PlatformError;
use crate::session::PlatformKind;

/// Largest page Zoom allows on the lists used: `GET /users/{userId}/meetings` `page_size` max 300
/// (meetings.openapi.json); `GET /groups` max 300; `GET /users` max 2000, 300 is used as asked.
pub(super) const PAGE_SIZE: &str = "300";

/// A guard against a server that keeps handing out `next_page_token`s.
const MAX_PAGES: usize = 10_000;

impl Inner {
    /// Reads every page of a list. Zoom's `next_page_token` expires after 15 minutes (zoom.md §3):
    /// when a token is refused mid-list, the list is read again from the first page, once, and
    /// the partial pages are dropped so nothing is counted twice.
    pub(super) async fn pages<T>(
        &self,
        path: &str,
        query: &[(&'static str, &str)],
        next: impl Fn(&T) -> Option<String>,
    ) -> Result<Vec<T>, PlatformError>
    where
        T: serde::de::DeserializeOwned,
    {
        let mut restarted = false;
        'list: loop {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let mut q: Vec<(&'static str, String)> =
                    query.iter().map(|(k, v)| (*k, v.to_string())).collect();
                if let Some(t) = &token {
                    q.push(("next_page_token", t.clone()));
                }
                let page: T = match self.http.get(Label::Medium, path.to_string(), q).await {
                    Err(PlatformError::Api {
                        status: 400,
                        message,
                        ..
                    }) if token.is_some()
                        && !restarted
                        && message.to_ascii_lowercase().contains("page token") =>
                    {
                        tracing::info!(path, "a page token expired; reading the list again");
                        restarted = true;
                        continue 'list;
                    }
                    other => other?,
                };
                token = next(&page).filter(|t| !t.is_empty());
                pages.push(page);
                if token.is_none() {
                    return Ok(pages);
                }
            }
            return Err(PlatformError::Decode {
                platform: PlatformKind::Zoom,
                path: path.to_string(),
                message: format!("more than {MAX_PAGES} pages; stopped"),
            });
        }
    }
}
