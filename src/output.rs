//! The one output layer every command writes through: `-` is standard output, at
//! most one output may claim it, and files are written whole or not at all.
//!
//! A regular file (or a path that does not exist yet) is written to an
//! unpredictable temporary file beside it (`O_EXCL`, by `tempfile`) and renamed
//! into place, so a reader never sees a partial file and a planted symlink
//! cannot redirect the write. A path that already names something else — a
//! device (`/dev/null`), a FIFO, a process substitution (`>(…)`,
//! `/proc/self/fd/N`) — is written in place: renaming over it would replace the
//! device or the pipe with a regular file.
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;

use crate::error::InputError;

/// Whether `path` means standard output.
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// Check every output before any work, so a typo does not cost a whole run:
/// at most one output on standard output, no path given to two outputs, and
/// each file's directory exists and takes a new file. `outputs` pairs each
/// flag (`--json`) with its value.
pub fn check_outputs(outputs: &[(&str, Option<&Path>)]) -> Result<(), InputError> {
    let given: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(flag, path)| path.map(|p| (*flag, p)))
        .collect();
    let on_stdout: Vec<&str> = given
        .iter()
        .filter(|(_, path)| is_stdout(path))
        .map(|(flag, _)| *flag)
        .collect();
    if on_stdout.len() > 1 {
        return Err(InputError::flag(
            on_stdout.join(", "),
            "only one output can go to standard output (`-`); give the others a file",
        ));
    }
    let files: Vec<(&str, &Path)> = given.into_iter().filter(|(_, p)| !is_stdout(p)).collect();
    for (i, (flag, path)) in files.iter().enumerate() {
        // `/dev/null` may take every output; a regular file only one.
        let device = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let earlier = files[..i].iter().find(|(_, p)| same_path(p, path));
        if let (false, Some((other, _))) = (device, earlier) {
            return Err(InputError::flag(
                format!("{other}, {flag}"),
                format!(
                    "both write {}; give each output its own file",
                    path.display()
                ),
            ));
        }
        check_writable(flag, path)?;
    }
    Ok(())
}

/// Whether two output paths name the same file (a missing file: same directory
/// and name).
fn same_path(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| -> PathBuf {
        if let Ok(full) = std::fs::canonicalize(p) {
            return full;
        }
        let dir = parent_dir(p);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        dir.join(p.file_name().unwrap_or_default())
    };
    a == b || resolve(a) == resolve(b)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The checks `open` would fail on, made before the run.
fn check_writable(flag: &str, path: &Path) -> Result<(), InputError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(InputError::flag(
                flag,
                format!("{}: is a directory", path.display()),
            ))
        }
        // A device or a FIFO is written in place; opening it here could block.
        Ok(meta) if !meta.is_file() => return Ok(()),
        _ => {}
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(InputError::flag(
            flag,
            format!(
                "{}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
        ));
    }
    tempfile::Builder::new()
        .prefix(".capplan-check.")
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|err| {
            InputError::flag(
                flag,
                format!("{}: cannot write there: {err}", path.display()),
            )
        })
}

/// The results of writing several outputs: every one is tried, each failure is
/// printed, and the first is returned, so one bad path does not lose the rest.
#[derive(Default)]
pub struct Outcomes {
    first_error: Option<anyhow::Error>,
}

impl Outcomes {
    pub fn note(&mut self, result: anyhow::Result<()>) {
        if let Err(err) = result {
            if self.first_error.is_some() {
                eprintln!("error: {err:#}");
            } else {
                self.first_error = Some(err);
            }
        }
    }

    pub fn finish(self) -> anyhow::Result<()> {
        self.first_error.map_or(Ok(()), Err)
    }
}

/// Whether any of `paths` is standard output (then tables go to stderr).
pub fn any_stdout<'a>(paths: impl IntoIterator<Item = Option<&'a Path>>) -> bool {
    paths.into_iter().flatten().any(is_stdout)
}

/// Print human-readable text: to stdout, or to stderr when a data output
/// already holds stdout. A closed pipe (`| head`) is not an error.
pub fn print_text(text: &str, stdout_taken: bool) -> anyhow::Result<()> {
    let result = if stdout_taken {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    match result {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
        _ => Ok(()),
    }
}

enum Sink {
    /// A temporary file beside `dest`, renamed over it on commit.
    Replace {
        writer: BufWriter<NamedTempFile>,
        dest: PathBuf,
    },
    /// Written in place: stdout, a device, a FIFO.
    InPlace(BufWriter<Box<dyn Write>>),
}

/// An output being written; nothing appears at the path until [`commit`].
/// Dropped without `commit`, the temporary file is removed.
///
/// [`commit`]: OutputFile::commit
pub struct OutputFile {
    sink: Sink,
    path: PathBuf,
}

impl OutputFile {
    /// Start writing `path` (`-`: standard output).
    pub fn create(path: &Path) -> anyhow::Result<OutputFile> {
        Ok(OutputFile {
            sink: open(path)?,
            path: path.to_path_buf(),
        })
    }

    fn inner(&mut self) -> &mut dyn Write {
        match &mut self.sink {
            Sink::Replace { writer, .. } => writer,
            Sink::InPlace(writer) => writer,
        }
    }

    /// Flush, sync and put the file in place.
    pub fn commit(self) -> anyhow::Result<()> {
        let cannot = || format!("cannot write {}", self.path.display());
        match self.sink {
            Sink::InPlace(mut writer) => writer.flush().with_context(cannot),
            Sink::Replace { writer, dest } => {
                let tmp = writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(cannot)?;
                tmp.as_file().sync_all().with_context(cannot)?;
                // On failure PersistError hands the temp file back; dropping it removes it.
                tmp.persist(&dest)
                    .map_err(|e| e.error)
                    .with_context(cannot)?;
                Ok(())
            }
        }
    }
}

/// Standard output whose reader may stop early (`| head`): once the pipe is
/// closed the rest is dropped without an error, as `print_text` does.
struct QuietPipe<W>(W);

impl<W: Write> Write for QuietPipe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner().write_all(buf)
    }

    /// Flushes the buffer only; [`OutputFile::commit`] puts the file in place.
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner().flush()
    }
}

fn open(path: &Path) -> anyhow::Result<Sink> {
    if is_stdout(path) {
        return Ok(Sink::InPlace(BufWriter::new(Box::new(QuietPipe(
            std::io::stdout(),
        )))));
    }
    let cannot = || format!("cannot write {}", path.display());
    // Follow symlinks: what matters is what the write would land on.
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(cannot)?;
            return Ok(Sink::InPlace(BufWriter::new(Box::new(file))));
        }
        Ok(meta) if meta.is_dir() => anyhow::bail!("{}: is a directory", path.display()),
        _ => {}
    }
    // A symlink to a regular file: replace the file it points to, keep the link.
    let dest = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).with_context(cannot)?
        }
        _ => path.to_path_buf(),
    };
    let dir = parent_dir(&dest);
    let file_name = dest
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(cannot)?;
    Ok(Sink::Replace {
        writer: BufWriter::new(tmp),
        dest,
    })
}

/// Write `bytes` to `path` whole (`-`: standard output).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = OutputFile::create(path)?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.commit()
}

/// Write `value` as pretty JSON to `path` (`-`: stdout), streaming it rather than
/// building the whole text in memory (a long run's history is large).
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut file = OutputFile::create(path)?;
    serde_json::to_writer_pretty(&mut file, value)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(b"\n")?;
    file.commit()
}

/// A directory of outputs written whole (`--out-dir`): its files go to a temporary
/// sibling directory, renamed into place by [`OutputDir::commit`], so a reader (or
/// `capplan merge`) never sees half of it, even when a signal ended the run.
pub struct OutputDir {
    tmp: tempfile::TempDir,
    dest: PathBuf,
}

impl OutputDir {
    /// Check `dest` before any work: it must not exist, or be an empty directory.
    pub fn check(flag: &str, dest: &Path) -> Result<(), InputError> {
        match std::fs::read_dir(dest) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(InputError::flag(
                        flag,
                        format!(
                            "{} already holds files; give a new or empty directory (results \
                             of two runs are never mixed)",
                            dest.display()
                        ),
                    ));
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(InputError::flag(flag, format!("{}: {e}", dest.display()))),
        }
    }

    /// Start writing the directory `dest` (its parents are created).
    pub fn create(dest: &Path) -> anyhow::Result<OutputDir> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = dest
            .file_name()
            .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        // The run's folder on a shared volume (`/results/RUN/shard-I`) may not exist yet.
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempdir_in(parent)
            .with_context(|| format!("cannot create a directory beside {}", dest.display()))?;
        Ok(OutputDir {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Create the file `name` in the directory.
    pub fn file(&self, name: &str) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
        let path = self.tmp.path().join(name);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(std::io::BufWriter::new(file))
    }

    /// Write the whole file `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let mut file = self.file(name)?;
        file.write_all(bytes)?;
        file.flush()?;
        Ok(())
    }

    /// Put the directory in place (replacing an empty one).
    pub fn commit(self) -> anyhow::Result<()> {
        let cannot = || format!("cannot write {}", self.dest.display());
        for entry in std::fs::read_dir(self.tmp.path()).with_context(cannot)? {
            std::fs::File::open(entry.with_context(cannot)?.path())
                .and_then(|f| f.sync_all())
                .with_context(cannot)?;
        }
        if self.dest.is_dir() {
            // An empty directory (checked before the run) is replaced.
            std::fs::remove_dir(&self.dest).with_context(cannot)?;
        }
        let tmp = self.tmp.keep();
        std::fs::rename(&tmp, &self.dest).with_context(cannot)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temp_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, b"old contents, longer than the new ones\n").unwrap();
        write_bytes(&path, b"a,b\n1,2\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n1,2\n");
        let uncommitted = OutputFile::create(&dir.path().join("never.csv")).unwrap();
        drop(uncommitted);
        assert_eq!(names(dir.path()), ["out.csv"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_keeps_pointing_at_the_replaced_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_bytes(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        write_bytes(Path::new("/dev/null"), b"discarded").unwrap();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(!meta.is_file(), "/dev/null must stay a device");
    }

    #[test]
    fn a_failed_rename_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way: creating the temp works, the rename cannot.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("inside"), b"x").unwrap();
        assert!(write_bytes(&blocked, b"data").is_err());
        assert_eq!(names(dir.path()), ["blocked"]);
    }

    #[test]
    fn outputs_are_checked_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let dash = Some(Path::new("-"));
        let a = dir.path().join("a.json");
        let file = Some(a.as_path());
        assert!(check_outputs(&[("--json", dash), ("--out", file)]).is_ok());
        let err = check_outputs(&[("--json", dash), ("--out", dash)]).unwrap_err();
        assert!(err.to_string().contains("--json, --out"), "{err}");
        let same = dir.path().join(".").join("a.json");
        let err = check_outputs(&[("--json", file), ("--html", Some(&same))]).unwrap_err();
        assert!(err.to_string().contains("--json, --html"), "{err}");
        let missing = dir.path().join("nodir").join("run");
        let err = check_outputs(&[("--csv", Some(&missing))]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let err = check_outputs(&[("--json", Some(dir.path()))]).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert_eq!(
            names(dir.path()),
            Vec::<String>::new(),
            "the check leaves nothing"
        );
    }
}
