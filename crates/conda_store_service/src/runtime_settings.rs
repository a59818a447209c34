//! Settings changed at run time (`/api/v1/setting/...`), stored in `keyvaluestore` under
//! the prefixes `setting`, `setting/{namespace}` and `setting/{namespace}/{environment}`
//! and merged over the deployment's configuration, least to most specific, as the
//! Python conda-store does. Global-only keys are ignored below the top level.

use crate::{Service, ServiceError};
use conda_store_core::settings::Settings;
use conda_store_core::specification::normalize_channel;
use conda_store_db::entity::keyvaluestore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Map, Value};

/// The `keyvaluestore.prefix` of global runtime settings.
pub const SETTINGS_PREFIX: &str = "setting";

/// The settings users may read and change at run time, and whether each may only be
/// set globally (the fields of the original's `schema.Settings`). Unlike the original,
/// `conda_channel_alias` is global-only: the allow-list names channels through the
/// alias, so a namespace alias would point allowed names at any server (issue 9,
/// docs/COMPATIBILITY.md); a namespace alias stored earlier is ignored.
pub const RUNTIME_SETTINGS: &[(&str, bool)] = &[
    ("default_namespace", true),
    ("filesystem_namespace", true),
    ("default_uid", true),
    ("default_gid", true),
    ("default_permissions", true),
    ("storage_threshold", true),
    ("conda_platforms", true),
    ("conda_max_solve_time", true),
    ("conda_indexed_channels", true),
    ("build_artifacts_kept_on_deletion", true),
    ("conda_solve_platforms", false),
    ("conda_channel_alias", true),
    ("conda_default_channels", false),
    ("conda_allowed_channels", false),
    ("conda_default_packages", false),
    ("conda_required_packages", false),
    ("conda_included_packages", false),
    ("pypi_default_packages", false),
    ("pypi_required_packages", false),
    ("pypi_included_packages", false),
    ("build_artifacts", false),
];

/// Where a setting applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsLevel<'a> {
    /// The whole deployment.
    Global,
    /// One namespace.
    Namespace(&'a str),
    /// One environment of a namespace.
    Environment(&'a str, &'a str),
}

impl<'a> SettingsLevel<'a> {
    /// The level whose effective settings bound this one's: none above the global one.
    fn parent(&self) -> Option<SettingsLevel<'a>> {
        match *self {
            Self::Global => None,
            Self::Namespace(_) => Some(Self::Global),
            Self::Environment(namespace, _) => Some(Self::Namespace(namespace)),
        }
    }

    /// The `keyvaluestore` prefixes that apply at this level, least specific first.
    fn prefixes(&self) -> Vec<String> {
        match self {
            Self::Global => vec![SETTINGS_PREFIX.to_owned()],
            Self::Namespace(namespace) => vec![
                SETTINGS_PREFIX.to_owned(),
                format!("{SETTINGS_PREFIX}/{namespace}"),
            ],
            Self::Environment(namespace, environment) => vec![
                SETTINGS_PREFIX.to_owned(),
                format!("{SETTINGS_PREFIX}/{namespace}"),
                format!("{SETTINGS_PREFIX}/{namespace}/{environment}"),
            ],
        }
    }

    /// How the update message names this level.
    fn describe(&self) -> String {
        match self {
            Self::Global => "global".to_owned(),
            Self::Namespace(namespace) => format!("namespace {namespace}"),
            Self::Environment(namespace, environment) => {
                format!("environment {namespace}/{environment}")
            }
        }
    }
}

fn is_global(key: &str) -> bool {
    RUNTIME_SETTINGS
        .iter()
        .any(|(name, global)| *name == key && *global)
}

impl Service {
    /// The deployment settings with the runtime settings of `level` merged over them.
    pub async fn effective_settings(
        &self,
        level: SettingsLevel<'_>,
    ) -> Result<Settings, ServiceError> {
        let mut merged = match serde_json::to_value(self.settings.as_ref()) {
            Ok(Value::Object(map)) => map,
            _ => return Err(ServiceError::Internal("settings are not an object".into())),
        };
        for (index, prefix) in level.prefixes().into_iter().enumerate() {
            for row in keyvaluestore::Entity::find()
                .filter(keyvaluestore::Column::Prefix.eq(prefix))
                .all(&self.database)
                .await?
            {
                let known = RUNTIME_SETTINGS.iter().any(|(name, _)| *name == row.key);
                if known && (index == 0 || !is_global(&row.key)) {
                    merged.insert(row.key, row.value.unwrap_or(Value::Null));
                }
            }
        }
        serde_json::from_value(Value::Object(merged))
            .map_err(|error| ServiceError::Internal(format!("stored settings: {error}")))
    }

    /// The runtime settings in effect at `level`, as `GET /api/v1/setting/...` shows
    /// them.
    pub async fn runtime_settings(
        &self,
        level: SettingsLevel<'_>,
    ) -> Result<Map<String, Value>, ServiceError> {
        let settings = self.effective_settings(level).await?;
        let Ok(Value::Object(mut all)) = serde_json::to_value(&settings) else {
            return Err(ServiceError::Internal("settings are not an object".into()));
        };
        Ok(RUNTIME_SETTINGS
            .iter()
            .map(|(name, _)| {
                let value = all.remove(*name).unwrap_or(Value::Null);
                ((*name).to_owned(), value)
            })
            .collect())
    }

    /// Stores `values` at `level` after checking every key and value; returns the
    /// message the original answers with.
    pub async fn update_settings(
        &self,
        level: SettingsLevel<'_>,
        values: Map<String, Value>,
    ) -> Result<String, ServiceError> {
        let keys: Vec<&String> = values.keys().collect();
        let unknown: Vec<&&String> = keys
            .iter()
            .filter(|key| !RUNTIME_SETTINGS.iter().any(|(name, _)| name == **key))
            .collect();
        if !unknown.is_empty() {
            return Err(ServiceError::Invalid(format!(
                "invalid setting keys {}",
                python_list(unknown.into_iter().map(|key| key.as_str()))
            )));
        }
        if level != SettingsLevel::Global {
            let global: Vec<&str> = keys
                .iter()
                .map(|key| key.as_str())
                .filter(|key| is_global(key))
                .collect();
            if !global.is_empty() {
                return Err(ServiceError::Invalid(format!(
                    "setting keys {} can only be set globally",
                    python_list(global.into_iter())
                )));
            }
        }
        check_types(self.settings.as_ref(), &values)?;
        if let Some(parent) = level.parent() {
            let ceiling = self.effective_settings(parent).await?;
            check_channel_ceiling(&ceiling, &values)?;
        }
        let prefix = level
            .prefixes()
            .pop()
            .unwrap_or_else(|| SETTINGS_PREFIX.to_owned());
        let message = format!(
            "{} setting keys {} updated",
            level.describe(),
            python_list(keys.iter().map(|key| key.as_str()))
        );
        let transaction = conda_store_db::begin_write(&self.database).await?;
        for (key, value) in values {
            put_keyvalue(&transaction, &prefix, &key, value).await?;
        }
        transaction.commit().await?;
        Ok(message)
    }
}

/// Refuses values of the wrong type, naming the key.
fn check_types(settings: &Settings, values: &Map<String, Value>) -> Result<(), ServiceError> {
    let Ok(Value::Object(base)) = serde_json::to_value(settings) else {
        return Err(ServiceError::Internal("settings are not an object".into()));
    };
    for (key, value) in values {
        let mut candidate = base.clone();
        candidate.insert(key.clone(), value.clone());
        if let Err(error) = serde_json::from_value::<Settings>(Value::Object(candidate)) {
            return Err(ServiceError::Invalid(format!(
                "invalid value for setting {key}: {error}"
            )));
        }
    }
    Ok(())
}

/// Below the global level `conda_allowed_channels` may only narrow the list in effect
/// one level up (`settings`: the deployment's with the global runtime settings, or the
/// namespace's for an environment): a namespace admin must not open channels (or, with
/// an empty list, every URL) that the operator closed. With no list above there is
/// nothing to narrow.
fn check_channel_ceiling(
    settings: &Settings,
    values: &Map<String, Value>,
) -> Result<(), ServiceError> {
    let Some(value) = values.get("conda_allowed_channels") else {
        return Ok(());
    };
    if settings.conda_allowed_channels.is_empty() {
        return Ok(());
    }
    let alias = &settings.conda_channel_alias;
    let allowed: Vec<String> = settings
        .conda_allowed_channels
        .iter()
        .map(|channel| normalize_channel(channel, alias))
        .collect();
    let requested: Vec<String> = serde_json::from_value(value.clone()).unwrap_or_default();
    let outside: Vec<&String> = requested
        .iter()
        .filter(|channel| !allowed.contains(&normalize_channel(channel, alias)))
        .collect();
    if requested.is_empty() || !outside.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "conda_allowed_channels below the global level may only narrow the list in effect above, {}; not allowed: {}",
            python_list(settings.conda_allowed_channels.iter().map(String::as_str)),
            if requested.is_empty() {
                "an empty list (any channel)".to_owned()
            } else {
                python_list(outside.into_iter().map(String::as_str))
            }
        )));
    }
    Ok(())
}

/// Keys as Python prints a list of strings: `['a', 'b']`.
fn python_list<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = keys.map(|key| format!("'{key}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Sets `prefix`/`key` in `keyvaluestore` to `value`, replacing what was there.
pub(crate) async fn put_keyvalue<C: ConnectionTrait>(
    connection: &C,
    prefix: &str,
    key: &str,
    value: Value,
) -> Result<(), ServiceError> {
    let row = keyvaluestore::ActiveModel {
        prefix: Set(prefix.to_owned()),
        key: Set(key.to_owned()),
        value: Set(Some(value)),
        ..Default::default()
    };
    keyvaluestore::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([keyvaluestore::Column::Prefix, keyvaluestore::Column::Key])
                .update_column(keyvaluestore::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(connection)
        .await?;
    Ok(())
}

impl Service {
    /// A random secret kept in `keyvaluestore` under `prefix`/`key`: made on first use,
    /// the same for every later call and every process sharing the database.
    pub async fn persistent_secret(&self, prefix: &str, key: &str) -> Result<String, ServiceError> {
        if let Some(secret) = self.stored_secret(prefix, key).await? {
            return Ok(secret);
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|error| ServiceError::Internal(format!("no randomness: {error}")))?;
        let secret: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        let row = keyvaluestore::ActiveModel {
            prefix: Set(prefix.to_owned()),
            key: Set(key.to_owned()),
            value: Set(Some(Value::String(secret))),
            ..Default::default()
        };
        // Two processes starting at once: the first insert wins, both read it back.
        crate::insert_unless_exists(
            &self.database,
            row,
            [keyvaluestore::Column::Prefix, keyvaluestore::Column::Key],
        )
        .await?;
        self.stored_secret(prefix, key)
            .await?
            .ok_or_else(|| ServiceError::Internal("the stored secret vanished".to_owned()))
    }

    async fn stored_secret(&self, prefix: &str, key: &str) -> Result<Option<String>, ServiceError> {
        Ok(keyvaluestore::Entity::find()
            .filter(keyvaluestore::Column::Prefix.eq(prefix))
            .filter(keyvaluestore::Column::Key.eq(key))
            .one(&self.database)
            .await?
            .and_then(|row| row.value)
            .and_then(|value| value.as_str().map(str::to_owned)))
    }
}
