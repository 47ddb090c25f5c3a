//! A minimal NBD client (the protocol of `qemu-nbd`), enough to read, write and query one
//! export over a unix socket: fixed newstyle handshake with `NBD_OPT_GO` (falling back to
//! `NBD_OPT_EXPORT_NAME`), and the commands `READ`, `WRITE`, `WRITE_ZEROES`, `FLUSH`,
//! `BLOCK_STATUS` and `DISC`, one request at a time.
//!
//! Reading through qemu-nbd rather than converting to a pipe gives random access to the
//! guest-visible bytes of a qcow2 file or of one of its internal snapshots, and `BLOCK_STATUS`
//! with the `qemu:dirty-bitmap:NAME` meta context lists what changed since a dirty bitmap was
//! added. Structured replies are negotiated only for block status, so reads and writes use
//! simple replies. The protocol is described in the NBD project's `doc/proto.md`.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// "NBDMAGIC", the first thing a server sends.
const INIT_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// "IHAVEOPT": newstyle negotiation, and the prefix of every option the client sends.
const OPTION_MAGIC: u64 = 0x4948_4156_454f_5054;
/// The prefix of every option reply.
const OPTION_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
const FLAG_NO_ZEROES: u16 = 1 << 1;

const OPT_EXPORT_NAME: u32 = 1;
const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_SET_META_CONTEXT: u32 = 10;

const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_ERROR_BIT: u32 = 1 << 31;
const REP_ERR_UNSUP: u32 = REP_ERROR_BIT | 1;

const INFO_EXPORT: u16 = 0;
const INFO_BLOCK_SIZE: u16 = 3;

const TRANSMISSION_READ_ONLY: u16 = 1 << 1;
const TRANSMISSION_SEND_FLUSH: u16 = 1 << 2;
const TRANSMISSION_SEND_WRITE_ZEROES: u16 = 1 << 6;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;
const CMD_FLUSH: u16 = 3;
const CMD_WRITE_ZEROES: u16 = 6;
const CMD_BLOCK_STATUS: u16 = 7;

const REPLY_FLAG_DONE: u16 = 1 << 0;
const REPLY_TYPE_NONE: u16 = 0;
const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
const REPLY_TYPE_ERROR_BIT: u16 = 1 << 15;

/// The largest payload a server must accept when it does not say (the protocol's default).
const DEFAULT_MAX_PAYLOAD: u32 = 32 << 20;

/// The longest range one `WRITE_ZEROES` or `BLOCK_STATUS` request covers.
const MAX_EFFECT_BYTES: u32 = 1 << 30;

/// Option replies longer than this are not believed.
const MAX_OPTION_REPLY_BYTES: u32 = 1 << 20;

/// Structured reply chunks longer than this are not believed.
const MAX_CHUNK_BYTES: u32 = 64 << 20;

/// The block status flag of `base:allocation` meaning the range reads as zeros.
pub const STATE_ZERO: u32 = 1 << 1;

/// The block status flag of `qemu:dirty-bitmap:NAME` meaning the range was written.
pub const STATE_DIRTY: u32 = 1 << 0;

/// What went wrong talking to an NBD server.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    /// The socket failed or timed out.
    #[error("NBD connection failed: {0}")]
    Io(#[from] io::Error),
    /// The server sent something the protocol does not allow.
    #[error("NBD server broke the protocol: {0}")]
    Protocol(String),
    /// The server refused an option during the handshake.
    #[error("NBD server refused `{option}` with reply {reply:#x}{}", message_suffix(.message))]
    OptionRefused {
        /// The option.
        option: &'static str,
        /// The error reply type.
        reply: u32,
        /// The server's explanation.
        message: String,
    },
    /// The server does not offer what is needed.
    #[error("NBD server does not offer {0}")]
    Unsupported(String),
    /// A command failed on the server.
    #[error("NBD {command} of {length} bytes at offset {offset} failed: {}{}", Errno(*.errno), message_suffix(.message))]
    Command {
        /// The command.
        command: &'static str,
        /// Where the range started.
        offset: u64,
        /// How long it was.
        length: u64,
        /// The error number the server sent.
        errno: u32,
        /// The server's explanation, from a structured error chunk.
        message: String,
    },
}

impl NbdError {
    /// Whether the socket timed out (the server hangs rather than failed).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Io(error) if matches!(error.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// An NBD error number, displayed as the errno it stands for.
struct Errno(u32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            1 => "operation not permitted (EPERM)",
            5 => "input/output error (EIO)",
            12 => "out of memory (ENOMEM)",
            22 => "invalid argument (EINVAL)",
            28 => "no space left on device (ENOSPC)",
            75 => "value too large (EOVERFLOW)",
            95 => "operation not supported (ENOTSUP)",
            108 => "server is shutting down (ESHUTDOWN)",
            other => return write!(f, "error {other}"),
        };
        f.write_str(name)
    }
}

/// What to ask for during the handshake.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handshake<'a> {
    /// The export to attach to (`""` is qemu-nbd's default export).
    pub export_name: &'a str,
    /// A meta context to query with `BLOCK_STATUS` (`base:allocation`,
    /// `qemu:dirty-bitmap:NAME`); asking for one negotiates structured replies.
    pub meta_context: Option<&'a str>,
}

/// One status descriptor from `BLOCK_STATUS`: a length and the context's flags for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDescriptor {
    /// The number of bytes it covers.
    pub length: u64,
    /// The flags of the meta context.
    pub flags: u32,
}

/// A connection to one export in the transmission phase.
#[derive(Debug)]
pub struct NbdClient {
    stream: UnixStream,
    size_bytes: u64,
    transmission_flags: u16,
    max_payload: u32,
    meta_context_id: Option<u32>,
    next_cookie: u64,
}

impl NbdClient {
    /// Negotiates an export on a connected stream.
    pub fn handshake(mut stream: UnixStream, request: Handshake<'_>) -> Result<Self, NbdError> {
        if read_u64(&mut stream)? != INIT_MAGIC {
            return Err(NbdError::Protocol(
                "the server did not greet with `NBDMAGIC`".to_owned(),
            ));
        }
        if read_u64(&mut stream)? != OPTION_MAGIC {
            return Err(NbdError::Protocol(
                "the server does not speak the newstyle handshake".to_owned(),
            ));
        }
        let server_flags = read_u16(&mut stream)?;
        if server_flags & FLAG_FIXED_NEWSTYLE == 0 {
            return Err(NbdError::Protocol(
                "the server does not speak the fixed newstyle handshake".to_owned(),
            ));
        }
        let no_zeroes = server_flags & FLAG_NO_ZEROES != 0;
        let client_flags = u32::from(FLAG_FIXED_NEWSTYLE | if no_zeroes { FLAG_NO_ZEROES } else { 0 });
        stream.write_all(&client_flags.to_be_bytes())?;

        let mut client = Self {
            stream,
            size_bytes: 0,
            transmission_flags: 0,
            max_payload: DEFAULT_MAX_PAYLOAD,
            meta_context_id: None,
            next_cookie: 1,
        };
        if let Some(context) = request.meta_context {
            client.negotiate_structured_replies()?;
            client.meta_context_id = Some(client.set_meta_context(request.export_name, context)?);
        }
        client.go(request.export_name, request.meta_context.is_none(), no_zeroes)?;
        Ok(client)
    }

    /// The socket, for setting timeouts.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// The size of the export in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Whether the server refuses writes.
    pub fn is_read_only(&self) -> bool {
        self.transmission_flags & TRANSMISSION_READ_ONLY != 0
    }

    /// Fills `buf` with the bytes at `offset`.
    pub fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), NbdError> {
        let chunk = self.max_payload as usize;
        let mut done = 0;
        for piece in buf.chunks_mut(chunk) {
            let at = offset + done;
            let length = len_u32(piece.len());
            let cookie = self.send_request(CMD_READ, at, length, &[])?;
            self.simple_reply(cookie, "READ", at, u64::from(length))?;
            self.stream.read_exact(piece)?;
            done += u64::from(length);
        }
        Ok(())
    }

    /// Writes `data` at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), NbdError> {
        let chunk = self.max_payload as usize;
        let mut done = 0;
        for piece in data.chunks(chunk) {
            let at = offset + done;
            let length = len_u32(piece.len());
            let cookie = self.send_request(CMD_WRITE, at, length, piece)?;
            self.simple_reply(cookie, "WRITE", at, u64::from(length))?;
            done += u64::from(length);
        }
        Ok(())
    }

    /// Whether the server can write zeros without a payload.
    pub fn can_write_zeroes(&self) -> bool {
        self.transmission_flags & TRANSMISSION_SEND_WRITE_ZEROES != 0
    }

    /// Makes `length` bytes at `offset` read as zeros (the server may punch a hole).
    pub fn write_zeroes(&mut self, offset: u64, length: u64) -> Result<(), NbdError> {
        if !self.can_write_zeroes() {
            return Err(NbdError::Unsupported("WRITE_ZEROES".to_owned()));
        }
        let mut done = 0;
        while done < length {
            let at = offset + done;
            let piece = u32::try_from(length - done).unwrap_or(u32::MAX).min(MAX_EFFECT_BYTES);
            let cookie = self.send_request(CMD_WRITE_ZEROES, at, piece, &[])?;
            self.simple_reply(cookie, "WRITE_ZEROES", at, u64::from(piece))?;
            done += u64::from(piece);
        }
        Ok(())
    }

    /// Asks the server to make every completed write durable, if it supports flushing.
    pub fn flush(&mut self) -> Result<(), NbdError> {
        if self.transmission_flags & TRANSMISSION_SEND_FLUSH == 0 {
            return Ok(());
        }
        let cookie = self.send_request(CMD_FLUSH, 0, 0, &[])?;
        self.simple_reply(cookie, "FLUSH", 0, 0)
    }

    /// Queries the negotiated meta context for the range at `offset`; the descriptors cover
    /// at least one byte from `offset` and never more than the range.
    pub fn block_status(&mut self, offset: u64, length: u64) -> Result<Vec<StatusDescriptor>, NbdError> {
        let Some(context_id) = self.meta_context_id else {
            return Err(NbdError::Unsupported("a meta context on this connection".to_owned()));
        };
        let length = u32::try_from(length).unwrap_or(u32::MAX).min(MAX_EFFECT_BYTES);
        let cookie = self.send_request(CMD_BLOCK_STATUS, offset, length, &[])?;
        let mut descriptors = Vec::new();
        let mut covered = 0_u64;
        loop {
            let magic = read_u32(&mut self.stream)?;
            if magic == SIMPLE_REPLY_MAGIC {
                // Only an error may come as a simple reply once structured replies are on.
                let errno = read_u32(&mut self.stream)?;
                self.expect_cookie(cookie)?;
                return Err(command_error(
                    "BLOCK_STATUS",
                    offset,
                    u64::from(length),
                    errno,
                    String::new(),
                ));
            }
            if magic != STRUCTURED_REPLY_MAGIC {
                return Err(NbdError::Protocol(format!("reply magic {magic:#x}")));
            }
            let flags = read_u16(&mut self.stream)?;
            let kind = read_u16(&mut self.stream)?;
            self.expect_cookie(cookie)?;
            let chunk_length = read_u32(&mut self.stream)?;
            if chunk_length > MAX_CHUNK_BYTES {
                return Err(NbdError::Protocol(format!("a reply chunk of {chunk_length} bytes")));
            }
            let payload = read_vec(&mut self.stream, chunk_length as usize)?;
            match kind {
                REPLY_TYPE_BLOCK_STATUS => {
                    if payload.len() < 4 || (payload.len() - 4) % 8 != 0 {
                        return Err(NbdError::Protocol(format!(
                            "a block status chunk of {} bytes",
                            payload.len()
                        )));
                    }
                    if be_u32(&payload[..4]) != context_id {
                        return Err(NbdError::Protocol("block status for an unknown context".to_owned()));
                    }
                    for pair in payload[4..].chunks_exact(8) {
                        let remaining = u64::from(length) - covered;
                        let descriptor_length = u64::from(be_u32(&pair[..4])).min(remaining);
                        if descriptor_length == 0 {
                            continue;
                        }
                        covered += descriptor_length;
                        descriptors.push(StatusDescriptor {
                            length: descriptor_length,
                            flags: be_u32(&pair[4..]),
                        });
                    }
                }
                REPLY_TYPE_NONE => {}
                kind if kind & REPLY_TYPE_ERROR_BIT != 0 => {
                    let (errno, message) = parse_error_chunk(&payload)?;
                    return Err(command_error("BLOCK_STATUS", offset, u64::from(length), errno, message));
                }
                kind => return Err(NbdError::Protocol(format!("unexpected reply chunk type {kind}"))),
            }
            if flags & REPLY_FLAG_DONE != 0 {
                break;
            }
        }
        if descriptors.is_empty() {
            return Err(NbdError::Protocol(format!(
                "block status at offset {offset} described no bytes"
            )));
        }
        Ok(descriptors)
    }

    /// Ends the session politely; the server then closes the export.
    pub fn disconnect(&mut self) -> Result<(), NbdError> {
        self.send_request(CMD_DISC, 0, 0, &[])?;
        self.stream.flush()?;
        // The server closes its end; nothing more is read.
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        Ok(())
    }

    fn negotiate_structured_replies(&mut self) -> Result<(), NbdError> {
        self.send_option(OPT_STRUCTURED_REPLY, &[])?;
        let (reply, data) = self.option_reply(OPT_STRUCTURED_REPLY)?;
        match reply {
            REP_ACK => Ok(()),
            reply => Err(refused("NBD_OPT_STRUCTURED_REPLY", reply, &data)),
        }
    }

    fn set_meta_context(&mut self, export_name: &str, context: &str) -> Result<u32, NbdError> {
        let mut data = Vec::new();
        put_string(&mut data, export_name);
        data.extend_from_slice(&1_u32.to_be_bytes());
        put_string(&mut data, context);
        self.send_option(OPT_SET_META_CONTEXT, &data)?;
        let mut found = None;
        loop {
            let (reply, data) = self.option_reply(OPT_SET_META_CONTEXT)?;
            match reply {
                REP_META_CONTEXT => {
                    if data.len() < 4 {
                        return Err(NbdError::Protocol("a meta context reply without an ID".to_owned()));
                    }
                    if &data[4..] == context.as_bytes() {
                        found = Some(be_u32(&data[..4]));
                    }
                }
                REP_ACK => break,
                reply => return Err(refused("NBD_OPT_SET_META_CONTEXT", reply, &data)),
            }
        }
        found.ok_or_else(|| NbdError::Unsupported(format!("the meta context `{context}`")))
    }

    fn go(&mut self, export_name: &str, may_fall_back: bool, no_zeroes: bool) -> Result<(), NbdError> {
        let mut data = Vec::new();
        put_string(&mut data, export_name);
        data.extend_from_slice(&1_u16.to_be_bytes());
        data.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
        self.send_option(OPT_GO, &data)?;
        let mut have_export = false;
        loop {
            let (reply, data) = self.option_reply(OPT_GO)?;
            match reply {
                REP_INFO => {
                    if data.len() < 2 {
                        return Err(NbdError::Protocol("an empty info reply".to_owned()));
                    }
                    match be_u16(&data[..2]) {
                        INFO_EXPORT if data.len() >= 12 => {
                            self.size_bytes = be_u64(&data[2..10]);
                            self.transmission_flags = be_u16(&data[10..12]);
                            have_export = true;
                        }
                        INFO_BLOCK_SIZE if data.len() >= 14 => {
                            let maximum = be_u32(&data[10..14]);
                            if maximum > 0 {
                                self.max_payload = maximum.min(DEFAULT_MAX_PAYLOAD);
                            }
                        }
                        _ => {}
                    }
                }
                REP_ACK if have_export => return Ok(()),
                REP_ACK => {
                    return Err(NbdError::Protocol(
                        "NBD_OPT_GO succeeded without export info".to_owned(),
                    ));
                }
                REP_ERR_UNSUP if may_fall_back => return self.export_name(export_name, no_zeroes),
                reply => return Err(refused("NBD_OPT_GO", reply, &data)),
            }
        }
    }

    /// The handshake's ending for servers without `NBD_OPT_GO`.
    fn export_name(&mut self, export_name: &str, no_zeroes: bool) -> Result<(), NbdError> {
        self.send_option(OPT_EXPORT_NAME, export_name.as_bytes())?;
        self.size_bytes = read_u64(&mut self.stream)?;
        self.transmission_flags = read_u16(&mut self.stream)?;
        if !no_zeroes {
            read_vec(&mut self.stream, 124)?;
        }
        Ok(())
    }

    fn send_option(&mut self, option: u32, data: &[u8]) -> Result<(), NbdError> {
        let mut message = Vec::with_capacity(16 + data.len());
        message.extend_from_slice(&OPTION_MAGIC.to_be_bytes());
        message.extend_from_slice(&option.to_be_bytes());
        message.extend_from_slice(&len_u32(data.len()).to_be_bytes());
        message.extend_from_slice(data);
        self.stream.write_all(&message)?;
        Ok(())
    }

    fn option_reply(&mut self, option: u32) -> Result<(u32, Vec<u8>), NbdError> {
        if read_u64(&mut self.stream)? != OPTION_REPLY_MAGIC {
            return Err(NbdError::Protocol("bad option reply magic".to_owned()));
        }
        let replied_to = read_u32(&mut self.stream)?;
        if replied_to != option {
            return Err(NbdError::Protocol(format!(
                "a reply to option {replied_to} while waiting for option {option}"
            )));
        }
        let reply = read_u32(&mut self.stream)?;
        let length = read_u32(&mut self.stream)?;
        if length > MAX_OPTION_REPLY_BYTES {
            return Err(NbdError::Protocol(format!("an option reply of {length} bytes")));
        }
        let data = read_vec(&mut self.stream, length as usize)?;
        Ok((reply, data))
    }

    fn send_request(&mut self, command: u16, offset: u64, length: u32, payload: &[u8]) -> Result<u64, NbdError> {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        let mut header = [0_u8; 28];
        header[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        header[4..6].copy_from_slice(&0_u16.to_be_bytes());
        header[6..8].copy_from_slice(&command.to_be_bytes());
        header[8..16].copy_from_slice(&cookie.to_be_bytes());
        header[16..24].copy_from_slice(&offset.to_be_bytes());
        header[24..28].copy_from_slice(&length.to_be_bytes());
        self.stream.write_all(&header)?;
        if !payload.is_empty() {
            self.stream.write_all(payload)?;
        }
        Ok(cookie)
    }

    fn simple_reply(&mut self, cookie: u64, command: &'static str, offset: u64, length: u64) -> Result<(), NbdError> {
        let magic = read_u32(&mut self.stream)?;
        if magic != SIMPLE_REPLY_MAGIC {
            return Err(NbdError::Protocol(format!("reply magic {magic:#x}")));
        }
        let errno = read_u32(&mut self.stream)?;
        self.expect_cookie(cookie)?;
        if errno != 0 {
            return Err(command_error(command, offset, length, errno, String::new()));
        }
        Ok(())
    }

    fn expect_cookie(&mut self, cookie: u64) -> Result<(), NbdError> {
        let replied = read_u64(&mut self.stream)?;
        if replied == cookie {
            Ok(())
        } else {
            Err(NbdError::Protocol(format!(
                "a reply for request {replied} while waiting for request {cookie}"
            )))
        }
    }
}

fn command_error(command: &'static str, offset: u64, length: u64, errno: u32, message: String) -> NbdError {
    NbdError::Command {
        command,
        offset,
        length,
        errno,
        message,
    }
}

fn refused(option: &'static str, reply: u32, data: &[u8]) -> NbdError {
    if reply & REP_ERROR_BIT == 0 {
        return NbdError::Protocol(format!("unexpected reply {reply} to `{option}`"));
    }
    NbdError::OptionRefused {
        option,
        reply,
        message: String::from_utf8_lossy(data).into_owned(),
    }
}

fn parse_error_chunk(payload: &[u8]) -> Result<(u32, String), NbdError> {
    if payload.len() < 6 {
        return Err(NbdError::Protocol("an error chunk without an error".to_owned()));
    }
    let errno = be_u32(&payload[..4]);
    let message_length = usize::from(be_u16(&payload[4..6]));
    let message = payload.get(6..6 + message_length).unwrap_or_default();
    Ok((errno, String::from_utf8_lossy(message).into_owned()))
}

fn put_string(data: &mut Vec<u8>, string: &str) {
    data.extend_from_slice(&len_u32(string.len()).to_be_bytes());
    data.extend_from_slice(string.as_bytes());
}

/// A length that fits a protocol field: callers chunk to `max_payload` (at most 32 MiB) or
/// pass names of at most 4 KiB.
fn len_u32(length: usize) -> u32 {
    u32::try_from(length).unwrap_or(u32::MAX)
}

fn read_vec(stream: &mut UnixStream, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0_u8; length];
    stream.read_exact(&mut data)?;
    Ok(data)
}

fn read_array<const N: usize>(stream: &mut UnixStream) -> io::Result<[u8; N]> {
    let mut bytes = [0_u8; N];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_u16(stream: &mut UnixStream) -> io::Result<u16> {
    read_array(stream).map(u16::from_be_bytes)
}

fn read_u32(stream: &mut UnixStream) -> io::Result<u32> {
    read_array(stream).map(u32::from_be_bytes)
}

fn read_u64(stream: &mut UnixStream) -> io::Result<u64> {
    read_array(stream).map(u64::from_be_bytes)
}

fn be_u16(bytes: &[u8]) -> u16 {
    let mut array = [0_u8; 2];
    array.copy_from_slice(&bytes[..2]);
    u16::from_be_bytes(array)
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut array = [0_u8; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(array)
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut array = [0_u8; 8];
    array.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_errno() {
        let error = command_error("READ", 4096, 512, 5, String::new());
        assert_eq!(
            error.to_string(),
            "NBD READ of 512 bytes at offset 4096 failed: input/output error (EIO)"
        );
        let error = command_error("WRITE", 0, 1, 1234, "quota".into());
        assert_eq!(
            error.to_string(),
            "NBD WRITE of 1 bytes at offset 0 failed: error 1234: quota"
        );
        assert_eq!(
            refused("NBD_OPT_GO", REP_ERROR_BIT | 6, b"export not found").to_string(),
            "NBD server refused `NBD_OPT_GO` with reply 0x80000006: export not found"
        );
    }

    #[test]
    fn error_chunks_carry_a_message() {
        let mut payload = 22_u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&3_u16.to_be_bytes());
        payload.extend_from_slice(b"bad");
        assert_eq!(parse_error_chunk(&payload).unwrap(), (22, "bad".to_owned()));
        assert!(parse_error_chunk(&[0, 0]).is_err());
    }
}
