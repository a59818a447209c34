//! `environment`: A named environment in a namespace, pointing at its current build.

use sea_orm::entity::prelude::*;

/// A row of `environment`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "environment")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(unique_key = "_namespace_name_uc")]
    /// Column `namespace_id`.
    pub namespace_id: i32,
    #[sea_orm(
        column_type = "String(StringLen::N(255))",
        unique_key = "_namespace_name_uc"
    )]
    /// Column `name`.
    pub name: String,
    /// Column `current_build_id`.
    pub current_build_id: Option<i32>,
    /// Column `deleted_on`.
    pub deleted_on: Option<DateTime>,
    #[sea_orm(column_type = "Text")]
    /// Column `description`.
    pub description: Option<String>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::namespace::Entity",
        from = "Column::NamespaceId",
        to = "super::namespace::Column::Id"
    )]
    /// `NamespaceId` references `namespace`.
    Namespace,
    #[sea_orm(
        belongs_to = "super::build::Entity",
        from = "Column::CurrentBuildId",
        to = "super::build::Column::Id"
    )]
    /// `CurrentBuildId` references `build`.
    CurrentBuild,
}

impl ActiveModelBehavior for ActiveModel {}
