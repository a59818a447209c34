//! The read use-cases: lists with the original's filters, sorting and pagination, and
//! single lookups, restricted to what the caller may see.
//!
//! Visibility follows the Python conda-store: a namespace or environment is listed
//! when any of the caller's role-binding ARN patterns matches it, whatever the role.

use crate::views::{
    ArtifactView, BuildView, ChannelView, EnvironmentView, NamespaceSummary, NamespaceUsage,
    NamespaceView, PackageView, RoleMappingV2View, RoleMappingView, SpecificationView,
};
use crate::{Service, ServiceError};
use conda_store_core::authorization::{SQL_LIKE_ESCAPE, sql_like_pattern};
use conda_store_db::entity::{
    build, build_artifact, build_conda_package_build, conda_channel, conda_package,
    conda_package_build, environment, namespace, namespace_role_mapping, namespace_role_mapping_v2,
    specification,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, JoinType, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, RelationTrait, Select,
};
use std::collections::{BTreeMap, HashMap};

/// Which namespaces and environments a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Everything (internal callers).
    Everything,
    /// What these `(namespace, name)` glob pairs match; `*` matches any run of
    /// characters. These are the caller's role-binding ARN patterns.
    Patterns(Vec<(String, String)>),
}

impl Visibility {
    /// What these `(namespace, name)` glob pairs match: [`Visibility::Everything`] when
    /// one of them is `*`/`*`, so the list queries need no name conditions at all.
    pub fn of_patterns(patterns: Vec<(String, String)>) -> Self {
        if patterns
            .iter()
            .any(|(namespace, name)| namespace == "*" && name == "*")
        {
            Self::Everything
        } else {
            Self::Patterns(patterns)
        }
    }
}

/// Which page of a list, and in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: u64,
    /// Rows per page (already capped by the caller).
    pub size: u64,
    /// Sort keys in order; keys a list does not know are ignored.
    pub sort_by: Vec<String>,
    /// Descending order.
    pub descending: bool,
}

impl Page {
    /// Whether rows come after this page in a list of `count` rows (no overflow for
    /// any page number a request may carry).
    pub fn has_next(&self, count: u64) -> bool {
        self.number.saturating_mul(self.size) < count
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            number: 1,
            size: 100,
            sort_by: Vec::new(),
            descending: false,
        }
    }
}

/// One page of a list and the total row count.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filters, before pagination.
    pub count: u64,
    /// The page number.
    pub page: u64,
    /// The page size.
    pub size: u64,
}

/// Filters of the environment lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentFilter {
    /// Substring of the namespace or environment name.
    pub search: Option<String>,
    /// Exact namespace name.
    pub namespace: Option<String>,
    /// Exact environment name.
    pub name: Option<String>,
    /// Status of the current build.
    pub status: Option<String>,
    /// Package names the current build must all contain.
    pub packages: Vec<String>,
    /// Artifact type the current build must have.
    pub artifact: Option<String>,
    /// A second visibility the rows must also pass (the `jwt` filter: what another
    /// token may see).
    pub also_visible_to: Option<Visibility>,
}

/// Where a keyset page of environments starts: after the row with `last_id`, whose
/// sort-key values were `last_values` (in the order of the sort keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentCursor {
    /// Id of the last row of the previous page.
    pub last_id: i32,
    /// Its values of the sort keys.
    pub last_values: Vec<String>,
}

/// Filters of the build list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    /// Build status.
    pub status: Option<String>,
    /// Artifact type the build must have.
    pub artifact: Option<String>,
    /// Its environment.
    pub environment_id: Option<i32>,
    /// Environment name.
    pub name: Option<String>,
    /// Namespace name.
    pub namespace: Option<String>,
    /// Package names the build must all contain.
    pub packages: Vec<String>,
    /// Leave out deleted builds (the API's list shows them, as the original's does).
    pub exclude_deleted: bool,
}

/// Filters of the package lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFilter {
    /// Substring (or, with `exact`, the whole) package name.
    pub search: Option<String>,
    /// Match `search` exactly.
    pub exact: bool,
    /// Substring of a build string.
    pub build: Option<String>,
    /// Keep one row per distinct combination of these (`channel`, `name`, `version`).
    pub distinct_on: Vec<String>,
}

/// A build with what its authorization needs: the ARN parts of its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedBuild {
    /// The build.
    pub build: BuildView,
    /// Its namespace name.
    pub namespace: String,
    /// Its environment name.
    pub environment: String,
}

impl Service {
    /// Namespaces (not deleted) the caller may see, sorted by name unless asked.
    pub async fn list_namespaces(
        &self,
        visibility: &Visibility,
        page: &Page,
    ) -> Result<Listing<NamespaceSummary>, ServiceError> {
        let mut select = namespace::Entity::find()
            .filter(namespace::Column::DeletedOn.is_null())
            .filter(namespace_visibility(visibility));
        for key in sort_keys(page, &["name"], &["name"]) {
            if key == "name" {
                select = select.order_by(namespace::Column::Name, order(page));
            }
        }
        let select = select.order_by(namespace::Column::Id, order(page));
        let (rows, count) = paginate(self, select, page).await?;
        let items = rows
            .into_iter()
            .map(|row| NamespaceSummary {
                id: row.id,
                name: row.name.unwrap_or_default(),
            })
            .collect();
        Ok(listing(items, count, page))
    }

    /// A namespace (not deleted) with its v1 role mappings.
    pub async fn namespace(&self, name: &str) -> Result<Option<NamespaceView>, ServiceError> {
        let Some(row) = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name))
            .filter(namespace::Column::DeletedOn.is_null())
            .one(&self.database)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.namespace_views(vec![row]).await?.into_values().next())
    }

    /// The v2 role mappings that share `namespace` with other namespaces.
    pub async fn namespace_role_mappings_v2(
        &self,
        namespace_name: &str,
    ) -> Result<Vec<RoleMappingV2View>, ServiceError> {
        let namespace_row = self.existing_namespace(namespace_name).await?;
        let rows = namespace_role_mapping_v2::Entity::find()
            .filter(namespace_role_mapping_v2::Column::NamespaceId.eq(namespace_row.id))
            .order_by_asc(namespace_role_mapping_v2::Column::Id)
            .all(&self.database)
            .await?;
        let names = self
            .namespace_names(rows.iter().map(|row| row.other_namespace_id))
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| RoleMappingV2View {
                id: row.id,
                namespace: namespace_name.to_owned(),
                other_namespace: names
                    .get(&row.other_namespace_id)
                    .cloned()
                    .unwrap_or_default(),
                role: row.role,
            })
            .collect())
    }

    /// Environments (not deleted) the caller may see, with the list filters.
    pub async fn list_environments(
        &self,
        visibility: &Visibility,
        filter: &EnvironmentFilter,
        page: &Page,
    ) -> Result<Listing<EnvironmentView>, ServiceError> {
        let mut select = environment_query(visibility, filter);
        for key in sort_keys(page, &["namespace", "name"], &["namespace", "name"]) {
            select = match key {
                "namespace" => select.order_by(
                    Expr::col((namespace::Entity, namespace::Column::Name)),
                    order(page),
                ),
                _ => select.order_by(environment::Column::Name, order(page)),
            };
        }
        let select = select.order_by(environment::Column::Id, order(page));
        let count = count_rows(self, &select).await?;
        let rows = select
            .offset(offset(page))
            .limit(page.size)
            .select_also(namespace::Entity)
            .all(&self.database)
            .await?;
        let items = self.environment_views(rows).await?;
        Ok(listing(items, count, page))
    }

    /// A keyset page of environments (the v2 list): sorted by `sort_by` (`namespace`,
    /// `name`) then id, starting after `after`; and the count of all matching rows.
    pub async fn list_environments_after(
        &self,
        visibility: &Visibility,
        filter: &EnvironmentFilter,
        sort_by: &[String],
        descending: bool,
        after: Option<&EnvironmentCursor>,
        limit: u64,
    ) -> Result<(Vec<EnvironmentView>, u64), ServiceError> {
        let select = environment_query(visibility, filter);
        let count = select.clone().count(&self.database).await?;
        let columns: Vec<Expr> = sort_by
            .iter()
            .map(|key| match key.as_str() {
                "namespace" => namespace_name_column(),
                _ => environment_name_column(),
            })
            .chain([Expr::col((environment::Entity, environment::Column::Id))])
            .collect();
        let mut select = select;
        if let Some(after) = after {
            let values: Vec<Expr> = after
                .last_values
                .iter()
                .map(|value| Expr::value(value.clone()))
                .chain([Expr::value(after.last_id)])
                .collect();
            let left = Expr::tuple(columns.clone());
            let right = Expr::tuple(values);
            select = select.filter(if descending {
                left.lt(right)
            } else {
                left.gt(right)
            });
        }
        let direction = if descending { Order::Desc } else { Order::Asc };
        for column in columns {
            select = select.order_by(column, direction.clone());
        }
        let rows = select
            .limit(sql_bound(limit))
            .select_also(namespace::Entity)
            .all(&self.database)
            .await?;
        Ok((self.environment_views(rows).await?, count))
    }

    /// Prometheus gauges with the original's metric names: disk figures, builds per
    /// status (only statuses present), environments.
    pub async fn metrics(&self) -> Result<Vec<(String, &'static str, i64)>, ServiceError> {
        let mut figures = Vec::new();
        if let Some(row) = conda_store_db::entity::conda_store_configuration::Entity::find()
            .one(&self.database)
            .await?
        {
            figures.push((
                "conda_store_disk_free".to_owned(),
                "free bytes under the store",
                row.free_storage.unwrap_or(0),
            ));
            figures.push((
                "conda_store_disk_total".to_owned(),
                "total bytes of the store's disk",
                row.total_storage.unwrap_or(0),
            ));
            figures.push((
                "conda_store_disk_usage".to_owned(),
                "bytes used by the store",
                row.disk_usage.unwrap_or(0),
            ));
        }
        let statuses: Vec<(Option<String>, i64)> = build::Entity::find()
            .select_only()
            .column(build::Column::Status)
            .column_as(Expr::col(build::Column::Id).count(), "count")
            .group_by(build::Column::Status)
            .into_tuple()
            .all(&self.database)
            .await?;
        let mut statuses: Vec<(String, i64)> = statuses
            .into_iter()
            .filter_map(|(status, count)| Some((status?.to_lowercase(), count)))
            .collect();
        statuses.sort();
        for (status, count) in statuses {
            figures.push((
                format!("conda_store_build_{status}"),
                "builds with this status",
                count,
            ));
        }
        let environments = environment::Entity::find()
            .filter(environment::Column::DeletedOn.is_null())
            .count(&self.database)
            .await?;
        figures.push((
            "conda_store_environments".to_owned(),
            "environments",
            i64::try_from(environments).unwrap_or(i64::MAX),
        ));
        Ok(figures)
    }

    /// The environment `name` of `namespace`, unless deleted.
    pub async fn environment(
        &self,
        namespace_name: &str,
        name: &str,
    ) -> Result<Option<EnvironmentView>, ServiceError> {
        let filter = EnvironmentFilter {
            namespace: Some(namespace_name.to_owned()),
            name: Some(name.to_owned()),
            ..EnvironmentFilter::default()
        };
        let rows = environment_query(&Visibility::Everything, &filter)
            .select_also(namespace::Entity)
            .all(&self.database)
            .await?;
        Ok(self.environment_views(rows).await?.into_iter().next())
    }

    /// Builds (deleted ones included, as in the original) the caller may see.
    pub async fn list_builds(
        &self,
        visibility: &Visibility,
        filter: &BuildFilter,
        page: &Page,
    ) -> Result<Listing<BuildView>, ServiceError> {
        let mut select = build_query(visibility, filter);
        for key in sort_keys(
            page,
            &["id", "started_on", "scheduled_on", "ended_on"],
            &["id"],
        ) {
            let column = match key {
                "started_on" => build::Column::StartedOn,
                "scheduled_on" => build::Column::ScheduledOn,
                "ended_on" => build::Column::EndedOn,
                _ => build::Column::Id,
            };
            select = select.order_by(column, order(page));
        }
        let select = select.order_by(build::Column::Id, order(page));
        let count = count_rows(self, &select).await?;
        // The page's ids first, then their rows: sorting and skipping narrow rows is
        // what keeps a late page about as fast as the first on PostgreSQL.
        let ids: Vec<i32> = select
            .select_only()
            .column(build::Column::Id)
            .offset(offset(page))
            .limit(page.size)
            .into_tuple()
            .all(&self.database)
            .await?;
        let mut rows: HashMap<i32, build::Model> = build::Entity::find()
            .filter(build::Column::Id.is_in(ids.iter().copied()))
            .all(&self.database)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        let items = ids
            .iter()
            .filter_map(|id| rows.remove(id))
            .map(build_view)
            .collect();
        Ok(listing(items, count, page))
    }

    /// The ARN (`namespace/environment`) of a build's environment, in one query: what
    /// authorizing a request on the build needs.
    pub async fn build_arn(&self, build_id: i32) -> Result<Option<String>, ServiceError> {
        let row: Option<(Option<String>, String)> = build::Entity::find_by_id(build_id)
            .select_only()
            .column(namespace::Column::Name)
            .column(environment::Column::Name)
            .join(JoinType::InnerJoin, build::Relation::Environment.def())
            .join(JoinType::InnerJoin, environment::Relation::Namespace.def())
            .into_tuple()
            .one(&self.database)
            .await?;
        Ok(row.map(|(namespace, environment)| {
            format!("{}/{environment}", namespace.unwrap_or_default())
        }))
    }

    /// A build with its specification and artifacts, and where it lives.
    pub async fn build(&self, build_id: i32) -> Result<Option<LocatedBuild>, ServiceError> {
        let Some(row) = build::Entity::find_by_id(build_id)
            .one(&self.database)
            .await?
        else {
            return Ok(None);
        };
        let Some(environment_row) = environment::Entity::find_by_id(row.environment_id)
            .one(&self.database)
            .await?
        else {
            return Ok(None);
        };
        let namespace_name = self
            .namespace_names([environment_row.namespace_id])
            .await?
            .remove(&environment_row.namespace_id)
            .unwrap_or_default();
        let specification_row = specification::Entity::find_by_id(row.specification_id)
            .one(&self.database)
            .await?;
        let artifacts = build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(build_id))
            .order_by_asc(build_artifact::Column::Id)
            .all(&self.database)
            .await?;
        let mut view = build_view(row);
        view.specification = specification_row.map(|row| SpecificationView {
            id: row.id,
            name: row.name,
            spec: {
                // Channel credentials stay in the stored row (rebuilds need them) but
                // are never shown.
                let mut spec = row.spec;
                conda_store_core::redaction::redact_json(&mut spec);
                spec
            },
            sha256: row.sha256,
            created_on: row.created_on,
        });
        view.build_artifacts = Some(
            artifacts
                .into_iter()
                .map(|row| ArtifactView {
                    id: row.id,
                    artifact_type: row.artifact_type,
                    key: row.key,
                })
                .collect(),
        );
        Ok(Some(LocatedBuild {
            build: view,
            namespace: namespace_name,
            environment: environment_row.name,
        }))
    }

    /// The status of a build (`QUEUED`, ..., `CANCELED`); none when it does not exist.
    /// Cheap enough to poll, which the live build log does.
    pub async fn build_status(&self, build_id: i32) -> Result<Option<String>, ServiceError> {
        let status: Option<Option<String>> = build::Entity::find_by_id(build_id)
            .select_only()
            .column(build::Column::Status)
            .into_tuple()
            .one(&self.database)
            .await?;
        Ok(status.flatten())
    }

    /// The storage key of a build's `artifact`, if it has one.
    pub async fn artifact_key(
        &self,
        build_id: i32,
        artifact: conda_store_core::domain::BuildArtifactType,
    ) -> Result<Option<String>, ServiceError> {
        Ok(build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(build_id))
            .filter(build_artifact::Column::ArtifactType.eq(artifact.as_str()))
            .order_by_desc(build_artifact::Column::Id)
            .one(&self.database)
            .await?
            .and_then(|row| row.key))
    }

    /// The conda packages installed in a build.
    pub async fn build_packages(
        &self,
        build_id: i32,
        filter: &PackageFilter,
        page: &Page,
    ) -> Result<Listing<PackageView>, ServiceError> {
        let installed = Query::select()
            .column((
                conda_package_build::Entity,
                conda_package_build::Column::PackageId,
            ))
            .from(build_conda_package_build::Entity)
            .inner_join(
                conda_package_build::Entity,
                Expr::col((conda_package_build::Entity, conda_package_build::Column::Id)).equals((
                    build_conda_package_build::Entity,
                    build_conda_package_build::Column::CondaPackageBuildId,
                )),
            )
            .and_where(
                Expr::col((
                    build_conda_package_build::Entity,
                    build_conda_package_build::Column::BuildId,
                ))
                .eq(build_id),
            )
            .to_owned();
        let select = package_query(filter).filter(conda_package::Column::Id.in_subquery(installed));
        self.package_listing(select, page).await
    }

    /// Conda packages of every channel, with the list filters (`distinct_on` included,
    /// on every backend).
    pub async fn list_packages(
        &self,
        filter: &PackageFilter,
        page: &Page,
    ) -> Result<Listing<PackageView>, ServiceError> {
        let mut select = package_query(filter);
        if !filter.distinct_on.is_empty() {
            select = select.filter(conda_package::Column::Id.in_subquery(distinct_rows(filter)));
        }
        self.package_listing(select, page).await
    }

    /// Conda channels, sorted by name unless asked.
    pub async fn list_channels(&self, page: &Page) -> Result<Listing<ChannelView>, ServiceError> {
        let mut select = conda_channel::Entity::find();
        for key in sort_keys(page, &["name"], &["name"]) {
            if key == "name" {
                select = select.order_by(conda_channel::Column::Name, order(page));
            }
        }
        let select = select.order_by(conda_channel::Column::Id, order(page));
        let (rows, count) = paginate(self, select, page).await?;
        let items = rows
            .into_iter()
            .map(|row| ChannelView {
                id: row.id,
                name: row.name,
                last_update: row.last_update,
            })
            .collect();
        Ok(listing(items, count, page))
    }

    /// Environment count, build count and storage of each visible namespace.
    pub async fn usage(
        &self,
        visibility: &Visibility,
    ) -> Result<BTreeMap<String, NamespaceUsage>, ServiceError> {
        let namespaces = namespace::Entity::find()
            .filter(namespace::Column::DeletedOn.is_null())
            .filter(namespace_visibility(visibility))
            .all(&self.database)
            .await?;
        let ids: Vec<i32> = namespaces.iter().map(|row| row.id).collect();
        let environments: Vec<(i32, i32)> = environment::Entity::find()
            .select_only()
            .column(environment::Column::Id)
            .column(environment::Column::NamespaceId)
            .filter(environment::Column::DeletedOn.is_null())
            .filter(environment::Column::NamespaceId.is_in(ids))
            .into_tuple()
            .all(&self.database)
            .await?;
        let namespace_of: HashMap<i32, i32> = environments.iter().copied().collect();
        let builds: Vec<(i32, Option<i64>)> = build::Entity::find()
            .select_only()
            .column(build::Column::EnvironmentId)
            .column(build::Column::Size)
            .filter(build::Column::DeletedOn.is_null())
            .filter(build::Column::EnvironmentId.is_in(namespace_of.keys().copied()))
            .into_tuple()
            .all(&self.database)
            .await?;
        let mut usage: HashMap<i32, NamespaceUsage> = HashMap::new();
        for (_, namespace_id) in &environments {
            usage
                .entry(*namespace_id)
                .or_insert_with(NamespaceUsage::empty)
                .num_environments += 1;
        }
        for (environment_id, size) in builds {
            let Some(namespace_id) = namespace_of.get(&environment_id) else {
                continue;
            };
            let entry = usage
                .entry(*namespace_id)
                .or_insert_with(NamespaceUsage::empty);
            entry.num_builds += 1;
            entry.storage = Some(entry.storage.unwrap_or(0) + size.unwrap_or(0));
        }
        Ok(namespaces
            .into_iter()
            .map(|row| {
                let figures = usage.remove(&row.id).unwrap_or_else(NamespaceUsage::empty);
                (row.name.unwrap_or_default(), figures)
            })
            .collect())
    }

    async fn package_listing(
        &self,
        select: Select<conda_package::Entity>,
        page: &Page,
    ) -> Result<Listing<PackageView>, ServiceError> {
        let mut select = select;
        for key in sort_keys(
            page,
            &["channel", "name", "version"],
            &["channel", "name", "version"],
        ) {
            select = match key {
                "channel" => select.order_by(
                    Expr::col((conda_channel::Entity, conda_channel::Column::Name)),
                    order(page),
                ),
                "name" => select.order_by(conda_package::Column::Name, order(page)),
                _ => select.order_by(conda_package::Column::Version, order(page)),
            };
        }
        let select = select.order_by(conda_package::Column::Id, order(page));
        let count = count_rows(self, &select).await?;
        let rows = select
            .select_also(conda_channel::Entity)
            .offset(offset(page))
            .limit(page.size)
            .all(&self.database)
            .await?;
        let items = rows
            .into_iter()
            .map(|(package, channel)| PackageView {
                id: package.id,
                channel: channel.map_or_else(
                    || ChannelView {
                        id: package.channel_id.unwrap_or_default(),
                        name: String::new(),
                        last_update: None,
                    },
                    |channel| ChannelView {
                        id: channel.id,
                        name: channel.name,
                        last_update: None,
                    },
                ),
                license: package.license,
                name: package.name,
                version: package.version,
                summary: package.summary,
            })
            .collect();
        Ok(listing(items, count, page))
    }

    /// The namespace `name`, not deleted, or NotFound.
    pub(crate) async fn existing_namespace(
        &self,
        name: &str,
    ) -> Result<namespace::Model, ServiceError> {
        namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name))
            .filter(namespace::Column::DeletedOn.is_null())
            .one(&self.database)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("namespace {name}")))
    }

    async fn namespace_names(
        &self,
        ids: impl IntoIterator<Item = i32>,
    ) -> Result<HashMap<i32, String>, ServiceError> {
        let ids: Vec<i32> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(namespace::Entity::find()
            .filter(namespace::Column::Id.is_in(ids))
            .all(&self.database)
            .await?
            .into_iter()
            .map(|row| (row.id, row.name.unwrap_or_default()))
            .collect())
    }

    /// Namespace views (with v1 role mappings) by id, in two queries.
    async fn namespace_views(
        &self,
        rows: Vec<namespace::Model>,
    ) -> Result<HashMap<i32, NamespaceView>, ServiceError> {
        let ids: Vec<i32> = rows.iter().map(|row| row.id).collect();
        let mut mappings: HashMap<i32, Vec<RoleMappingView>> = HashMap::new();
        if !ids.is_empty() {
            for row in namespace_role_mapping::Entity::find()
                .filter(namespace_role_mapping::Column::NamespaceId.is_in(ids))
                .order_by_asc(namespace_role_mapping::Column::Id)
                .all(&self.database)
                .await?
            {
                mappings
                    .entry(row.namespace_id)
                    .or_default()
                    .push(RoleMappingView {
                        id: row.id,
                        entity: row.entity,
                        role: row.role,
                    });
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let view = NamespaceView {
                    id: row.id,
                    name: row.name.unwrap_or_default(),
                    metadata_: row.metadata_,
                    role_mappings: mappings.remove(&row.id).unwrap_or_default(),
                };
                (row.id, view)
            })
            .collect())
    }

    /// Environment views from environment rows with their namespace (the environment
    /// queries join it), and the namespaces' role mappings in one more query.
    async fn environment_views(
        &self,
        rows: Vec<(environment::Model, Option<namespace::Model>)>,
    ) -> Result<Vec<EnvironmentView>, ServiceError> {
        let mut namespaces: Vec<namespace::Model> = rows
            .iter()
            .filter_map(|(_, namespace)| namespace.clone())
            .collect();
        namespaces.sort_unstable_by_key(|namespace| namespace.id);
        namespaces.dedup_by_key(|namespace| namespace.id);
        let namespaces = self.namespace_views(namespaces).await?;
        let rows: Vec<environment::Model> = rows.into_iter().map(|(row, _)| row).collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let namespace = namespaces.get(&row.namespace_id)?.clone();
                Some(EnvironmentView {
                    id: row.id,
                    namespace,
                    name: row.name,
                    current_build_id: row.current_build_id,
                    current_build: None,
                    description: row.description,
                })
            })
            .collect())
    }
}

/// The first page's offset is 0; capped at the largest offset SQL takes.
fn offset(page: &Page) -> u64 {
    sql_bound(page.number.saturating_sub(1).saturating_mul(page.size))
}

/// `value` capped at `i64::MAX`, the largest LIMIT or OFFSET the drivers bind (a
/// larger one panics in sea-query's SQLite binding).
fn sql_bound(value: u64) -> u64 {
    Ord::min(value, i64::MAX.unsigned_abs())
}

fn order(page: &Page) -> Order {
    if page.descending {
        Order::Desc
    } else {
        Order::Asc
    }
}

/// The known sort keys asked for, or the defaults when none is known.
fn sort_keys<'a>(page: &'a Page, known: &[&str], defaults: &[&'a str]) -> Vec<&'a str> {
    let asked: Vec<&str> = page
        .sort_by
        .iter()
        .map(String::as_str)
        .filter(|key| known.contains(key))
        .collect();
    if asked.is_empty() && page.sort_by.is_empty() {
        defaults.to_vec()
    } else {
        asked
    }
}

fn listing<T>(items: Vec<T>, count: u64, page: &Page) -> Listing<T> {
    Listing {
        items,
        count,
        page: page.number,
        size: page.size,
    }
}

async fn paginate<E: EntityTrait>(
    service: &Service,
    select: Select<E>,
    page: &Page,
) -> Result<(Vec<E::Model>, u64), ServiceError>
where
    E::Model: Send + Sync,
{
    let count = count_rows(service, &select).await?;
    let rows = select
        .offset(offset(page))
        .limit(page.size)
        .all(&service.database)
        .await?;
    Ok((rows, count))
}

/// How many rows `select` finds: `SELECT COUNT(*)` over its joins and filters, without
/// its column list and ORDER BY (counting a wrapped, ordered select of every column
/// made PostgreSQL sort all rows first).
async fn count_rows<E: EntityTrait>(
    service: &Service,
    select: &Select<E>,
) -> Result<u64, ServiceError> {
    let mut counting = select
        .clone()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "count");
    QueryTrait::query(&mut counting).clear_order_by();
    let count: Option<i64> = counting.into_tuple().one(&service.database).await?;
    Ok(count.map_or(0, |count| u64::try_from(count).unwrap_or(0)))
}

/// A LIKE expression for a glob: `*` matches any run, `%` and `_` are literal.
fn like_glob(glob: &str) -> LikeExpr {
    LikeExpr::new(sql_like_pattern(glob)).escape(SQL_LIKE_ESCAPE)
}

/// A LIKE pattern matching `text` anywhere.
fn like_substring(text: &str) -> LikeExpr {
    like_glob(&format!("*{}*", text.replace('*', "")))
}

fn namespace_name_column() -> Expr {
    Expr::col((namespace::Entity, namespace::Column::Name))
}

fn environment_name_column() -> Expr {
    Expr::col((environment::Entity, environment::Column::Name))
}

fn namespace_visibility(visibility: &Visibility) -> Condition {
    match visibility {
        Visibility::Everything => Condition::all(),
        Visibility::Patterns(patterns) => {
            patterns
                .iter()
                .fold(Condition::any(), |condition, (namespace_glob, _)| {
                    condition.add(namespace_name_column().like(like_glob(namespace_glob)))
                })
        }
    }
}

fn environment_visibility(visibility: &Visibility) -> Condition {
    match visibility {
        Visibility::Everything => Condition::all(),
        Visibility::Patterns(patterns) => patterns.iter().fold(
            Condition::any(),
            |condition, (namespace_glob, name_glob)| {
                condition.add(
                    Condition::all()
                        .add(namespace_name_column().like(like_glob(namespace_glob)))
                        .add(environment_name_column().like(like_glob(name_glob))),
                )
            },
        ),
    }
}

fn environment_query(
    visibility: &Visibility,
    filter: &EnvironmentFilter,
) -> Select<environment::Entity> {
    let mut select = environment::Entity::find()
        .join(JoinType::InnerJoin, environment::Relation::Namespace.def())
        .filter(environment::Column::DeletedOn.is_null())
        .filter(Expr::col((namespace::Entity, namespace::Column::DeletedOn)).is_null())
        .filter(environment_visibility(visibility));
    if let Some(also) = &filter.also_visible_to {
        select = select.filter(environment_visibility(also));
    }
    if let Some(search) = &filter.search {
        select = select.filter(
            Condition::any()
                .add(namespace_name_column().like(like_substring(search)))
                .add(environment_name_column().like(like_substring(search))),
        );
    }
    if let Some(name) = &filter.namespace {
        select = select.filter(namespace_name_column().eq(name.as_str()));
    }
    if let Some(name) = &filter.name {
        select = select.filter(environment::Column::Name.eq(name.as_str()));
    }
    let current_build = || Expr::col((environment::Entity, environment::Column::CurrentBuildId));
    if let Some(status) = &filter.status {
        let builds = Query::select()
            .column(build::Column::Id)
            .from(build::Entity)
            .and_where(build::Column::Status.eq(status.as_str()))
            .to_owned();
        select = select.filter(current_build().in_subquery(builds));
    }
    if let Some(artifact) = &filter.artifact {
        select = select.filter(current_build().in_subquery(builds_with_artifact(artifact)));
    }
    for package in &filter.packages {
        select = select.filter(current_build().in_subquery(builds_with_package(package)));
    }
    select
}

/// Builds of the environments `visibility` and the name filters keep. A join, not an
/// `environment_id IN (subquery)`: with bound LIKE patterns PostgreSQL's generic plan
/// guesses one visible environment and turns that subquery into a nested loop that
/// took 240 ms for page 90 of 10,000 builds; the join plans well either way.
///
/// Without name conditions (everything visible, no name filters) there is no join at
/// all: every build has its environment and namespace (foreign keys, NOT NULL), and
/// counting or skipping builds alone is several times cheaper.
fn build_query(visibility: &Visibility, filter: &BuildFilter) -> Select<build::Entity> {
    let mut select = build::Entity::find();
    let needs_names = *visibility != Visibility::Everything
        || filter.name.is_some()
        || filter.namespace.is_some();
    if needs_names {
        select = select
            .join(JoinType::InnerJoin, build::Relation::Environment.def())
            .join(JoinType::InnerJoin, environment::Relation::Namespace.def())
            .filter(environment_visibility(visibility));
    }
    if let Some(status) = &filter.status {
        select = select.filter(build::Column::Status.eq(status.as_str()));
    }
    if let Some(environment_id) = filter.environment_id {
        select = select.filter(build::Column::EnvironmentId.eq(environment_id));
    }
    if let Some(name) = &filter.name {
        select = select.filter(environment_name_column().eq(name.as_str()));
    }
    if let Some(name) = &filter.namespace {
        select = select.filter(namespace_name_column().eq(name.as_str()));
    }
    if let Some(artifact) = &filter.artifact {
        select = select.filter(build::Column::Id.in_subquery(builds_with_artifact(artifact)));
    }
    for package in &filter.packages {
        select = select.filter(build::Column::Id.in_subquery(builds_with_package(package)));
    }
    if filter.exclude_deleted {
        select = select.filter(build::Column::DeletedOn.is_null());
    }
    select
}

/// `SELECT build_id FROM build_artifact WHERE artifact_type = ?`
fn builds_with_artifact(artifact: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(build_artifact::Column::BuildId)
        .from(build_artifact::Entity)
        .and_where(build_artifact::Column::ArtifactType.eq(artifact))
        .to_owned()
}

/// The ids of builds that installed a package called `name`.
fn builds_with_package(name: &str) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column((
            build_conda_package_build::Entity,
            build_conda_package_build::Column::BuildId,
        ))
        .from(build_conda_package_build::Entity)
        .inner_join(
            conda_package_build::Entity,
            Expr::col((conda_package_build::Entity, conda_package_build::Column::Id)).equals((
                build_conda_package_build::Entity,
                build_conda_package_build::Column::CondaPackageBuildId,
            )),
        )
        .inner_join(
            conda_package::Entity,
            Expr::col((conda_package::Entity, conda_package::Column::Id)).equals((
                conda_package_build::Entity,
                conda_package_build::Column::PackageId,
            )),
        )
        .and_where(Expr::col((conda_package::Entity, conda_package::Column::Name)).eq(name))
        .to_owned()
}

fn package_query(filter: &PackageFilter) -> Select<conda_package::Entity> {
    let mut select = conda_package::Entity::find()
        .join(JoinType::LeftJoin, conda_package::Relation::Channel.def());
    if let Some(search) = &filter.search {
        select = if filter.exact {
            select.filter(conda_package::Column::Name.eq(search.as_str()))
        } else {
            select.filter(
                Expr::col((conda_package::Entity, conda_package::Column::Name))
                    .like(like_substring(search)),
            )
        };
    }
    if let Some(build_text) = &filter.build {
        let packages = Query::select()
            .column(conda_package_build::Column::PackageId)
            .from(conda_package_build::Entity)
            .and_where(
                Expr::col(conda_package_build::Column::Build).like(like_substring(build_text)),
            )
            .to_owned();
        select = select.filter(conda_package::Column::Id.in_subquery(packages));
    }
    select
}

/// One package id (the smallest) per distinct `distinct_on` combination, among the
/// rows the other filters keep.
fn distinct_rows(filter: &PackageFilter) -> sea_orm::sea_query::SelectStatement {
    let inner = PackageFilter {
        distinct_on: Vec::new(),
        ..filter.clone()
    };
    let alias = Alias::new("distinct_package");
    let mut select = package_query(&inner)
        .select_only()
        .column_as(
            SimpleExpr::from(Func::min(Expr::col((
                conda_package::Entity,
                conda_package::Column::Id,
            )))),
            "id",
        )
        .into_query();
    for key in &filter.distinct_on {
        let column = match key.as_str() {
            "channel" => conda_package::Column::ChannelId,
            "name" => conda_package::Column::Name,
            _ => conda_package::Column::Version,
        };
        select.add_group_by([Expr::col((conda_package::Entity, column))]);
    }
    // MySQL refuses a subquery on the table being read unless it is materialised.
    Query::select()
        .column((alias.clone(), Alias::new("id")))
        .from_subquery(select, alias)
        .to_owned()
}

fn build_view(row: build::Model) -> BuildView {
    BuildView {
        id: row.id,
        environment_id: row.environment_id,
        specification: None,
        packages: None,
        status: row.status,
        status_info: row.status_info,
        size: row.size,
        scheduled_on: row.scheduled_on,
        started_on: row.started_on,
        ended_on: row.ended_on,
        build_artifacts: None,
    }
}
