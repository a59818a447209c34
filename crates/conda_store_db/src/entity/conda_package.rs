//! `conda_package`: A package name and version in a channel.

use sea_orm::entity::prelude::*;

/// A row of `conda_package`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "conda_package")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(indexed, unique_key = "_conda_package_uc")]
    /// Column `channel_id`.
    pub channel_id: Option<i32>,
    #[sea_orm(column_type = "Text")]
    /// Column `license`.
    pub license: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    /// Column `license_family`.
    pub license_family: Option<String>,
    #[sea_orm(
        column_type = "String(StringLen::N(255))",
        indexed,
        unique_key = "_conda_package_uc"
    )]
    /// Column `name`.
    pub name: String,
    #[sea_orm(
        column_type = "String(StringLen::N(64))",
        indexed,
        unique_key = "_conda_package_uc"
    )]
    /// Column `version`.
    pub version: String,
    #[sea_orm(column_type = "Text")]
    /// Column `summary`.
    pub summary: Option<String>,
    #[sea_orm(column_type = "Text")]
    /// Column `description`.
    pub description: Option<String>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::conda_channel::Entity",
        from = "Column::ChannelId",
        to = "super::conda_channel::Column::Id"
    )]
    /// `ChannelId` references `conda_channel`.
    Channel,
}

impl ActiveModelBehavior for ActiveModel {}
