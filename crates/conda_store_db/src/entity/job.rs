//! `job`: A unit of worker work in the database job queue.

use sea_orm::entity::prelude::*;

/// A row of `job`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    #[sea_orm(primary_key)]
    /// Column `id`.
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    /// Column `kind`.
    pub kind: String,
    /// Column `payload`.
    pub payload: Json,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    /// Column `state`.
    pub state: String,
    /// Column `attempts`.
    pub attempts: i32,
    /// Column `max_attempts`.
    pub max_attempts: i32,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    /// Column `unique_key`.
    pub unique_key: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    /// Column `worker_name`.
    pub worker_name: Option<String>,
    /// Column `lease_expires_on`.
    pub lease_expires_on: Option<DateTime>,
    /// Column `heartbeat_on`.
    pub heartbeat_on: Option<DateTime>,
    /// Column `run_after`.
    pub run_after: DateTime,
    /// Column `created_on`.
    pub created_on: DateTime,
    /// Column `started_on`.
    pub started_on: Option<DateTime>,
    /// Column `ended_on`.
    pub ended_on: Option<DateTime>,
    #[sea_orm(column_type = "Text")]
    /// Column `error`.
    pub error: Option<String>,
}

/// Foreign keys of this table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
