#include "httpresponse.h"

#include <nlohmann/json.hpp>

namespace Sluice::Sim {

const char *reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return "Status";
    }
}

QByteArray dumpJson(const nlohmann::json &value)
{
    const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return QByteArray(text.data(), qsizetype(text.size()));
}

void appendHeader(QByteArray &headers, const char *name, const QByteArray &value)
{
    headers.append(name);
    headers.append(": ");
    headers.append(value);
    headers.append("\r\n");
}

namespace {

void appendStatusLine(QByteArray &out, int status)
{
    out.append("HTTP/1.1 ");
    out.append(QByteArray::number(status));
    out.append(' ');
    out.append(reasonPhrase(status));
    out.append("\r\n");
}

} // namespace

QByteArray httpResponse(int status, const QByteArray &body, const QByteArray &extraHeaders, bool close)
{
    QByteArray out;
    out.reserve(160 + extraHeaders.size() + body.size());
    appendStatusLine(out, status);
    out.append("Content-Type: application/json\r\nContent-Length: ");
    out.append(QByteArray::number(body.size()));
    out.append("\r\n");
    out.append(extraHeaders);
    if (close)
        out.append("Connection: close\r\n");
    out.append("\r\n");
    out.append(body);
    return out;
}

QByteArray sseResponseHead(int status, const QByteArray &extraHeaders, bool chunked, bool close)
{
    QByteArray out;
    out.reserve(200 + extraHeaders.size());
    appendStatusLine(out, status);
    out.append("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    if (chunked)
        out.append("Transfer-Encoding: chunked\r\n");
    out.append(extraHeaders);
    if (close || !chunked)
        out.append("Connection: close\r\n");
    out.append("\r\n");
    return out;
}

QByteArray httpChunk(const QByteArray &bytes)
{
    QByteArray out;
    out.reserve(bytes.size() + 12);
    out.append(QByteArray::number(bytes.size(), 16));
    out.append("\r\n");
    out.append(bytes);
    out.append("\r\n");
    return out;
}

} // namespace Sluice::Sim
