//! Query strings as the original reads them: repeatable keys (`sort_by`, `packages`,
//! `distinct_on`), and the v1 pagination arguments.

use crate::error::ApiError;
use conda_store_service::Page;

/// The decoded `key=value` pairs of a query string, in order.
#[derive(Debug, Clone, Default)]
pub struct QueryParameters(Vec<(String, String)>);

impl QueryParameters {
    /// Decodes a raw query string (absent means empty).
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The last value of `key` (the one FastAPI keeps), if given and not empty.
    pub fn get(&self, key: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(name, value)| name == key && !value.is_empty())
            .map(|(_, value)| value.clone())
    }

    /// Every value of a repeatable `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// An integer argument; 400 naming it when it is not one.
    pub fn integer<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, ApiError> {
        self.get(key)
            .map(|value| {
                value.parse().map_err(|_| {
                    ApiError::bad_request(format!("query parameter {key} must be an integer"))
                })
            })
            .transpose()
    }

    /// A boolean flag as FastAPI reads one (`true`, `1`, `yes`, `on`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|value| {
            matches!(
                value.to_ascii_lowercase().as_str(),
                "true" | "1" | "yes" | "on"
            )
        })
    }

    /// How many items a page holds: the integer parameter `name`, else
    /// `max_page_size`, never more than `max_page_size` nor less than 1 (the one rule
    /// every list route applies).
    pub fn page_size(&self, name: &str, max_page_size: u64) -> Result<u64, ApiError> {
        Ok(self
            .integer::<u64>(name)?
            .unwrap_or(max_page_size)
            .clamp(1, max_page_size.max(1)))
    }

    /// The v1 pagination: `page` (from 1), `size` capped at `max_page_size`, the
    /// repeatable `sort_by`, and `order` (`desc`, anything else ascending).
    pub fn page(&self, max_page_size: u64) -> Result<Page, ApiError> {
        let number = self.integer::<u64>("page")?.unwrap_or(1).max(1);
        let size = self.page_size("size", max_page_size)?;
        Ok(Page {
            number,
            size,
            sort_by: self.all("sort_by"),
            descending: self.get("order").as_deref() == Some("desc"),
        })
    }
}
