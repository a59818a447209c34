//! `solve`: A remote solve of a specification (GET /api/v1/specification/).

use sea_orm::entity::prelude::*;

/// A row of `solve`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "solve")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    /// Column `specification_id`.
    pub specification_id: i32,
    /// Column `scheduled_on`.
    pub scheduled_on: Option<DateTime>,
    /// Column `started_on`.
    pub started_on: Option<DateTime>,
    /// Column `ended_on`.
    pub ended_on: Option<DateTime>,
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
}

impl ActiveModelBehavior for ActiveModel {}
