//! Real local conda channels for tests: `.conda` and `.tar.bz2` archives with
//! `info/index.json` and `info/paths.json`, prefix placeholders in text and binary
//! files, indexed into `repodata.json` as `conda index` does, served as `file://`.

use rattler_conda_types::PackageRecord;
use rattler_conda_types::compression_level::CompressionLevel;
use rattler_conda_types::package::{
    FileMode, IndexJson, PackageFile, PathType, PathsEntry, PathsJson, PrefixPlaceholder,
};
use rattler_digest::{Md5, Sha256, compute_bytes_digest};
use rattler_package_streaming::seek::read_package_file;
use rattler_package_streaming::write::{write_conda_package, write_tar_bz2_package};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A conda-build style placeholder, long enough for binary prefix replacement (the new
/// prefix must not be longer than the placeholder).
pub const PLACEHOLDER: &str = "/opt/conda-bld/test_1700000000000/_h_env_placehold_placehold_placehold_placehold_placehold_placehold_placehold_placehold_placehold_placehold_placehold_placehold";

/// Size of the fake shared library written by [`TestFile::binary_with_prefix`].
pub const BINARY_SIZE: usize = 512;

/// One file of a test package.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// Path inside the prefix.
    pub path: String,
    /// File contents.
    pub content: Vec<u8>,
    /// Whether the placeholder in it is replaced as text or binary, if it has one.
    pub placeholder: Option<FileMode>,
    /// Whether it is executable.
    pub executable: bool,
    /// For a symbolic link: where it points (then `content` is unused).
    pub link_target: Option<String>,
}

impl TestFile {
    /// A plain data file, hardlinked from the package cache when installed.
    pub fn data(path: &str, content: &str) -> Self {
        Self {
            path: path.to_owned(),
            content: content.as_bytes().to_vec(),
            placeholder: None,
            executable: false,
            link_target: None,
        }
    }

    /// A symbolic link to `target` (absolute, or relative to the link's folder).
    pub fn symlink(path: &str, target: &str) -> Self {
        Self {
            path: path.to_owned(),
            content: Vec::new(),
            placeholder: None,
            executable: false,
            link_target: Some(target.to_owned()),
        }
    }

    /// An executable shell script; `{prefix}` in `body` becomes the placeholder, which
    /// the installer replaces with the real prefix.
    pub fn script(path: &str, body: &str) -> Self {
        Self {
            path: path.to_owned(),
            content: format!("#!/bin/sh\n{}", body.replace("{prefix}", PLACEHOLDER)).into_bytes(),
            placeholder: Some(FileMode::Text),
            executable: true,
            link_target: None,
        }
    }

    /// A binary file of [`BINARY_SIZE`] bytes with the placeholder inside, replaced
    /// NUL-padded at install time.
    pub fn binary_with_prefix(path: &str, marker: &str) -> Self {
        let mut content = b"\x7fELF-test\0".to_vec();
        content.extend_from_slice(PLACEHOLDER.as_bytes());
        content.extend_from_slice(format!("/lib\0{marker}\0").as_bytes());
        content.resize(BINARY_SIZE, 0);
        Self {
            path: path.to_owned(),
            content,
            placeholder: Some(FileMode::Binary),
            executable: false,
            link_target: None,
        }
    }
}

/// A package to put in a test channel.
#[derive(Debug, Clone)]
pub struct TestPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Build string.
    pub build: String,
    /// `linux-64`, `noarch`, ...
    pub subdir: String,
    /// Run dependencies (match specs).
    pub depends: Vec<String>,
    /// `generic` or `python` for noarch packages.
    pub noarch: Option<String>,
    /// Files it installs.
    pub files: Vec<TestFile>,
    /// Write `.conda` (true) or `.tar.bz2` (false).
    pub conda_format: bool,
}

impl TestPackage {
    /// A `linux-64` `.conda` package with no dependencies and no files.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            build: "h0_0".to_owned(),
            subdir: "linux-64".to_owned(),
            depends: Vec::new(),
            noarch: None,
            files: Vec::new(),
            conda_format: true,
        }
    }

    /// Adds run dependencies.
    pub fn depends(mut self, specs: &[&str]) -> Self {
        self.depends
            .extend(specs.iter().map(|spec| (*spec).to_owned()));
        self
    }

    /// Adds a file.
    pub fn file(mut self, file: TestFile) -> Self {
        self.files.push(file);
        self
    }

    /// Makes it a `noarch: generic` package.
    pub fn noarch_generic(mut self) -> Self {
        self.subdir = "noarch".to_owned();
        self.noarch = Some("generic".to_owned());
        self.build = "0".to_owned();
        self
    }

    /// Writes it as `.tar.bz2` instead of `.conda`.
    pub fn tar_bz2(mut self) -> Self {
        self.conda_format = false;
        self
    }

    /// The archive file name.
    pub fn file_name(&self) -> String {
        let extension = if self.conda_format {
            "conda"
        } else {
            "tar.bz2"
        };
        format!("{}-{}-{}.{extension}", self.name, self.version, self.build)
    }
}

/// The packages most tests use:
/// - `libhello` 1.0.0 (`.tar.bz2`) and 2.0.0: `bin/libhello` script, `lib/libhello.so`
///   binary with the prefix inside, a plain data file;
/// - `hello-data` 0.1.0, `noarch: generic`: a data file;
/// - `hello` 1.0.0: `bin/hello` prints its prefix, runs `libhello` and reads the data;
///   depends on `libhello >=1` and `hello-data`;
/// - `conflict` 1.0.0: depends on `libhello <1`, which does not exist (unsatisfiable).
pub fn standard_packages() -> Vec<TestPackage> {
    let libhello = |version: &str| {
        TestPackage::new("libhello", version)
            .file(TestFile::script(
                "bin/libhello",
                &format!("echo \"libhello {version}\"\n"),
            ))
            .file(TestFile::binary_with_prefix("lib/libhello.so", version))
            .file(TestFile::data(
                "share/libhello/VERSION",
                &format!("{version}\n"),
            ))
    };
    vec![
        libhello("1.0.0").tar_bz2(),
        libhello("2.0.0"),
        TestPackage::new("hello-data", "0.1.0")
            .noarch_generic()
            .file(TestFile::data("share/hello-data/greeting.txt", "Hello from a test channel")),
        TestPackage::new("hello", "1.0.0")
            .depends(&["libhello >=1", "hello-data >=0.1"])
            .file(TestFile::script(
                "bin/hello",
                "PREFIX=\"{prefix}\"\necho \"prefix=$PREFIX\"\n\"$PREFIX/bin/libhello\"\ncat \"$PREFIX/share/hello-data/greeting.txt\"\necho\n",
            )),
        TestPackage::new("conflict", "1.0.0").depends(&["libhello <1"]),
    ]
}

/// A `python` package made from this machine's Python 3: a venv-style prefix
/// (`bin/python` links to the real interpreter, `pyvenv.cfg` names its home), so the
/// installed environment has its own `site-packages` for pip tests. Its version is
/// the machine's Python version.
pub fn python_package() -> TestPackage {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable)); print('%d.%d.%d' % sys.version_info[:3])",
        ])
        .output()
        .expect("python3 must be on PATH for pip tests");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = text.lines();
    let executable = lines.next().expect("python3 path").to_owned();
    let version = lines.next().expect("python3 version").to_owned();
    let home = Path::new(&executable)
        .parent()
        .expect("python3 folder")
        .display()
        .to_string();
    let short_version: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    TestPackage::new("python", &version)
        .file(TestFile::symlink("bin/python", &executable))
        .file(TestFile::symlink("bin/python3", "python"))
        .file(TestFile::data(
            "pyvenv.cfg",
            &format!("home = {home}\ninclude-system-site-packages = false\nversion = {version}\n"),
        ))
        .file(TestFile::data(
            &format!("lib/python{short_version}/site-packages/README.txt"),
            "pip packages are installed here\n",
        ))
}

/// A channel on disk.
#[derive(Debug, Clone)]
pub struct TestChannel {
    /// Its directory.
    pub directory: PathBuf,
}

impl TestChannel {
    /// Writes `packages` into `directory` and indexes it.
    pub async fn create(directory: &Path, packages: &[TestPackage]) -> Self {
        let staging = tempfile::tempdir().expect("staging dir");
        for package in packages {
            write_package(package, directory, staging.path());
        }
        index_channel(directory);
        Self {
            directory: directory.to_owned(),
        }
    }

    /// The channel's `file://` URL (no trailing slash).
    pub fn url(&self) -> String {
        format!("file://{}", self.directory.display())
    }

    /// The path of a package archive in the channel.
    pub fn archive(&self, package: &TestPackage) -> PathBuf {
        self.directory
            .join(&package.subdir)
            .join(package.file_name())
    }
}

/// Writes `repodata.json` into every subdir of `channel` (and an empty `noarch`), from
/// the `info/index.json`, size and hashes of each archive there, as `conda index` does.
pub fn index_channel(channel: &Path) {
    fs::create_dir_all(channel.join("noarch")).expect("noarch dir");
    for entry in fs::read_dir(channel).expect("read channel") {
        let subdir = entry.expect("channel entry").path();
        if subdir.is_dir() {
            index_subdir(&subdir);
        }
    }
}

fn index_subdir(subdir: &Path) {
    let name = subdir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("subdir name");
    let mut tar_bz2 = serde_json::Map::new();
    let mut conda = serde_json::Map::new();
    for entry in fs::read_dir(subdir).expect("read subdir") {
        let path = entry.expect("subdir entry").path();
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        let packages = if file_name.ends_with(".conda") {
            &mut conda
        } else if file_name.ends_with(".tar.bz2") {
            &mut tar_bz2
        } else {
            continue;
        };
        let index: IndexJson = read_package_file(&path).expect("info/index.json of the archive");
        let bytes = fs::read(&path).expect("read archive");
        let record = PackageRecord::from_index_json(
            index,
            Some(bytes.len() as u64),
            Some(compute_bytes_digest::<Sha256>(&bytes)),
            Some(compute_bytes_digest::<Md5>(&bytes)),
        )
        .expect("package record");
        packages.insert(
            file_name,
            serde_json::to_value(record).expect("record json"),
        );
    }
    let repodata = serde_json::json!({
        "info": { "subdir": name },
        "packages": tar_bz2,
        "packages.conda": conda,
        "removed": [],
        "repodata_version": 1,
    });
    fs::write(
        subdir.join("repodata.json"),
        serde_json::to_string_pretty(&repodata).expect("repodata json"),
    )
    .expect("write repodata.json");
}

fn write_package(package: &TestPackage, channel: &Path, staging: &Path) {
    let base = staging.join(format!(
        "{}-{}-{}",
        package.name, package.version, package.build
    ));
    fs::create_dir_all(base.join("info")).expect("info dir");
    let mut entries = Vec::new();
    let mut paths = Vec::new();
    for file in &package.files {
        let path = base.join(&file.path);
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        if let Some(target) = &file.link_target {
            std::os::unix::fs::symlink(target, &path).expect("symlink");
            entries.push(PathsEntry {
                relative_path: PathBuf::from(&file.path),
                no_link: false,
                path_type: PathType::SoftLink,
                prefix_placeholder: None,
                sha256: None,
                size_in_bytes: None,
            });
            paths.push(path);
            continue;
        }
        fs::write(&path, &file.content).expect("write file");
        if file.executable {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        entries.push(PathsEntry {
            relative_path: PathBuf::from(&file.path),
            no_link: false,
            path_type: PathType::HardLink,
            prefix_placeholder: file.placeholder.map(|file_mode| PrefixPlaceholder {
                file_mode,
                placeholder: PLACEHOLDER.to_owned(),
                experimental_offsets: None,
            }),
            sha256: Some(compute_bytes_digest::<Sha256>(&file.content)),
            size_in_bytes: Some(file.content.len() as u64),
        });
        paths.push(path);
    }
    let mut paths_json = PathsJson {
        paths: entries,
        paths_version: 1,
    };
    paths_json.sort();
    write_info(
        &base,
        "paths.json",
        &serde_json::to_string_pretty(&paths_json).expect("json"),
        &mut paths,
    );

    let mut index = serde_json::json!({
        "name": package.name,
        "version": package.version,
        "build": package.build,
        "build_number": 0,
        "depends": package.depends,
        "license": "BSD-3-Clause",
        "subdir": package.subdir,
        "timestamp": 1_700_000_000_000u64,
    });
    match &package.noarch {
        Some(kind) => index["noarch"] = kind.clone().into(),
        None => {
            index["arch"] = "x86_64".into();
            index["platform"] = "linux".into();
        }
    }
    let index = IndexJson::from_str(&index.to_string()).expect("valid index.json");
    write_info(
        &base,
        "index.json",
        &serde_json::to_string_pretty(&index).expect("json"),
        &mut paths,
    );
    let listing: String = package
        .files
        .iter()
        .map(|file| format!("{}\n", file.path))
        .collect();
    write_info(&base, "files", &listing, &mut paths);

    let subdir = channel.join(&package.subdir);
    fs::create_dir_all(&subdir).expect("subdir");
    let archive = fs::File::create(subdir.join(package.file_name())).expect("archive");
    let name = format!("{}-{}-{}", package.name, package.version, package.build);
    if package.conda_format {
        write_conda_package(
            archive,
            &base,
            &paths,
            CompressionLevel::Default,
            Some(1),
            &name,
            None,
            None,
        )
        .expect("write .conda");
    } else {
        write_tar_bz2_package(
            archive,
            &base,
            &paths,
            CompressionLevel::Default,
            None,
            None,
        )
        .expect("write .tar.bz2");
    }
}

fn write_info(base: &Path, name: &str, text: &str, paths: &mut Vec<PathBuf>) {
    let path = base.join("info").join(name);
    fs::write(&path, text).expect("write info file");
    paths.push(path);
}
