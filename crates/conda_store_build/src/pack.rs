//! The CONDA_PACK artifact: a relocatable `tar.gz` of an installed environment.
//!
//! Files of the environment that contain its prefix (the ones whose packages declared a
//! prefix placeholder, listed in `conda-meta/*.json`) are archived as installed. The
//! archive adds `bin/conda-unpack`, which rewrites the old prefix to wherever the
//! archive was extracted: text files by plain replacement, binary files inside each
//! NUL-terminated string, padded with NULs to the original length (as conda does). It
//! needs only `/bin/sh` and `perl`.

use crate::error::BuildError;
use flate2::Compression;
use flate2::write::GzEncoder;
use rattler_conda_types::PrefixRecord;
use rattler_conda_types::package::FileMode;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Writes the archive of `prefix` to `output`. Runs on a blocking thread.
pub async fn conda_pack(prefix: &Path, output: &Path) -> Result<(), BuildError> {
    let prefix = prefix.to_owned();
    let output = output.to_owned();
    tokio::task::spawn_blocking(move || write_archive(&prefix, &output))
        .await
        .map_err(|error| BuildError::Internal(error.to_string()))?
}

fn failed(prefix: &Path, error: impl std::fmt::Display) -> BuildError {
    BuildError::Pack {
        prefix: prefix.to_owned(),
        reason: error.to_string(),
    }
}

fn write_archive(prefix: &Path, output: &Path) -> Result<(), BuildError> {
    let files = files_with_prefix(prefix)?;
    let script = unpack_script(prefix, &files);
    let file = File::create(output).map_err(|error| failed(prefix, error))?;
    let mut archive = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    archive.follow_symlinks(false);
    archive
        .append_dir_all(".", prefix)
        .map_err(|error| failed(prefix, error))?;
    // Appended after the environment's files, so they replace any of the same name.
    for (name, content) in [
        ("bin/conda-unpack", script.as_str()),
        ("bin/activate", ACTIVATE),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o755);
        header.set_mtime(0);
        header.set_cksum();
        archive
            .append_data(&mut header, name, content.as_bytes())
            .map_err(|error| failed(prefix, error))?;
    }
    archive
        .into_inner()
        .and_then(GzEncoder::finish)
        .map_err(|error| failed(prefix, error))?;
    Ok(())
}

/// Every file of the environment that holds its prefix, with how to rewrite it.
fn files_with_prefix(prefix: &Path) -> Result<Vec<(FileMode, PathBuf)>, BuildError> {
    let meta = prefix.join("conda-meta");
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&meta).map_err(|error| failed(prefix, error))?;
    for entry in entries {
        let path = entry.map_err(|error| failed(prefix, error))?.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let record = PrefixRecord::from_path(&path).map_err(|error| failed(prefix, error))?;
        for file in record.paths_data.paths {
            if file.prefix_placeholder.is_some() {
                files.push((file.file_mode.unwrap_or(FileMode::Text), file.relative_path));
            }
        }
    }
    files.sort_by(|left, right| left.1.cmp(&right.1));
    Ok(files)
}

/// The archive's `bin/activate`, sourced by bash, zsh or a POSIX sh (which cannot
/// know the sourced file's path, so it needs the prefix as argument). Its last command
/// succeeds when it found the environment, so `. bin/activate PREFIX && CMD` runs CMD.
const ACTIVATE: &str = r#"# activate, written by conda-store (like conda-pack's): puts this environment first
# on PATH and sets CONDA_PREFIX. Use: . /path/to/env/bin/activate [/path/to/env]
# (sh needs the path argument; bash and zsh find the file). `deactivate` undoes it.
# bash and zsh know the sourced file; sh sees the caller's arguments unless given one.
if [ -n "${BASH_SOURCE:-}" ]; then
    _conda_store_prefix="$(cd "$(dirname "$BASH_SOURCE")/.." && pwd)"
elif [ -n "${ZSH_VERSION:-}" ]; then
    _conda_store_prefix="$(cd "$(dirname "$0")/.." && pwd)"
elif [ -n "${1:-}" ]; then
    _conda_store_prefix="$(cd "$1" && pwd)"
else
    _conda_store_prefix=""
    echo "activate: name the environment: . /path/to/env/bin/activate /path/to/env" >&2
fi
deactivate() {
    if [ -n "${_CONDA_STORE_OLD_PATH+set}" ]; then
        if [ -d "${CONDA_PREFIX:-}/etc/conda/deactivate.d" ]; then
            for _conda_store_script in "$CONDA_PREFIX"/etc/conda/deactivate.d/*.sh; do
                if [ -f "$_conda_store_script" ]; then . "$_conda_store_script"; fi
            done
        fi
        PATH="$_CONDA_STORE_OLD_PATH"
        export PATH
        PS1="$_CONDA_STORE_OLD_PS1"
        unset _CONDA_STORE_OLD_PATH _CONDA_STORE_OLD_PS1 CONDA_PREFIX _conda_store_script
        hash -r 2>/dev/null || true
    fi
}
if [ -n "$_conda_store_prefix" ] && [ "${CONDA_PREFIX:-}" != "$_conda_store_prefix" ]; then
    deactivate
    _CONDA_STORE_OLD_PATH="$PATH"
    _CONDA_STORE_OLD_PS1="${PS1:-}"
    CONDA_PREFIX="$_conda_store_prefix"
    PATH="$_conda_store_prefix/bin:$PATH"
    export CONDA_PREFIX PATH
    PS1="($(basename "$_conda_store_prefix")) ${PS1:-}"
    hash -r 2>/dev/null || true
    for _conda_store_script in "$_conda_store_prefix"/etc/conda/activate.d/*.sh; do
        if [ -f "$_conda_store_script" ]; then . "$_conda_store_script"; fi
    done
    unset _conda_store_script
fi
# The status of sourcing: failure when the environment was not found.
[ -n "$_conda_store_prefix" ] && unset _conda_store_prefix
"#;

/// Quotes text for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn unpack_script(prefix: &Path, files: &[(FileMode, PathBuf)]) -> String {
    let mut script = String::from(
        "#!/bin/sh\n\
         # conda-unpack, written by conda-store: points this environment's files at the\n\
         # place it was unpacked to. Run it once, after extracting the archive.\n\
         set -e\n\
         new_prefix=\"$(cd \"$(dirname \"$0\")/..\" && pwd -P)\"\n",
    );
    let _ = writeln!(
        script,
        "old_prefix={}",
        shell_quote(&prefix.display().to_string())
    );
    script.push_str(
        "exec perl -e '\n\
         use strict; use warnings;\n\
         my ($old, $new, @files) = @ARGV;\n\
         for my $entry (@files) {\n\
         \x20 my ($mode, $name) = split /:/, $entry, 2;\n\
         \x20 my $path = \"$new/$name\";\n\
         \x20 next unless -f $path && !-l $path;\n\
         \x20 open(my $in, \"<:raw\", $path) or die \"$path: $!\";\n\
         \x20 my $data = do { local $/; <$in> }; close $in;\n\
         \x20 my $before = length $data;\n\
         \x20 if ($mode eq \"binary\") {\n\
         \x20   $data =~ s{(\\Q$old\\E[^\\0]*)}{\n\
         \x20     my $original = $1;\n\
         \x20     (my $string = $original) =~ s/\\Q$old\\E/$new/g;\n\
         \x20     my $pad = length($original) - length($string);\n\
         \x20     die \"$path: the new prefix is longer than the old one\\n\" if $pad < 0;\n\
         \x20     $string . (\"\\0\" x $pad)\n\
         \x20   }ge;\n\
         \x20   die \"$path: size changed\\n\" if length($data) != $before;\n\
         \x20 } else {\n\
         \x20   $data =~ s/\\Q$old\\E/$new/g;\n\
         \x20 }\n\
         \x20 open(my $out, \"+<:raw\", $path) or die \"$path: $!\";\n\
         \x20 print $out $data; truncate($out, length $data); close $out;\n\
         }\n\
         ' \"$old_prefix\" \"$new_prefix\"",
    );
    for (mode, path) in files {
        let mode = match mode {
            FileMode::Binary => "binary",
            FileMode::Text => "text",
        };
        let _ = write!(
            script,
            " \\\n  {}",
            shell_quote(&format!("{mode}:{}", path.display()))
        );
    }
    script.push('\n');
    script
}
