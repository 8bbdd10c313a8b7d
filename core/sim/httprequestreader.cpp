#include "httprequestreader.h"

#include <QIODevice>

#include <algorithm>

namespace Sluice::Sim {

namespace {

constexpr qsizetype kMaxHeaderBytes = 64 * 1024;
constexpr qint64 kMaxBodyBytes = 32LL * 1024 * 1024;
/// Buffers above this capacity are released once empty (a 32 MiB body should not stay pinned).
constexpr qsizetype kKeptBufferCapacity = 1024 * 1024;

bool equalsNoCase(QByteArrayView a, const char *b)
{
    return qstrnicmp(a.data(), a.size(), b) == 0;
}

QByteArrayView trimmed(QByteArrayView v)
{
    while (!v.isEmpty() && (v.front() == ' ' || v.front() == '\t'))
        v = v.sliced(1);
    while (!v.isEmpty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
        v.chop(1);
    return v;
}

/// True when the comma-separated header value lists `token` (case-insensitive).
bool hasToken(QByteArrayView value, const char *token)
{
    while (!value.isEmpty()) {
        const qsizetype comma = value.indexOf(',');
        const QByteArrayView item = trimmed(comma < 0 ? value : value.first(comma));
        if (equalsNoCase(item, token))
            return true;
        if (comma < 0)
            break;
        value = value.sliced(comma + 1);
    }
    return false;
}

/// A decimal of at most 12 digits.
bool parseLength(QByteArrayView text, qint64 &value)
{
    if (text.isEmpty() || text.size() > 12)
        return false;
    qint64 v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    value = v;
    return true;
}

} // namespace

void HttpRequestReader::readFrom(QIODevice *device, qint64 available)
{
    const qsizetype old = m_buffer.size();
    m_buffer.resize(old + available);
    const qint64 n = device->read(m_buffer.data() + old, available);
    m_buffer.resize(old + std::max<qint64>(n, 0));
}

HttpRequestReader::Status HttpRequestReader::next()
{
    if (!m_haveHead) {
        const int result = parseHead();
        if (result < 0)
            return Status::NeedMore;
        if (result > 0)
            return fail(result, result == 431 ? "Request headers too large" : "Malformed request");
        if (m_head.chunked)
            return fail(411, "Transfer-Encoding is not supported; send Content-Length");
        if (m_head.contentLength > kMaxBodyBytes)
            return fail(413, "Request body larger than 32 MiB");
        m_haveHead = true;
        m_sentContinue = false;
    }
    const qsizetype total = m_head.headerBytes + qsizetype(m_head.contentLength);
    if (m_buffer.size() - m_pos < total) {
        if (m_buffer.capacity() < m_pos + total)
            m_buffer.reserve(m_pos + total);
        return Status::NeedMore;
    }
    fillRequest();
    return Status::Ready;
}

HttpRequestReader::Status HttpRequestReader::fail(int status, const char *message)
{
    m_errorStatus = status;
    m_errorMessage = message;
    return Status::Failed;
}

void HttpRequestReader::fillRequest()
{
    const char *request = m_buffer.constData() + m_pos;
    const auto view = [request](Span span) {
        return QByteArrayView(request + span.offset, span.length);
    };
    m_request.method = view(m_head.method);
    QByteArrayView path = view(m_head.target);
    if (const qsizetype query = path.indexOf('?'); query >= 0)
        path.truncate(query);
    m_request.path = path;
    m_request.authorization = view(m_head.authorization);
    m_request.apiKey = view(m_head.apiKey);
    m_request.body = QByteArrayView(request + m_head.headerBytes, qsizetype(m_head.contentLength));
    m_request.hasAuthorization = m_head.hasAuthorization;
    m_request.hasApiKey = m_head.hasApiKey;
    m_request.keepAlive = m_head.keepAlive;
    m_request.http10 = m_head.http10;
}

void HttpRequestReader::consume()
{
    m_pos += m_head.headerBytes + qsizetype(m_head.contentLength);
    m_scanFrom = m_pos;
    m_haveHead = false;
    m_request = {};
}

void HttpRequestReader::compact()
{
    const qsizetype remaining = m_buffer.size() - m_pos;
    if (remaining == 0) {
        if (m_buffer.capacity() > kKeptBufferCapacity)
            m_buffer = QByteArray();
        else
            m_buffer.resize(0);
    } else if (m_pos > 0 && m_pos >= remaining) {
        // Shift only when at least as much was consumed as is left: amortised linear in the bytes read.
        m_buffer.remove(0, m_pos);
    } else {
        return;
    }
    m_scanFrom -= m_pos;
    m_pos = 0;
}

void HttpRequestReader::release()
{
    m_buffer = QByteArray();
    m_pos = m_scanFrom = 0;
    m_haveHead = false;
    m_request = {};
}

int HttpRequestReader::parseHead()
{
    const char *data = m_buffer.constData();
    const qsizetype size = m_buffer.size();
    // Tolerate blank lines before a request line (RFC 9112 2.2).
    while (m_pos < size && (data[m_pos] == '\r' || data[m_pos] == '\n'))
        ++m_pos;
    m_scanFrom = std::max(m_scanFrom, m_pos);
    const QByteArrayView all(data, size);
    const qsizetype end = all.indexOf(QByteArrayView("\r\n\r\n"), std::max(m_pos, m_scanFrom - 3));
    if (end < 0) {
        m_scanFrom = size;
        return size - m_pos > kMaxHeaderBytes ? 431 : -1;
    }
    Head head;
    head.headerBytes = end + 4 - m_pos;
    if (head.headerBytes > kMaxHeaderBytes)
        return 431;
    const char *request = data + m_pos;
    const QByteArrayView block(request, head.headerBytes - 4);
    qsizetype lineEnd = block.indexOf('\n');
    if (const int error = parseRequestLine(lineEnd < 0 ? block : block.first(lineEnd), request, head))
        return error;
    bool sawLength = false;
    while (lineEnd >= 0) {
        const qsizetype start = lineEnd + 1;
        lineEnd = block.indexOf('\n', start);
        QByteArrayView line = block.sliced(start, (lineEnd < 0 ? block.size() : lineEnd) - start);
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.isEmpty())
            continue;
        if (const int error = parseHeader(line, request, head, sawLength))
            return error;
    }
    m_head = head;
    return 0;
}

int HttpRequestReader::parseRequestLine(QByteArrayView line, const char *request, Head &head) const
{
    // METHOD SP target SP HTTP/1.x
    const QByteArrayView requestLine = trimmed(line);
    const qsizetype sp1 = requestLine.indexOf(' ');
    const qsizetype sp2 = sp1 < 0 ? -1 : requestLine.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 <= sp1 + 1)
        return 400;
    const QByteArrayView version = requestLine.sliced(sp2 + 1);
    head.http10 = version == QByteArrayView("HTTP/1.0");
    if (head.http10)
        head.keepAlive = false; // we never announce keep-alive to HTTP/1.0 clients
    else if (version != QByteArrayView("HTTP/1.1"))
        return 400;
    const qsizetype lineStart = requestLine.data() - request;
    head.method = {lineStart, sp1};
    head.target = {lineStart + sp1 + 1, sp2 - sp1 - 1};
    return 0;
}

int HttpRequestReader::parseHeader(QByteArrayView line, const char *request, Head &head,
                                   bool &sawLength) const
{
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0)
        return 400;
    const QByteArrayView name = line.first(colon);
    const QByteArrayView value = trimmed(line.sliced(colon + 1));
    if (equalsNoCase(name, "content-length")) {
        qint64 length = 0;
        if (!parseLength(value, length))
            return value.size() > 12 ? 413 : 400;
        if (sawLength && length != head.contentLength)
            return 400;
        sawLength = true;
        head.contentLength = length;
    } else if (equalsNoCase(name, "transfer-encoding")) {
        head.chunked = !equalsNoCase(value, "identity");
    } else if (equalsNoCase(name, "connection")) {
        if (hasToken(value, "close"))
            head.keepAlive = false;
        else if (hasToken(value, "keep-alive") && !head.http10)
            head.keepAlive = true;
    } else if (equalsNoCase(name, "authorization")) {
        head.hasAuthorization = true;
        head.authorization = {value.data() - request, value.size()};
    } else if (equalsNoCase(name, "x-api-key")) {
        head.hasApiKey = true;
        head.apiKey = {value.data() - request, value.size()};
    } else if (equalsNoCase(name, "expect")) {
        head.expectContinue = equalsNoCase(value, "100-continue");
    }
    return 0;
}

} // namespace Sluice::Sim
