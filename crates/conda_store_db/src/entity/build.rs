//! `build`: One attempt to build a specification into an environment.

use sea_orm::entity::prelude::*;

/// A row of `build`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "build")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `specification_id`.
    pub specification_id: i32,
    /// Column `environment_id`.
    pub environment_id: i32,
    #[sea_orm(column_type = "String(StringLen::N(9))")]
    /// Column `status`.
    pub status: Option<String>,
    /// Column `size`.
    pub size: Option<i64>,
    /// Column `scheduled_on`.
    pub scheduled_on: Option<DateTime>,
    /// Column `started_on`.
    pub started_on: Option<DateTime>,
    /// Column `ended_on`.
    pub ended_on: Option<DateTime>,
    /// Column `deleted_on`.
    pub deleted_on: Option<DateTime>,
    #[sea_orm(column_type = "Text")]
    /// Column `status_info`.
    pub status_info: Option<String>,
    /// Column `build_key_version`.
    pub build_key_version: i32,
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    /// Column `hash`.
    pub hash: Option<String>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::specification::Entity",
        from = "Column::SpecificationId",
        to = "super::specification::Column::Id"
    )]
    /// `SpecificationId` references `specification`.
    Specification,
    #[sea_orm(
        belongs_to = "super::environment::Entity",
        from = "Column::EnvironmentId",
        to = "super::environment::Column::Id"
    )]
    /// `EnvironmentId` references `environment`.
    Environment,
}

impl ActiveModelBehavior for ActiveModel {}
