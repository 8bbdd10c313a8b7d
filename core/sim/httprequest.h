#pragma once

#include <QByteArrayView>

namespace Sluice::Sim {

/// One complete HTTP/1.x request as HttpRequestReader parsed it. The views point into the reader's
/// buffer and stay valid until its next consume().
struct HttpRequest
{
    QByteArrayView method;
    QByteArrayView path; ///< the request target without its query
    QByteArrayView authorization;
    QByteArrayView apiKey; ///< x-api-key
    QByteArrayView body;
    bool hasAuthorization = false;
    bool hasApiKey = false;
    bool keepAlive = true; ///< false for `Connection: close` and HTTP/1.0
    bool http10 = false;   ///< an HTTP/1.0 request (no chunked replies)
};

} // namespace Sluice::Sim
