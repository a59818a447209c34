//! `build_artifact`: A stored artifact of a build (log, lockfile, archive, prefix directory, ...).

use sea_orm::entity::prelude::*;

/// A row of `build_artifact`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "build_artifact")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `build_id`.
    pub build_id: Option<i32>,
    #[sea_orm(column_type = "String(StringLen::N(21))")]
    /// Column `artifact_type`.
    pub artifact_type: String,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `key`.
    pub key: Option<String>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::build::Entity",
        from = "Column::BuildId",
        to = "super::build::Column::Id"
    )]
    /// `BuildId` references `build`.
    Build,
}

impl ActiveModelBehavior for ActiveModel {}
