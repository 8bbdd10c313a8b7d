#pragma once

#include "config/projectconfig.h"
#include "net/classifier.h"
#include "net/provideradapter.h"
#include "net/ratelimitheaders.h"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QSslConfiguration>
#include <QString>

#include <nlohmann/json.hpp>

namespace Sluice {

/// One attempt as the scheduler hands it to a Transport.
struct Outgoing
{
    QByteArray body;
    QByteArray apiKey; ///< sent instead of the endpoint's key when not empty (a gateway caller's)
    QList<QPair<QByteArray, QByteArray>> headers; ///< extra request headers (after the endpoint's)
};

/// What came back for one send.
struct AttemptResult
{
    quint64 ticket = 0; ///< the value Transport::send() returned
    int endpoint = -1;
    AttemptReport report;
    /// The parsed reply body of a non-2xx reply (an API error object; discarded when not JSON). A 2xx
    /// reply is only checked to be one JSON object and read for its usage: no document is built.
    nlohmann::json body;
    QByteArray bodyText;     ///< the reply body as received (when an HTTP status came back)
    Usage usage;             ///< token counts of a 2xx reply that is a JSON object
    RateLimitInfo rateLimit; ///< rate-limit headers and Retry-After of the reply
    double latencyMs = 0;    ///< send to last byte
    QString requestId;       ///< x-request-id / request-id header
    bool http2 = false;      ///< the reply came over HTTP/2
};

/// One attempt handed from the Transport to a worker.
struct SendOrder
{
    quint64 ticket = 0;
    int endpoint = 0;
    QByteArray body;
    QByteArray apiKey; ///< sent instead of the endpoint's key when not empty (a gateway caller's)
    QList<QPair<QByteArray, QByteArray>> headers; ///< extra request headers (set after the endpoint's)
    double startMs = 0;                           ///< when send() was called (the Transport's clock)
    double deadlineMs = 0;                        ///< the attempt's total deadline, relative to startMs
    int laneLimit = 1;                            ///< lanes this worker may open for the endpoint
};

/// What a worker needs to know about an endpoint.
struct WorkerEndpoint
{
    EndpointConfig config;
    QByteArray apiKey;
    QSslConfiguration tls; ///< for https URLs
    int requestsPerLane = 6;
};

} // namespace Sluice
