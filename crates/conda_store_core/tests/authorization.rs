//! Tests of the pure authorization rules and of HS256 tokens.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use conda_store_core::authorization::{
    ArnError, ArnPattern, Permission, Role, RoleBindings, SqlLikePatterns, UnknownRole,
};
use conda_store_core::token::{AuthenticationToken, TokenError, TokenSigner};
use serde_json::json;
use std::collections::BTreeSet;

fn arn(text: &str) -> ArnPattern {
    ArnPattern::parse(text).unwrap()
}

fn bindings(value: serde_json::Value) -> RoleBindings {
    serde_json::from_value(value).unwrap()
}

fn strings(permissions: &[Permission]) -> Vec<&'static str> {
    permissions
        .iter()
        .map(|permission| permission.as_str())
        .collect()
}

// ---------------------------------------------------------------- permissions and roles

#[test]
fn permission_order_is_python_sorted_order() {
    let mut sorted: Vec<&str> = strings(&Permission::ALL);
    sorted.sort_unstable();
    assert_eq!(strings(&Permission::ALL), sorted);
    let set: BTreeSet<Permission> = Permission::ALL.into_iter().rev().collect();
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        Permission::ALL.to_vec()
    );
}

#[test]
fn permission_strings_round_trip() {
    for permission in Permission::ALL {
        assert_eq!(permission.as_str().parse::<Permission>(), Ok(permission));
        let json = serde_json::to_string(&permission).unwrap();
        assert_eq!(json, format!("\"{}\"", permission.as_str()));
        assert_eq!(
            serde_json::from_str::<Permission>(&json).unwrap(),
            permission
        );
    }
    assert_eq!(Permission::EnvironmentCreate.as_str(), "environment:create");
    assert!("environment::create".parse::<Permission>().is_err());
}

#[test]
fn viewer_permissions() {
    assert_eq!(
        strings(Role::Viewer.permissions()),
        [
            "environment::read",
            "namespace-role-mapping::read",
            "namespace::read"
        ]
    );
}

#[test]
fn editor_permissions() {
    assert_eq!(
        strings(Role::Editor.permissions()),
        [
            "build::cancel",
            "environment::read",
            "environment::solve",
            "environment::update",
            "environment:create",
            "namespace-role-mapping::read",
            "namespace::read",
            "setting::read",
        ]
    );
}

#[test]
fn admin_permissions() {
    assert_eq!(
        strings(Role::Admin.permissions()),
        [
            "build::cancel",
            "build::delete",
            "environment::delete",
            "environment::read",
            "environment::solve",
            "environment::update",
            "environment:create",
            "namespace-role-mapping::create",
            "namespace-role-mapping::delete",
            "namespace-role-mapping::read",
            "namespace-role-mapping::update",
            "namespace::create",
            "namespace::delete",
            "namespace::read",
            "namespace::update",
            "setting::read",
            "setting::update",
        ]
    );
}

#[test]
fn role_permissions_are_sorted_and_nested() {
    for role in [Role::Viewer, Role::Editor, Role::Admin] {
        let permissions = role.permissions();
        assert!(
            permissions.windows(2).all(|pair| pair[0] < pair[1]),
            "{role}"
        );
    }
    let viewer: BTreeSet<_> = Role::Viewer.permissions().iter().collect();
    let editor: BTreeSet<_> = Role::Editor.permissions().iter().collect();
    assert!(viewer.is_subset(&editor));
}

#[test]
fn role_names() {
    assert_eq!("viewer".parse(), Ok(Role::Viewer));
    assert_eq!("editor".parse(), Ok(Role::Editor));
    assert_eq!("developer".parse(), Ok(Role::Editor));
    assert_eq!("admin".parse(), Ok(Role::Admin));
    assert_eq!(Role::Editor.as_str(), "developer");
    let error = "superuser".parse::<Role>().unwrap_err();
    assert_eq!(error, UnknownRole("superuser".to_owned()));
    assert!(error.to_string().contains("superuser"));
    assert!("Admin".parse::<Role>().is_err());
}

// ---------------------------------------------------------------- ARN patterns

#[test]
fn arn_validation_errors() {
    assert!(matches!(
        ArnPattern::parse("team"),
        Err(ArnError::MissingSlash { .. })
    ));
    assert!(matches!(
        ArnPattern::parse("a/b/c"),
        Err(ArnError::ExtraSlash { .. })
    ));
    assert!(matches!(
        ArnPattern::parse("/b"),
        Err(ArnError::EmptyPart {
            part: "namespace",
            ..
        })
    ));
    assert!(matches!(
        ArnPattern::parse("a/"),
        Err(ArnError::EmptyPart { part: "name", .. })
    ));
    assert!(matches!(
        ArnPattern::parse(""),
        Err(ArnError::MissingSlash { .. })
    ));
    let error = ArnPattern::parse("my team/*").unwrap_err();
    assert_eq!(
        error,
        ArnError::InvalidCharacter {
            arn: "my team/*".to_owned(),
            character: ' '
        }
    );
    assert!(error.to_string().contains("my team/*"));
    assert!(ArnPattern::parse("tëam/*").is_err());
    assert!(ArnPattern::parse("a:b/*").is_err());
    for valid in ["*/*", "a-+_@$&?^~.=Z9/*", "*n*viron*/n*me", "**/x"] {
        assert_eq!(arn(valid).as_str(), valid);
    }
    assert!(serde_json::from_value::<ArnPattern>(json!("nope")).is_err());
}

#[test]
fn arn_parts() {
    let pattern = arn("team-*/env*");
    assert_eq!(pattern.namespace_pattern(), "team-*");
    assert_eq!(pattern.name_pattern(), "env*");
    assert_eq!(pattern.to_string(), "team-*/env*");
}

#[test]
fn matching_wildcards_anywhere() {
    let pattern = arn("*n*viron*/n*me");
    assert!(pattern.matches("environment/name"));
    assert!(pattern.matches("nviron/nme"));
    assert!(pattern.matches("my-environ/nXXme"));
    assert!(pattern.matches("environment"));
    assert!(!pattern.matches("environment/names"));
    assert!(!pattern.matches("envir/name"));
    assert!(!pattern.matches("environment/other"));
}

#[test]
fn matching_bare_namespace() {
    let pattern = arn("team/*");
    assert!(pattern.matches("team"));
    assert!(pattern.matches("team/env"));
    assert!(pattern.matches("team/"));
    assert!(!pattern.matches("team2"));
    assert!(!pattern.matches("team2/env"));
    assert!(!pattern.matches("other/env"));
    // The bare namespace is matched by any name pattern, as in the original.
    assert!(arn("team/only").matches("team"));
    assert!(!arn("team/only").matches("team/other"));
}

#[test]
fn matching_everything() {
    let pattern = arn("*/*");
    for concrete in ["", "a", "a/b", "default/x-1.2", "a/"] {
        assert!(pattern.matches(concrete), "{concrete}");
    }
    assert!(!pattern.matches("a/b/c"));
    assert!(!pattern.matches("a b/c"));
    assert!(!pattern.matches("a/*"));
}

#[test]
fn matching_the_empty_arn() {
    // As Python's ^ns(?:/name)?$: only a namespace pattern of stars matches "".
    assert!(arn("*/*").matches(""));
    assert!(arn("**/*").matches(""));
    assert!(arn("*/team").matches(""));
    assert!(!arn("default/*").matches(""));
    assert!(!arn("a*/*").matches(""));
}

#[test]
fn matching_is_literal() {
    // Python pastes these characters into a regex unescaped; we keep them literal.
    assert!(arn("my.team/*").matches("my.team/x"));
    assert!(!arn("my.team/*").matches("myXteam/x"));
    assert!(!arn("a+/*").matches("aa/x"));
    assert!(arn("a?/*").matches("a?/x"));
    assert!(!arn("ab?/*").matches("a/x"));
}

#[test]
fn sql_like_rendering() {
    assert_eq!(
        arn("*/*").sql_like(),
        SqlLikePatterns {
            namespace: "%".to_owned(),
            name: "%".to_owned()
        }
    );
    assert_eq!(
        arn("my_team-*/env_*x").sql_like(),
        SqlLikePatterns {
            namespace: "my!_team-%".to_owned(),
            name: "env!_%x".to_owned()
        }
    );
    assert_eq!(arn("a*b*/c").sql_like().namespace, "a%b%");
}

#[test]
fn coverage_of_patterns() {
    assert!(arn("team/env").is_covered_by(&arn("team/*")));
    assert!(arn("team/*").is_covered_by(&arn("team/*")));
    assert!(arn("team/*").is_covered_by(&arn("*/*")));
    assert!(arn("team-a*/x*").is_covered_by(&arn("team-*/*")));
    assert!(arn("a**/*").is_covered_by(&arn("a*/*")));
    assert!(arn("ab*c/*").is_covered_by(&arn("a*/*")));
    assert!(!arn("*/*").is_covered_by(&arn("team/*")));
    assert!(!arn("team*/*").is_covered_by(&arn("team/*")));
    assert!(!arn("team/*").is_covered_by(&arn("team/env")));
    assert!(!arn("*a/*").is_covered_by(&arn("a*/*")));
    assert!(!arn("my.team/*").is_covered_by(&arn("my?team/*")));
}

// ---------------------------------------------------------------- role bindings

#[test]
fn default_bindings() {
    assert_eq!(
        serde_json::to_value(RoleBindings::unauthenticated_default()).unwrap(),
        json!({"default/*": ["viewer"]})
    );
    assert_eq!(
        serde_json::to_string(&RoleBindings::authenticated_default()).unwrap(),
        r#"{"default/*":["viewer"],"filesystem/*":["viewer"]}"#
    );
}

#[test]
fn merge_replaces_roles_in_place() {
    let defaults = RoleBindings::authenticated_default();
    let token = bindings(json!({"filesystem/*": ["admin"], "team/*": ["developer"]}));
    let database: RoleBindings =
        serde_json::from_str(r#"{"default/*": ["editor"], "*/*": ["viewer"]}"#).unwrap();
    let effective = RoleBindings::effective_authenticated(&defaults, &token, &database);
    assert_eq!(
        serde_json::to_string(&effective).unwrap(),
        r#"{"default/*":["developer"],"filesystem/*":["admin"],"team/*":["developer"],"*/*":["viewer"]}"#
    );
    // A replaced binding does not keep the earlier role.
    let narrowed = RoleBindings::effective_anonymous(
        &RoleBindings::unauthenticated_default(),
        &bindings(json!({"default/*": []})),
    );
    assert!(narrowed.permissions_on("default/env").is_empty());
    assert_eq!(narrowed.len(), 1);
}

#[test]
fn grant_gathers_roles() {
    let mut database = RoleBindings::new();
    database.grant(arn("team/*"), Role::Viewer);
    database.grant(arn("team/*"), Role::Editor);
    database.grant(arn("team/*"), Role::Viewer);
    assert_eq!(
        database.get("team/*"),
        Some(&[Role::Viewer, Role::Editor][..])
    );
}

#[test]
fn deserialising_bindings() {
    // (json! sorts keys, so order-sensitive input is given as text.)
    let parsed: RoleBindings =
        serde_json::from_str(r#"{"b/*": ["viewer"], "a/*": ["editor", "admin"]}"#).unwrap();
    let keys: Vec<&str> = parsed.iter().map(|(arn, _)| arn.as_str()).collect();
    assert_eq!(keys, ["b/*", "a/*"]);
    let repeated: RoleBindings =
        serde_json::from_str(r#"{"a/*":["viewer"],"b/*":[],"a/*":["admin"]}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&repeated).unwrap(),
        r#"{"a/*":["admin"],"b/*":[]}"#
    );
    assert!(serde_json::from_value::<RoleBindings>(json!({"bad": ["viewer"]})).is_err());
    let error = serde_json::from_value::<RoleBindings>(json!({"a/*": ["root"]})).unwrap_err();
    assert!(error.to_string().contains("root"), "{error}");
}

#[test]
fn permissions_on_concrete_arns() {
    let effective = bindings(json!({
        "default/*": ["viewer"],
        "team/*": ["developer"],
        "team/prod": ["admin"],
    }));
    assert_eq!(
        effective.permissions_on("default/env"),
        Role::Viewer.permissions().iter().copied().collect()
    );
    assert_eq!(
        effective.permissions_on("team/prod"),
        Permission::ALL.into_iter().collect()
    );
    // Namespace level: only `team/*` acts on the namespace (developer: no delete); the
    // environment-scoped `team/prod: admin` only lets it be read (issue 9, hole 4).
    assert!(!effective.is_authorized("team", &[Permission::NamespaceDelete]));
    assert!(effective.is_authorized("team", &[Permission::NamespaceRead]));
    let scoped = bindings(json!({"team/prod": ["admin"], "*/dev": ["admin"]}));
    assert!(!scoped.is_authorized("team", &[Permission::NamespaceDelete]));
    assert!(!scoped.is_authorized("team", &[Permission::SettingUpdate]));
    assert!(!scoped.is_authorized("", &[Permission::SettingUpdate]));
    assert!(scoped.is_authorized("team", &[Permission::NamespaceRead]));
    assert!(scoped.is_authorized("team/prod", &[Permission::EnvironmentDelete]));
    assert!(
        bindings(json!({"team/**": ["admin"]}))
            .is_authorized("team", &[Permission::NamespaceDelete])
    );
    assert!(effective.is_authorized("team/dev", &[Permission::EnvironmentCreate]));
    assert!(!effective.is_authorized("team/dev", &[Permission::EnvironmentDelete]));
    assert!(!effective.is_authorized("other/dev", &[Permission::EnvironmentRead]));
    assert!(!effective.is_authorized("", &[Permission::SettingRead]));
    assert!(effective.is_authorized("other/dev", &[]));
    assert!(effective.any_matches("team"));
    assert!(!effective.any_matches("other"));
    let admin = bindings(json!({"*/*": ["admin"]}));
    assert!(admin.is_authorized("", &[Permission::SettingUpdate]));
}

#[test]
fn entity_permissions_of_default_bindings() {
    assert_eq!(
        serde_json::to_value(RoleBindings::authenticated_default().entity_permissions()).unwrap(),
        json!({
            "default/*": ["environment::read", "namespace-role-mapping::read", "namespace::read"],
            "filesystem/*": ["environment::read", "namespace-role-mapping::read", "namespace::read"],
        })
    );
    let admin = bindings(json!({"*/*": ["admin", "viewer"]})).entity_permissions();
    assert_eq!(admin.get("*/*").map(BTreeSet::len), Some(17));
    assert_eq!(
        serde_json::to_string(&bindings(json!({"x/*": []})).entity_permissions()).unwrap(),
        r#"{"x/*":[]}"#
    );
}

#[test]
fn subset_narrower_is_accepted() {
    let caller = bindings(json!({"default/*": ["viewer"], "team/*": ["admin"]}));
    for requested in [
        json!({"team/*": ["admin"]}),
        json!({"team/env": ["developer"], "default/*": ["viewer"]}),
        json!({"team/x*": ["viewer"]}),
        json!({"default/env": []}),
        json!({}),
    ] {
        assert!(
            bindings(requested.clone()).is_subset_of(&caller),
            "{requested}"
        );
    }
}

#[test]
fn subset_broader_is_refused() {
    let caller = bindings(json!({"default/*": ["viewer"], "team/*": ["admin"]}));
    for requested in [
        json!({"*/*": ["admin"]}),
        json!({"*/*": ["viewer"]}),
        json!({"team*/*": ["viewer"]}),
        json!({"default/*": ["developer"]}),
        json!({"other/env": ["viewer"]}),
    ] {
        assert!(
            !bindings(requested.clone()).is_subset_of(&caller),
            "{requested}"
        );
    }
}

#[test]
fn subset_wildcards_unite_covering_bindings() {
    let caller = bindings(json!({"*/*": ["viewer"], "team-*/*": ["developer"]}));
    assert!(bindings(json!({"team-a/*": ["developer"]})).is_subset_of(&caller));
    assert!(bindings(json!({"anything/*": ["viewer"]})).is_subset_of(&caller));
    assert!(!bindings(json!({"team*/*": ["developer"]})).is_subset_of(&caller));
    let admin = bindings(json!({"*/*": ["admin"]}));
    assert!(bindings(json!({"*/*": ["admin"], "x/y": ["viewer"]})).is_subset_of(&admin));
}

// ---------------------------------------------------------------- tokens

const SECRET: &str = "conda-store-test-secret";

/// Made once with Python's hmac/hashlib/base64/json exactly as PyJWT encodes
/// `{"exp": 1893456000, "primary_namespace": "alice", "role_bindings": {...}}`.
const PYTHON_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE4OTM0NTYwMDAsInByaW1hcnlfbmFtZXNwYWNlIjoiYWxpY2UiLCJyb2xlX2JpbmRpbmdzIjp7IiovKiI6WyJhZG1pbiJdLCJ0ZWFtLSovKiI6WyJ2aWV3ZXIiLCJkZXZlbG9wZXIiXX19.iL7iqBdSdyhGGtuTNTOdTUemndGwRxw9kTcYNRxphto";

/// Same, with `primary_namespace` "équipe😀\x7f" (escaped by Python's `ensure_ascii`).
const PYTHON_ESCAPED_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE4OTM0NTYwMDAsInByaW1hcnlfbmFtZXNwYWNlIjoiXHUwMGU5cXVpcGVcdWQ4M2RcdWRlMDBcdTAwN2YiLCJyb2xlX2JpbmRpbmdzIjp7fX0.9Lvj2gbgx6dZfKnUWkhuU5WhVvA2CYS0K3n1X-kdFMM";

/// Same secret, `"exp": 1893456000.75`, `role_bindings` `{"default/*": ["viewer"]}`.
const PYTHON_FLOAT_EXP_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE4OTM0NTYwMDAuNzUsInByaW1hcnlfbmFtZXNwYWNlIjoiZGVmYXVsdCIsInJvbGVfYmluZGluZ3MiOnsiZGVmYXVsdC8qIjpbInZpZXdlciJdfX0.dZp_YSsfDBs9Nx9upu1jq5as9OEHFOR7mDiyn_4E1xU";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn expiry() -> DateTime<Utc> {
    DateTime::from_timestamp(1_893_456_000, 0).unwrap()
}

#[test]
fn python_token_decodes() {
    let token = TokenSigner::new(SECRET)
        .decode(PYTHON_TOKEN, now())
        .unwrap();
    assert_eq!(token.exp, expiry());
    assert_eq!(token.primary_namespace, "alice");
    assert_eq!(
        serde_json::to_value(&token.role_bindings).unwrap(),
        json!({"*/*": ["admin"], "team-*/*": ["viewer", "developer"]})
    );
}

#[test]
fn encoding_is_byte_identical_to_python() {
    let signer = TokenSigner::new(SECRET);
    let token = AuthenticationToken::new(
        expiry(),
        "alice",
        bindings(json!({"*/*": ["admin"], "team-*/*": ["viewer", "developer"]})),
    );
    assert_eq!(signer.encode(&token).unwrap(), PYTHON_TOKEN);
    let escaped =
        AuthenticationToken::new(expiry(), "\u{e9}quipe\u{1f600}\u{7f}", RoleBindings::new());
    assert_eq!(signer.encode(&escaped).unwrap(), PYTHON_ESCAPED_TOKEN);
    assert_eq!(signer.decode(PYTHON_ESCAPED_TOKEN, now()).unwrap(), escaped);
}

#[test]
fn float_expiration_is_accepted() {
    let token = TokenSigner::new(SECRET)
        .decode(PYTHON_FLOAT_EXP_TOKEN, now())
        .unwrap();
    assert_eq!(token.exp, expiry() + TimeDelta::milliseconds(750));
    let json = serde_json::to_string(&token).unwrap();
    assert_eq!(
        json,
        r#"{"exp":1893456000,"primary_namespace":"default","role_bindings":{"default/*":["viewer"]}}"#
    );
}

#[test]
fn round_trip() {
    let signer = TokenSigner::new(b"another secret".as_slice());
    let token = AuthenticationToken::new(
        now() + TimeDelta::hours(2),
        "bob",
        bindings(json!({"bob/*": ["admin"], "shared/*": ["editor"]})),
    );
    let jwt = signer.encode(&token).unwrap();
    assert_eq!(jwt.matches('.').count(), 2);
    assert!(!jwt.contains('='));
    assert_eq!(signer.decode(&jwt, now()).unwrap(), token);
    let unsorted: RoleBindings =
        serde_json::from_str(r#"{"z/*": ["viewer"], "a/*": ["admin"]}"#).unwrap();
    let token = AuthenticationToken::new(now() + TimeDelta::hours(1), "z", unsorted);
    let decoded = signer
        .decode(&signer.encode(&token).unwrap(), now())
        .unwrap();
    assert_eq!(
        serde_json::to_string(&decoded.role_bindings).unwrap(),
        r#"{"z/*":["viewer"],"a/*":["admin"]}"#
    );
}

#[test]
fn wrong_secret_or_tampered_signature() {
    assert_eq!(
        TokenSigner::new("other").decode(PYTHON_TOKEN, now()),
        Err(TokenError::BadSignature)
    );
    let (signing_input, signature) = PYTHON_TOKEN.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let tampered = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(
        TokenSigner::new(SECRET).decode(&tampered, now()),
        Err(TokenError::BadSignature)
    );
    let (header, _) = signing_input.split_once('.').unwrap();
    let forged_payload = URL_SAFE_NO_PAD.encode(
        r#"{"exp":1893456000,"primary_namespace":"eve","role_bindings":{"*/*":["admin"]}}"#,
    );
    let forged = format!("{header}.{forged_payload}.{signature}");
    assert_eq!(
        TokenSigner::new(SECRET).decode(&forged, now()),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn algorithm_none_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":1893456000,"role_bindings":{"*/*":["admin"]}}"#);
    for jwt in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let result = TokenSigner::new(SECRET).decode(&jwt, now());
        assert!(
            matches!(
                result,
                Err(TokenError::UnsupportedAlgorithm { .. } | TokenError::Malformed { .. })
            ),
            "{result:?}"
        );
    }
    assert_eq!(
        TokenSigner::new(SECRET).decode(&format!("{header}.{payload}."), now()),
        Err(TokenError::UnsupportedAlgorithm {
            algorithm: "none".to_owned()
        })
    );
    let no_alg = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    assert!(matches!(
        TokenSigner::new(SECRET).decode(&format!("{no_alg}.{payload}.x"), now()),
        Err(TokenError::UnsupportedAlgorithm { .. })
    ));
    let rs256 = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    assert!(matches!(
        TokenSigner::new(SECRET).decode(&format!("{rs256}.{payload}.x"), now()),
        Err(TokenError::UnsupportedAlgorithm { .. })
    ));
}

#[test]
fn expired_token_is_refused() {
    let signer = TokenSigner::new(SECRET);
    let token = AuthenticationToken::new(now(), "default", RoleBindings::new());
    let jwt = signer.encode(&token).unwrap();
    // PyJWT: expired when exp <= now (whole seconds).
    assert_eq!(
        signer.decode(&jwt, now()),
        Err(TokenError::Expired { expired_at: now() })
    );
    assert!(signer.decode(&jwt, now() - TimeDelta::seconds(1)).is_ok());
    assert!(matches!(
        signer.decode(PYTHON_TOKEN, expiry() + TimeDelta::days(1)),
        Err(TokenError::Expired { .. })
    ));
}

#[test]
fn garbage_is_malformed() {
    let signer = TokenSigner::new(SECRET);
    for garbage in [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "!!!.???.***",
        "eyJhbGciOiJIUzI1NiJ9",
    ] {
        assert!(
            matches!(
                signer.decode(garbage, now()),
                Err(TokenError::Malformed { .. })
            ),
            "{garbage}"
        );
    }
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    assert!(matches!(
        signer.decode(&format!("{not_json}.e30.x"), now()),
        Err(TokenError::Malformed { .. })
    ));
}

#[test]
fn signed_but_invalid_claims_are_refused() {
    let signer = TokenSigner::new(SECRET);
    let sign = |payload: &str| {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let key = hmac_sha256(SECRET.as_bytes(), signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(key))
    };
    for payload in [
        r#"{"exp":1893456000,"role_bindings":{"no-slash":["admin"]}}"#,
        r#"{"exp":1893456000,"role_bindings":{"*/*":["root"]}}"#,
        r#"{"exp":"soon"}"#,
        r#"[1893456000]"#,
    ] {
        assert!(
            matches!(
                signer.decode(&sign(payload), now()),
                Err(TokenError::InvalidClaims { .. })
            ),
            "{payload}"
        );
    }
    // Defaults: no exp means one day from now; no namespace means "default".
    let token = signer.decode(&sign("{}"), now()).unwrap();
    assert_eq!(token, AuthenticationToken::default_at(now()));
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn claims_accept_iso_expiration_and_ignore_extra_fields() {
    let token: AuthenticationToken = serde_json::from_value(json!({
        "exp": "2030-01-01T00:00:00",
        "primary_namespace": "svc",
        "role_bindings": {"*/*": ["viewer"]},
        "iat": 1,
    }))
    .unwrap();
    assert_eq!(token.exp.timestamp(), 1_893_456_000);
    assert!(!token.is_expired(now()));
}
