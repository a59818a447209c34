//! Conda specifications: parsing, errors, the Python `model_dump()` shape and hash (checked
//! against the peer database of conda-store 2025.2.2), and the settings-driven validation.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_core::settings::Settings;
use conda_store_core::specification::{
    CondaSpecification, Dependency, SpecificationError, Variable, normalize_channel, validate,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn parse(text: &str) -> CondaSpecification {
    CondaSpecification::from_yaml(text).expect("valid specification")
}

fn error_of(text: &str) -> SpecificationError {
    CondaSpecification::from_yaml(text).expect_err("invalid specification")
}

#[test]
fn peer_database_specifications_round_trip_with_the_same_hash() {
    let rows = shared_data().join("peer-db/conda-store-2025.2.2.rows.json");
    let text = std::fs::read_to_string(&rows).expect("read the peer rows");
    let document: Value = serde_json::from_str(&text).expect("json");
    let mut checked = 0;
    for row in document["specification"].as_array().expect("rows") {
        if row["is_lockfile"].as_bool().expect("is_lockfile") {
            continue;
        }
        let specification =
            CondaSpecification::from_value(&row["spec"]).expect("stored spec parses");
        assert_eq!(specification.to_value(), row["spec"], "row {}", row["id"]);
        assert_eq!(
            specification.sha256(),
            row["sha256"].as_str().expect("sha256"),
            "row {}",
            row["id"]
        );
        // Through YAML too, as a client would send it.
        let yaml = serde_yaml::to_string(&row["spec"]).expect("to yaml");
        assert_eq!(parse(&yaml), specification, "row {}", row["id"]);
        // And through serde.
        let decoded: CondaSpecification =
            serde_json::from_value(row["spec"].clone()).expect("deserialize");
        assert_eq!(decoded, specification);
        assert_eq!(
            serde_json::to_value(&specification).expect("serialize"),
            row["spec"]
        );
        checked += 1;
    }
    assert_eq!(checked, 21);
}

fn environment_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            environment_files(&path, found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yml" || extension == "yaml")
        {
            found.push(path);
        }
    }
}

#[test]
fn environment_files_parse_or_fail_clearly() {
    let root = shared_data().join("environments");
    let mut files = Vec::new();
    environment_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 50, "found {} files", files.len());
    let mut parsed = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        let relative = file
            .strip_prefix(&root)
            .expect("under root")
            .display()
            .to_string();
        match CondaSpecification::from_yaml(&text) {
            Ok(specification) => {
                assert!(!specification.name.is_empty());
                eprintln!("ok    {relative}");
                parsed.push(relative);
            }
            Err(error) => {
                let message = error.to_string();
                assert!(!message.trim().is_empty(), "{relative}: empty message");
                eprintln!("error {relative}: {}", message.replace('\n', " | "));
            }
        }
    }
    for known in [
        "conda-store/python-flask-env.yaml",
        "conda-store/examples/jupyterlab.yaml",
        "conda-store/examples/kernel.yaml",
        "conda-store/user_journeys/complicated_environment.yaml",
        "conda-store/user_journeys/broken_environment.yaml",
        "conda-store/user_journeys/simple_environment.yaml",
        "rattler/python.environment.yml",
        "rattler/variables.environment.yaml",
        "rattler/conda_lock_dev.environment.yaml",
        "mamba/env_file/env_1.yaml",
        "mamba/env_file/env_3.yaml",
    ] {
        assert!(
            parsed.iter().any(|path| path == known),
            "{known} did not parse"
        );
    }
}

#[test]
fn known_files_have_the_expected_content() {
    let root = shared_data().join("environments");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).expect("read");

    let flask = parse(&read("conda-store/python-flask-env.yaml"));
    assert_eq!(
        flask.to_value(),
        json!({"channels": ["conda-forge"], "dependencies": ["python ==3.12", "flask"],
               "description": "", "name": "python-flask-env", "prefix": null, "variables": null})
    );

    let complicated = parse(&read(
        "conda-store/user_journeys/complicated_environment.yaml",
    ));
    assert_eq!(complicated.channels, ["conda-forge", "bokeh"]);
    assert_eq!(complicated.conda_dependencies().count(), 12);
    assert_eq!(complicated.pip_dependencies().count(), 24);
    assert!(
        complicated
            .pip_dependencies()
            .any(|entry| entry == "pytest-mock >= 3.10.0,<4.0")
    );

    let variables = parse(&read("rattler/variables.environment.yaml"));
    assert_eq!(
        variables.variables.expect("variables")["MY_ENV_VAR"],
        Variable::String("My Value".to_owned())
    );

    // Files without a name are refused with the Python message.
    let nameless = CondaSpecification::from_yaml(&read("rattler/mamba_dev_extra.environment.yaml"))
        .expect_err("no name");
    assert_eq!(
        nameless.to_string(),
        "The name of the environment cannot be empty."
    );

    // A pip `-e` entry is not a PEP 508 requirement.
    let editable = CondaSpecification::from_yaml(
        &read("rattler/asymmetric_vqgan.environment.yaml").replace("# name: ldm", "name: ldm"),
    )
    .expect_err("editable pip entry");
    assert!(
        editable.to_string().contains(
            "Invalid pypi package dependency \"-e git+https://github.com/CompVis/taming-transformers.git@master#egg=taming-transformers\""
        ),
        "{editable}"
    );
}

#[test]
fn defaults_and_unknown_keys() {
    let specification = parse("name: bare\nplatforms: [linux-64]\ncategory: dev\n");
    assert_eq!(
        specification.to_value(),
        json!({"channels": [], "dependencies": [], "description": "", "name": "bare",
               "prefix": null, "variables": null})
    );
    // An explicit null description stays null.
    let specification = parse("name: bare\ndescription: null\nprefix: /opt/env\n");
    assert_eq!(specification.description, None);
    assert_eq!(specification.prefix.as_deref(), Some("/opt/env"));
    assert_eq!(specification.to_value()["description"], Value::Null);
}

#[test]
fn pip_sections_and_variables() {
    let specification = parse(
        r#"
name: mixed
channels: [conda-forge]
dependencies:
  - python=3.12
  - pip
  - pip:
      - requests>=2
      - "--index-url https://pypi.example.org/simple"
      - "--extra-index-url=https://extra.example.org/simple"
      - --trusted-host pypi.example.org
      - "flask @ https://example.org/flask-3.0.0-py3-none-any.whl"
  - {pip: [], ignored: true}
  - {ignored: 1}
variables:
  THREADS: 4
  NAME: value
  FLAG: true
  RATIO: 2.0
"#,
    );
    assert_eq!(
        specification.dependencies[2],
        Dependency::Pip {
            pip: vec![
                "requests>=2".to_owned(),
                "--index-url https://pypi.example.org/simple".to_owned(),
                "--extra-index-url=https://extra.example.org/simple".to_owned(),
                "--trusted-host pypi.example.org".to_owned(),
                "flask @ https://example.org/flask-3.0.0-py3-none-any.whl".to_owned(),
            ]
        }
    );
    assert_eq!(
        specification.dependencies[3],
        Dependency::Pip { pip: vec![] }
    );
    assert_eq!(
        specification.dependencies[4],
        Dependency::Pip { pip: vec![] }
    );
    let value = specification.to_value();
    assert_eq!(
        value["variables"],
        json!({"THREADS": 4, "NAME": "value", "FLAG": 1, "RATIO": 2})
    );
    assert_eq!(value["dependencies"][3], json!({"pip": []}));
}

#[test]
fn the_hash_ignores_dependency_order() {
    let first = parse("name: a\nchannels: [conda-forge]\ndependencies: [numpy, python=3.12]\n");
    let second = parse("name: a\nchannels: [conda-forge]\ndependencies: [python=3.12, numpy]\n");
    assert_eq!(first.sha256(), second.sha256());
    let third = parse("name: a\nchannels: [conda-forge]\ndependencies: [python=3.11, numpy]\n");
    assert_ne!(first.sha256(), third.sha256());
}

#[test]
fn name_errors() {
    for text in ["channels: []\n", "name:\n", "name: ''\n", "name: null\n"] {
        assert_eq!(
            error_of(text).to_string(),
            "The name of the environment cannot be empty.",
            "{text}"
        );
    }
    let message = error_of("name: my env\n").to_string();
    assert!(
        message.contains("Invalid environment name \"my env\""),
        "{message}"
    );
    let message = error_of("name: [a]\n").to_string();
    assert!(
        message.contains("must be a string, found a list"),
        "{message}"
    );
    // Every allowed punctuation character.
    parse("name: a-+_@$&?^~.=Z9\n");
    assert!(CondaSpecification::from_yaml("name: café\n").is_err());
}

#[test]
fn none_values_give_the_python_message() {
    let error = error_of("name: x\ndependencies:\n  - numpy\n  -\n  - scipy\n  - null\n");
    assert_eq!(
        error.problems(),
        [
            "Invalid YAML : A forbidden `None` value has been encountered in section `dependencies`, line 1",
            "Invalid YAML : A forbidden `None` value has been encountered in section `dependencies`, line 3",
        ]
    );
    let error = error_of("name: x\nchannels:\n  - ~\n");
    assert_eq!(
        error.to_string(),
        "Invalid YAML : A forbidden `None` value has been encountered in section `channels`, line 0"
    );
    let error = error_of("name: x\ndependencies:\n");
    assert_eq!(
        error.to_string(),
        "Invalid YAML : A forbidden `None` value has been encountered in section dependencies"
    );
    let error = error_of("name: x\ndependencies:\n  - pip:\n    - null\n");
    assert_eq!(
        error.to_string(),
        "Invalid YAML : A forbidden `None` value has been encountered in section `pip`, line 0"
    );
}

#[test]
fn every_problem_is_listed() {
    let error = error_of(
        r#"
name: bad name
channels: [conda-forge, 3]
dependencies:
  - numpy >=>1
  - python=3.12
  - [nested]
  - pip:
      - "requests >= "
      - --no-index
      - ok-package
variables:
  A: [1]
"#,
    );
    let problems = error.problems();
    assert_eq!(problems.len(), 7, "{problems:#?}");
    assert!(problems[0].starts_with("Invalid channel in section `channels`, line 1"));
    assert!(problems[1].starts_with(
        "Invalid conda package dependency specification numpy >=>1 (section `dependencies`, line 0)"
    ));
    assert!(problems[2].starts_with("Invalid dependency in section `dependencies`, line 2"));
    assert!(problems[3].starts_with("Invalid pypi package dependency \"requests >= \""));
    assert_eq!(
        problems[4],
        "Invalid pip option '--no-index' supported options are ['--index-url', '--extra-index-url', '--find-links', '--trusted-host', '--pre'], each with exactly one argument (none for --pre) (section `pip` of `dependencies`, line 3, entry 1)"
    );
    assert!(problems[5].starts_with("Invalid environment name \"bad name\""));
    assert_eq!(
        problems[6],
        "Variable `A` must be a string or an integer, found a list"
    );
    assert_eq!(error.to_string(), problems.join("\n"));
}

#[test]
fn pip_options_need_a_separator() {
    for bad in ["--index-url", "--index-urlhttps://x", "--find-links=/x"] {
        let text = format!("name: x\ndependencies:\n  - pip:\n    - {bad:?}\n");
        let message = error_of(&text).to_string();
        assert!(
            message.starts_with("Invalid pip option") || message.starts_with("Invalid URL"),
            "{bad}: {message}"
        );
    }
    // Python's regex accepts an empty value; an option needs exactly one argument here.
    let message =
        error_of("name: x\ndependencies:\n  - pip:\n    - \"--trusted-host=\"\n").to_string();
    assert!(message.starts_with("Invalid pip option"), "{message}");
}

#[test]
fn yaml_and_shape_errors() {
    let error = error_of("name: [unclosed\n");
    assert!(matches!(error, SpecificationError::Yaml { .. }));
    assert!(
        error
            .to_string()
            .starts_with("Unable to parse. Invalid YAML"),
        "{error}"
    );
    assert!(matches!(
        error_of("name: !python/object x\n"),
        SpecificationError::Yaml { .. }
    ));
    assert!(matches!(
        error_of("a: 1\n---\nb: 2\n"),
        SpecificationError::Yaml { .. }
    ));
    assert!(error_of("").to_string().contains("empty"));
    assert!(error_of("- a\n- b\n").to_string().contains("not a list"));
    assert!(error_of("just text").to_string().contains("not a string"));
    assert!(
        error_of("name: x\nchannels: conda-forge\n")
            .to_string()
            .contains("Section `channels` must be a list")
    );
    assert!(
        error_of("name: x\ndependencies: {pip: [a]}\n")
            .to_string()
            .contains("Section `dependencies` must be a list")
    );
    assert!(
        error_of("name: x\nvariables: [a]\n")
            .to_string()
            .contains("Section `variables` must be a mapping")
    );
    assert!(
        error_of("name: x\nvariables: {A: 1.5}\n")
            .to_string()
            .contains("Variable `A` must be a string or an integer, found a number")
    );
    assert!(
        error_of("name: x\nvariables: {A: .nan}\n")
            .to_string()
            .contains("Variable `A`")
    );
    assert!(
        error_of("name: x\ndescription: 3\n")
            .to_string()
            .contains("Field `description` must be a string")
    );
    // JSON input: same checks.
    let error = CondaSpecification::from_value(&json!({"name": "x", "dependencies": [null]}))
        .expect_err("null dependency");
    assert!(error.to_string().contains("section `dependencies`, line 0"));
    assert!(serde_json::from_value::<CondaSpecification>(json!({"name": 1})).is_err());
}

#[test]
fn odd_inputs_never_panic() {
    let long = "a".repeat(100_000);
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
        .to_owned();
    let mut inputs = vec![
        "\u{0}".to_owned(),
        "\u{feff}name: x\n".to_owned(),
        "name: x\ndependencies: [\"\"]\n".to_owned(),
        "name: x\ndependencies: [\" \"]\n".to_owned(),
        "name: x\ndependencies: [\"::\"]\n".to_owned(),
        "name: x\ndependencies: [\"[\"]\n".to_owned(),
        "name: x\ndependencies: [\"numpy[\"]\n".to_owned(),
        "name: x\ndependencies: [\"numpy[version=\"]\n".to_owned(),
        "name: x\ndependencies: [\"é==1\"]\n".to_owned(),
        "name: x\ndependencies: [\"numpy ==1.0 =\"]\n".to_owned(),
        "name: x\ndependencies: [\"https://\"]\n".to_owned(),
        "name: x\ndependencies: [\"./local.conda\"]\n".to_owned(),
        "name: x\ndependencies: [\"numpy=*=*=*\"]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"ééé>=1\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"a @ \"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"a @ file:///é\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"a; python_version >\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"a[\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"名前==1\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"a==1 ; é\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: [\"--\"]}]\n".to_owned(),
        "name: x\ndependencies: [{pip: \"a\"}]\n".to_owned(),
        "name: x\nvariables: {1: a}\n".to_owned(),
        "name: x\nvariables: {A: 99999999999999999999999}\n".to_owned(),
        "name: x\nvariables: {A: 18446744073709551615}\n".to_owned(),
        "name: x\nvariables: {A: 1e300}\n".to_owned(),
        "name: x\nvariables: {A: -.inf}\n".to_owned(),
        "name: x\nname: y\n".to_owned(),
        "{name: x, ? [a] : b}\n".to_owned(),
        format!("name: {long}\n"),
        format!("name: x\ndependencies: [\"{long}\"]\n"),
        format!("name: x\ndependencies: [{{pip: [\"{long}\"]}}]\n"),
        format!("name: x\nchannels: {deep}\n"),
        bomb,
    ];
    for character in ['é', '😀', '\u{0301}', '\t', '\r'] {
        inputs.push(format!(
            "name: x\ndependencies: [\"numpy{character}>=1\"]\n"
        ));
        inputs.push(format!(
            "name: x\ndependencies: [{{pip: [\"requests{character}>=1\"]}}]\n"
        ));
    }
    for input in inputs {
        let outcome = CondaSpecification::from_yaml(&input);
        if let Err(error) = outcome {
            assert!(!error.to_string().is_empty());
        }
    }
}

#[test]
fn channels_are_normalized_with_the_alias() {
    let alias = "https://conda.anaconda.org";
    assert_eq!(
        normalize_channel("conda-forge", alias),
        "https://conda.anaconda.org/conda-forge"
    );
    assert_eq!(
        normalize_channel("conda-forge/", "https://conda.anaconda.org/"),
        "https://conda.anaconda.org/conda-forge"
    );
    assert_eq!(
        normalize_channel("conda-forge/label/dev", alias),
        "https://conda.anaconda.org/conda-forge/label/dev"
    );
    assert_eq!(
        normalize_channel("https://repo.anaconda.com/pkgs/main/", alias),
        "https://repo.anaconda.com/pkgs/main"
    );
    assert_eq!(
        normalize_channel("http://127.0.0.1:8080/channel", alias),
        "http://127.0.0.1:8080/channel"
    );
    assert_eq!(
        normalize_channel("file:///srv/channel/", alias),
        "file:///srv/channel"
    );
    assert_eq!(
        normalize_channel("/srv/channel", alias),
        "file:///srv/channel"
    );
    assert_eq!(
        normalize_channel("main", "http://mirror.local/conda/"),
        "http://mirror.local/conda/main"
    );
}

fn settings() -> Settings {
    Settings::default()
}

#[test]
fn empty_channels_take_the_defaults() {
    let validated = validate(parse("name: x\ndependencies: [numpy]\n"), &settings()).unwrap();
    assert_eq!(validated.channels, ["conda-forge"]);
    // With the stock settings nothing else changes, so stored specs keep their hash.
    let specification = parse("name: x\nchannels: [conda-forge]\ndependencies: [numpy]\n");
    let validated = validate(specification.clone(), &settings()).unwrap();
    assert_eq!(validated, specification);
}

#[test]
fn allowed_channels_are_compared_normalized_and_stored_as_written() {
    let mut settings = settings();
    settings.conda_allowed_channels = vec![
        "https://conda.anaconda.org/conda-forge/".to_owned(),
        "main".to_owned(),
        "http://mirror.local/pytorch".to_owned(),
    ];
    let validated = validate(
        parse("name: x\nchannels: [conda-forge, main, http://mirror.local/pytorch/]\n"),
        &settings,
    )
    .unwrap();
    assert_eq!(
        validated.channels,
        ["conda-forge", "main", "http://mirror.local/pytorch/"]
    );

    let error = validate(
        parse("name: x\nchannels: [conda-forge, bioconda, nvidia]\n"),
        &settings,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Conda channels {'https://conda.anaconda.org/bioconda', 'https://conda.anaconda.org/nvidia'} not allowed in specification"
    );

    // The default channels are checked too.
    settings.conda_default_channels = vec!["defaults-only".to_owned()];
    assert!(matches!(
        validate(parse("name: x\n"), &settings),
        Err(SpecificationError::ChannelsNotAllowed { .. })
    ));
}

#[test]
fn pypi_packages_follow_the_settings() {
    let mut settings = settings();
    settings.pypi_default_packages = vec!["requests".to_owned()];
    settings.pypi_included_packages = vec!["Rich>=13".to_owned(), "requests".to_owned()];
    let validated = validate(parse("name: x\ndependencies: [python]\n"), &settings).unwrap();
    assert_eq!(
        validated.to_value()["dependencies"],
        json!(["python", {"pip": ["requests", "Rich>=13"]}])
    );

    // Existing pip packages: no defaults; included names match normalized.
    let validated = validate(
        parse("name: x\ndependencies: [python, {pip: [rich]}]\n"),
        &settings,
    )
    .unwrap();
    assert_eq!(
        validated.to_value()["dependencies"],
        json!(["python", {"pip": ["rich", "requests"]}])
    );

    settings.pypi_required_packages = vec!["httpx".to_owned(), "Flask_Login".to_owned()];
    let error = validate(
        parse("name: x\ndependencies: [python, {pip: [flask-login==0.6]}]\n"),
        &settings,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "PyPi packages {'httpx'} required and missing from specification"
    );

    settings.pypi_included_packages = vec!["not a requirement!".to_owned()];
    assert!(matches!(
        validate(parse("name: x\n"), &settings),
        Err(SpecificationError::InvalidSetting {
            setting: "pypi_included_packages",
            ..
        })
    ));
}

#[test]
fn conda_packages_follow_the_settings() {
    let mut settings = settings();
    settings.conda_default_packages = vec!["python=3.12".to_owned()];
    settings.conda_included_packages = vec!["ipykernel".to_owned(), "python".to_owned()];
    let validated = validate(parse("name: x\n"), &settings).unwrap();
    assert_eq!(
        validated.to_value()["dependencies"],
        json!(["python=3.12", "ipykernel"])
    );

    // Only pip dependencies: conda defaults go in front.
    let validated = validate(parse("name: x\ndependencies: [{pip: [rich]}]\n"), &settings).unwrap();
    assert_eq!(
        validated.to_value()["dependencies"],
        json!(["python=3.12", {"pip": ["rich"]}, "ipykernel"])
    );

    // Included packages already present (by name) are not added again.
    let validated = validate(
        parse("name: x\ndependencies: [conda-forge::ipykernel>=6, numpy]\n"),
        &settings,
    )
    .unwrap();
    assert_eq!(
        validated.to_value()["dependencies"],
        json!(["conda-forge::ipykernel>=6", "numpy", "python"])
    );

    settings.conda_required_packages = vec!["numpy>=1".to_owned(), "scipy".to_owned()];
    let error = validate(parse("name: x\ndependencies: [numpy]\n"), &settings).unwrap_err();
    assert_eq!(
        error.to_string(),
        "Conda packages {'scipy'} required and missing from specification"
    );
    assert_eq!(error.problems(), [error.to_string()]);

    settings.conda_required_packages = vec!["numpy >=>".to_owned()];
    assert!(matches!(
        validate(parse("name: x\n"), &settings),
        Err(SpecificationError::InvalidSetting {
            setting: "conda_required_packages",
            ..
        })
    ));
}

#[test]
fn hand_built_specifications_are_checked() {
    let specification = CondaSpecification {
        channels: vec![],
        dependencies: vec![Dependency::Conda("numpy >=>".to_owned())],
        description: Some(String::new()),
        name: "x".to_owned(),
        prefix: None,
        variables: None,
    };
    assert!(specification.check().is_err());
    assert!(validate(specification, &settings()).is_err());
}

#[test]
fn conda_forms_that_strict_rattler_refuses_are_accepted() {
    // conda accepts all of these; the peer database has `blas=*=mkl`.
    for text in [
        "blas=*=mkl",
        "python=3.12.*",
        "python 3.12",
        "numpy=1.2=py_0",
        "numpy 1.2 py_0",
        "numpy>=1 <2",
        "numpy>=1.8,<2|1.9",
        "conda-forge::numpy[version='>=1']",
    ] {
        let specification = parse(&format!("name: x\ndependencies: [{text:?}]\n"));
        assert_eq!(
            specification.dependencies,
            [Dependency::Conda(text.to_owned())]
        );
        assert!(conda_store_core::specification::parse_match_spec(text).is_ok());
    }
    for text in ["numpy >=>1", "numpy==", "numpy*", "ipykernel;", "numpy>=1,"] {
        let message = error_of(&format!("name: x\ndependencies: [{text:?}]\n")).to_string();
        assert!(
            message.starts_with(&format!(
                "Invalid conda package dependency specification {text} "
            )),
            "{message}"
        );
    }
}

#[test]
fn core_yaml_tags_resolve_and_custom_tags_are_refused() {
    assert_eq!(parse("name: !!str 123\n").name, "123");
    assert_eq!(
        parse("name: x\nvariables: {A: !!int '5'}\n")
            .variables
            .expect("variables")["A"],
        Variable::Integer(5)
    );
    // PyYAML's safe_load refuses unknown tags anywhere in the document.
    let error = error_of("name: x\nother: !custom 1\n");
    assert_eq!(
        error.to_string(),
        "Unable to parse. Invalid YAML: unsupported tag !custom"
    );
}

#[test]
fn pip_urls_are_not_expanded_from_the_server_environment() {
    // `${HOME}` must neither be expanded nor echoed back; such URLs are not https://
    // URLs, so they are refused (issue 9).
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    for text in ["x @ ${HOME}", "x @ ${PROJECT_ROOT}/a", "x @ file:${HOME}"] {
        let message =
            error_of(&format!("name: x\ndependencies: [{{pip: [{text:?}]}}]\n")).to_string();
        assert!(!message.contains(&home), "{message}");
    }
    let message =
        error_of("name: x\ndependencies: [{pip: [\"x @ ${HOME} ; python_version >\"]}]\n")
            .to_string();
    assert!(!message.contains(&home), "{message}");
}
