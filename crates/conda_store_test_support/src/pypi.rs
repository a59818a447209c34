//! A PyPI simple index on disk, with real wheels, for pip tests: serve its folder with
//! [`crate::http::SlowChannelServer`] and use `{url}/simple/` as `--index-url`.

use rattler_digest::{Sha256, compute_bytes_digest};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A pure-Python wheel with one module whose `greet()` returns `greeting`.
#[derive(Debug, Clone)]
pub struct TestWheel {
    /// Distribution name (`hello-pip`).
    pub name: String,
    /// Version.
    pub version: String,
    /// What `greet()` returns.
    pub greeting: String,
}

impl TestWheel {
    /// A wheel `name`-`version` of one module named like the distribution.
    pub fn new(name: &str, version: &str, greeting: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            greeting: greeting.to_owned(),
        }
    }

    /// The importable module name (`hello_pip`).
    pub fn module(&self) -> String {
        self.name.replace('-', "_")
    }

    /// The wheel's file name.
    pub fn file_name(&self) -> String {
        format!("{}-{}-py3-none-any.whl", self.module(), self.version)
    }
}

/// A simple index folder: `files/*.whl` and `simple/{name}/index.html`.
#[derive(Debug, Clone)]
pub struct TestPypiIndex {
    /// Its folder.
    pub directory: PathBuf,
}

impl TestPypiIndex {
    /// Writes `wheels` and their index pages (one page per distribution, linking
    /// every version) into `directory`.
    pub fn create(directory: &Path, wheels: &[TestWheel]) -> Self {
        fs::create_dir_all(directory.join("files")).expect("files dir");
        let mut pages: BTreeMap<&str, String> = BTreeMap::new();
        for wheel in wheels {
            let bytes = wheel_bytes(wheel);
            fs::write(directory.join("files").join(wheel.file_name()), &bytes).expect("wheel");
            let sha256: String = compute_bytes_digest::<Sha256>(&bytes)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            pages.entry(&wheel.name).or_default().push_str(&format!(
                "<a href=\"../../files/{file}#sha256={sha256}\">{file}</a>\n",
                file = wheel.file_name()
            ));
        }
        for (name, links) in pages {
            let page = directory.join("simple").join(name);
            fs::create_dir_all(&page).expect("page dir");
            fs::write(
                page.join("index.html"),
                format!("<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n"),
            )
            .expect("index page");
        }
        Self {
            directory: directory.to_owned(),
        }
    }
}

fn wheel_bytes(wheel: &TestWheel) -> Vec<u8> {
    let dist_info = format!("{}-{}.dist-info", wheel.module(), wheel.version);
    let files = [
        (
            format!("{}/__init__.py", wheel.module()),
            format!("def greet():\n    return {:?}\n", wheel.greeting),
        ),
        (
            format!("{dist_info}/METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
                wheel.name, wheel.version
            ),
        ),
        (
            format!("{dist_info}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: conda-store-test-support\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
    ];
    let mut record: String = files
        .iter()
        .map(|(path, content)| {
            let digest = compute_bytes_digest::<Sha256>(content.as_bytes());
            format!(
                "{path},sha256={},{}\n",
                urlsafe_base64(&digest),
                content.len()
            )
        })
        .collect();
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (path, content) in files
        .iter()
        .map(|(path, content)| (path.clone(), content.clone()))
        .chain([(format!("{dist_info}/RECORD"), record)])
    {
        archive.start_file(path, options).expect("zip entry");
        archive.write_all(content.as_bytes()).expect("zip write");
    }
    archive.finish().expect("zip finish").into_inner()
}

/// Unpadded URL-safe base64, as wheel RECORD files write hashes.
fn urlsafe_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk.iter().enumerate().fold(0u32, |value, (index, byte)| {
            value | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..=chunk.len() {
            text.push(char::from(
                ALPHABET[(value >> (18 - 6 * index) & 63) as usize],
            ));
        }
    }
    text
}

/// A source distribution (`.zip` sdist) whose build backend is `backend.py` in its own
/// tree (`requires = []`, `backend-path = ["."]`): the given Python source, which must
/// define the PEP 517 hooks. Building it runs that code.
#[derive(Debug, Clone)]
pub struct TestSourceDistribution {
    /// Distribution name (`probe`).
    pub name: String,
    /// Version.
    pub version: String,
    /// The source of `backend.py`.
    pub backend: String,
}

impl TestSourceDistribution {
    /// The archive's file name.
    pub fn file_name(&self) -> String {
        format!("{}-{}.zip", self.name, self.version)
    }
}

impl TestPypiIndex {
    /// Adds `sdist` to the index: its archive under `files/` and its own page.
    pub fn add_source_distribution(&self, sdist: &TestSourceDistribution) {
        let root = format!("{}-{}", sdist.name, sdist.version);
        let files = [
            (
                format!("{root}/pyproject.toml"),
                "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n"
                    .to_owned(),
            ),
            (format!("{root}/backend.py"), sdist.backend.clone()),
            (
                format!("{root}/PKG-INFO"),
                format!(
                    "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
                    sdist.name, sdist.version
                ),
            ),
        ];
        let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (path, content) in &files {
            archive
                .start_file(path.as_str(), zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            archive.write_all(content.as_bytes()).expect("zip write");
        }
        let bytes = archive.finish().expect("zip finish").into_inner();
        fs::create_dir_all(self.directory.join("files")).expect("files dir");
        fs::write(self.directory.join("files").join(sdist.file_name()), &bytes).expect("sdist");
        let sha256: String = compute_bytes_digest::<Sha256>(&bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let page = self.directory.join("simple").join(&sdist.name);
        fs::create_dir_all(&page).expect("page dir");
        fs::write(
            page.join("index.html"),
            format!(
                "<!DOCTYPE html>\n<html><body>\n<a href=\"../../files/{file}#sha256={sha256}\">{file}</a>\n</body></html>\n",
                file = sdist.file_name()
            ),
        )
        .expect("index page");
    }
}
