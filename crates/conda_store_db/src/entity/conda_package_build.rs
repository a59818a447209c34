//! `conda_package_build`: One concrete package artifact (build string, subdir, hashes).

use sea_orm::entity::prelude::*;

/// A row of `conda_package_build`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conda_package_build")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(unique_key = "_conda_package_build_uc")]
    /// Column `package_id`.
    pub package_id: Option<i32>,
    #[sea_orm(unique_key = "_conda_package_build_uc")]
    /// Column `channel_id`.
    pub channel_id: Option<i32>,
    #[sea_orm(
        column_type = "String(StringLen::N(64))",
        indexed,
        unique_key = "_conda_package_build_uc"
    )]
    /// Column `build`.
    pub build: String,
    #[sea_orm(unique_key = "_conda_package_build_uc")]
    /// Column `build_number`.
    pub build_number: i32,
    /// Column `constrains`.
    pub constrains: Option<Json>,
    /// Column `depends`.
    pub depends: Json,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `md5`.
    pub md5: String,
    #[sea_orm(
        column_type = "String(StringLen::N(64))",
        unique_key = "_conda_package_build_uc"
    )]
    /// Column `sha256`.
    pub sha256: String,
    /// Column `size`.
    pub size: i64,
    #[sea_orm(
        column_type = "String(StringLen::N(64))",
        unique_key = "_conda_package_build_uc"
    )]
    /// Column `subdir`.
    pub subdir: Option<String>,
    /// Column `timestamp`.
    pub timestamp: Option<i64>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::conda_package::Entity",
        from = "Column::PackageId",
        to = "super::conda_package::Column::Id"
    )]
    /// `PackageId` references `conda_package`.
    Package,
    #[sea_orm(
        belongs_to = "super::conda_channel::Entity",
        from = "Column::ChannelId",
        to = "super::conda_channel::Column::Id"
    )]
    /// `ChannelId` references `conda_channel`.
    Channel,
}

impl ActiveModelBehavior for ActiveModel {}
