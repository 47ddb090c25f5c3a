//! `virsh -c URI` as argv vectors: one command, or a script of several commands in one call
//! (virsh's own `;`-separated command string, every word quoted for its tokenizer), with the
//! errors people need to act on (a domain that does not exist) typed.

use blockform_provider::{CommandContext, CommandRunner, ObjectKind, ObjectRef, ProviderError, Result};

/// A libvirt connection driven through `virsh`.
#[derive(Debug, Clone)]
pub struct Virsh {
    runner: CommandRunner,
    uri: String,
}

impl Virsh {
    /// `virsh` on this machine, connecting to `uri`.
    pub fn new(uri: &str) -> Self {
        Self {
            runner: CommandRunner::local(),
            uri: uri.to_owned(),
        }
    }

    /// The connection URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn command_line<S: AsRef<str>>(&self, words: &[S]) -> Vec<String> {
        let mut line = vec!["virsh".to_owned(), "-q".to_owned(), "-c".to_owned(), self.uri.clone()];
        line.extend(words.iter().map(|word| word.as_ref().to_owned()));
        line
    }

    /// Runs one virsh command; its stdout on success, a typed error otherwise.
    pub fn run<S: AsRef<str>>(&self, words: &[S]) -> Result<String> {
        let argv = self.command_line(words);
        let output = self.runner.output(&argv)?;
        if output.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        Err(classify(CommandContext {
            argv,
            remote: None,
            status: output.status,
            stderr: output.stderr,
        }))
    }

    /// Runs several virsh commands in one process; its stdout (the commands' outputs in order)
    /// and stderr. A command that fails does not stop the next ones: the caller reads which
    /// answered from the output.
    pub fn script(&self, commands: &[Vec<String>]) -> Result<(String, String)> {
        let line: Vec<String> = commands
            .iter()
            .map(|words| words.iter().map(|word| quote(word)).collect::<Vec<_>>().join(" "))
            .collect();
        let argv = self.command_line(&[line.join(" ; ")]);
        let output = self.runner.output(&argv)?;
        Ok((String::from_utf8_lossy(&output.stdout).into_owned(), output.stderr))
    }
}

/// A word as virsh's command-string tokenizer reads it back unchanged: single-quoted, with
/// each `'` closed, backslash-escaped and reopened.
pub fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The typed error of a failed virsh command.
fn classify(context: CommandContext) -> ProviderError {
    let stderr = context.stderr.clone();
    let command = Some(Box::new(context));
    if let Some(domain) = missing_domain(&stderr) {
        return ProviderError::NotFound {
            object: ObjectRef::new(ObjectKind::Other, format!("domain {domain}")),
            command,
        };
    }
    if stderr.contains("Failed to connect socket") || stderr.contains("failed to connect to the hypervisor") {
        return ProviderError::Transient {
            reason: "libvirt does not answer".to_owned(),
            command,
        };
    }
    ProviderError::Fatal {
        reason: "virsh failed".to_owned(),
        command,
    }
}

/// The domain named by virsh's "failed to get domain 'NAME'" or "Domain not found" error.
fn missing_domain(stderr: &str) -> Option<String> {
    if let Some(rest) = stderr.split("failed to get domain '").nth(1) {
        return Some(rest.split('\'').next().unwrap_or_default().to_owned());
    }
    stderr.contains("Domain not found").then(|| {
        stderr
            .split("name '")
            .nth(1)
            .map_or_else(String::new, |r| r.split('\'').next().unwrap_or_default().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_virsh_and_a_missing_domain_is_not_found() {
        assert_eq!(quote("fw"), "'fw'");
        assert_eq!(quote("it's; here"), r"'it'\''s; here'");
        let error = classify(CommandContext {
            argv: vec!["virsh".into()],
            remote: None,
            status: Some(1),
            stderr: "error: failed to get domain 'db-1'\n".into(),
        });
        assert!(matches!(&error, ProviderError::NotFound { object, .. } if object.name == "domain db-1"));
    }
}
