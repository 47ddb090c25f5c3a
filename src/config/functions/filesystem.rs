//! Filesystem functions: `file`, the one function that is not pure; it reads a UTF-8 file
//! relative to the configuration's directory, refusing what is not a regular file or too large.

use std::fs;
use std::io::{self, Read as _};

use super::arguments::{Call, FunctionError};
use crate::config::value::Value;

/// The largest file `file` reads; a configuration never needs more, a bigger file is a mistake.
const FILE_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// The contents of a UTF-8 file, relative to the configuration's directory.
pub(super) fn file(call: &Call<'_>) -> Result<Value, FunctionError> {
    let path = call.ctx.base_dir.join(call.string(0)?);
    let fail = |problem: &str| call.error(0, format!("names `{}`, which {problem}", path.display()));
    let io_fail = |e: &io::Error| match e.kind() {
        io::ErrorKind::NotFound => fail("does not exist"),
        kind => fail(&format!("cannot be read: {kind}")),
    };
    let metadata = fs::metadata(&path).map_err(|e| io_fail(&e))?;
    if metadata.is_dir() {
        return Err(fail("is a directory"));
    }
    // A FIFO or a device would block the read or never end: only regular files are read.
    if !metadata.is_file() {
        return Err(fail("is not a regular file (a FIFO, socket or device)"));
    }
    let too_big = || {
        fail(&format!(
            "is larger than {} MiB, the most `file` reads",
            FILE_LIMIT_BYTES >> 20
        ))
    };
    if metadata.len() > FILE_LIMIT_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    // Read one byte more than the limit to notice files that grew or whose size is not known
    // in advance (pipes, devices).
    fs::File::open(&path)
        .and_then(|f| f.take(FILE_LIMIT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| io_fail(&e))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > FILE_LIMIT_BYTES) {
        return Err(too_big());
    }
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| fail("is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{n, s, u};
    use super::*;
    use crate::config::functions::{FunctionContext, call};

    /// A directory of its own for one test, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("blockform-functions-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_reads_utf8_relative_to_the_base_dir() {
        let scratch = Scratch::new("file");
        let dir = &scratch.0;
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("sub/key.pub"), "ssh-ed25519 AAAA é\n").unwrap();
        fs::write(dir.join("binary"), [0xff, 0xfe]).unwrap();
        fs::File::create(dir.join("big"))
            .unwrap()
            .set_len(FILE_LIMIT_BYTES + 1)
            .unwrap();
        let ctx = FunctionContext { base_dir: dir };
        let read = |path: Value| call("file", &[path], &ctx);

        assert_eq!(read(s("sub/key.pub")), Ok(s("ssh-ed25519 AAAA é\n")));
        assert_eq!(read(u("var.path")), Ok(u("var.path")));
        let shown = |name: &str| dir.join(name).display().to_string();
        let error = read(s("missing.txt")).unwrap_err();
        assert_eq!(
            error.message,
            format!(
                "argument 1 of `file` names `{}`, which does not exist",
                shown("missing.txt")
            )
        );
        assert_eq!(error.argument, Some(0));
        assert_eq!(
            read(s("sub")).unwrap_err().message,
            format!("argument 1 of `file` names `{}`, which is a directory", shown("sub"))
        );
        assert_eq!(
            read(s("binary")).unwrap_err().message,
            format!(
                "argument 1 of `file` names `{}`, which is not UTF-8 text",
                shown("binary")
            )
        );
        assert_eq!(
            read(s("big")).unwrap_err().message,
            format!(
                "argument 1 of `file` names `{}`, which is larger than 16 MiB, the most `file` reads",
                shown("big")
            )
        );
        assert_eq!(
            read(n(1.0)).unwrap_err().message,
            "argument 1 of `file` must be a string, got a number"
        );
        // A FIFO would block the read forever; a device never ends.
        let fifo = dir.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let error = read(s("fifo")).unwrap_err().message;
        assert_eq!(
            error,
            format!(
                "argument 1 of `file` names `{}`, which is not a regular file (a FIFO, socket or device)",
                shown("fifo")
            )
        );
        assert!(
            read(s("/dev/zero"))
                .unwrap_err()
                .message
                .contains("is not a regular file")
        );
    }
}
