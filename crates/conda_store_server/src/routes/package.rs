//! `/api/v1/channel/` and `/api/v1/package/`.

use crate::AppState;
use crate::envelope::Paginated;
use crate::error::ApiResult;
use crate::params::QueryParameters;
use axum::extract::{RawQuery, State};
use conda_store_service::PackageFilter;
use conda_store_service::views::{ChannelView, PackageView};
use std::sync::Arc;

/// `GET /api/v1/channel/`.
pub async fn channels(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Paginated<ChannelView>> {
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    Ok(Paginated::from(state.service.list_channels(&page).await?))
}

/// `GET /api/v1/package/`: `search`, `exact`, `build`, and `distinct_on` (one row per
/// distinct channel/name/version combination, on every backend).
pub async fn packages(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Paginated<PackageView>> {
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    let filter = PackageFilter {
        search: parameters.get("search"),
        exact: parameters.flag("exact"),
        build: parameters.get("build"),
        distinct_on: parameters
            .all("distinct_on")
            .into_iter()
            .filter(|key| ["channel", "name", "version"].contains(&key.as_str()))
            .collect(),
    };
    Ok(Paginated::from(
        state.service.list_packages(&filter, &page).await?,
    ))
}
