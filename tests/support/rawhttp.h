#pragma once

#include <QByteArray>
#include <QList>
#include <QPair>

namespace Sluice::Test {

/// One HTTP/1.1 request as a caller writes it on a socket to 127.0.0.1: the request line, Host, the
/// given headers, and for a POST the JSON content type and length; then `body`.
inline QByteArray httpRequest(const QByteArray &method, const QByteArray &path,
                              const QByteArray &body = QByteArray(),
                              const QList<QPair<QByteArray, QByteArray>> &headers = {})
{
    QByteArray out = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto &[key, value] : headers) {
        out += key + ": " + value + "\r\n";
    }
    if (method == "POST") {
        out +=
            "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n";
    }
    return out + "\r\n" + body;
}

} // namespace Sluice::Test
