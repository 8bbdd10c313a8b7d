#pragma once

#include <QByteArray>

#include <nlohmann/json_fwd.hpp>

namespace Sluice::Sim {

/// The reason phrase of an HTTP status ("Too Many Requests"); "Status" for ones the simulator never uses.
const char *reasonPhrase(int status);

/// `value` as compact JSON text, invalid UTF-8 replaced (never throws).
QByteArray dumpJson(const nlohmann::json &value);

/// Appends "name: value\r\n".
void appendHeader(QByteArray &headers, const char *name, const QByteArray &value);

/// A whole HTTP/1.1 response: status line, `Content-Type: application/json`, Content-Length,
/// `extraHeaders` (each ending in CRLF), `Connection: close` when `close`, then the body.
QByteArray httpResponse(int status, const QByteArray &body, const QByteArray &extraHeaders, bool close);

/// The head of a streamed (server-sent events) response: `Content-Type: text/event-stream`, and
/// `Transfer-Encoding: chunked` when `chunked` (HTTP/1.1 clients); without it the body ends with the
/// connection, so `Connection: close` is sent as well.
QByteArray sseResponseHead(int status, const QByteArray &extraHeaders, bool chunked, bool close);

/// One chunk of a chunked body: the size in hex, CRLF, the bytes, CRLF.
QByteArray httpChunk(const QByteArray &bytes);

/// The zero-size chunk that ends a chunked body.
inline constexpr char kLastChunk[] = "0\r\n\r\n";

} // namespace Sluice::Sim
