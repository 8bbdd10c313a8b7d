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

#include <memory>
#include <vector>

namespace Sluice {

class StreamRelay;

/// One attempt as the scheduler hands it to a Transport.
struct Outgoing
{
    QByteArray body;
    QByteArray apiKey; ///< sent instead of the endpoint's key when not empty (a gateway caller's)
    QList<QPair<QByteArray, QByteArray>> headers; ///< extra request headers (after the endpoint's)
    /// The body asks for a streamed (SSE) reply: the transport reads it as it arrives, checks it for
    /// stalls and assembles it into one reply (StreamReader).
    bool stream = false;
    /// A gateway caller's stream: its events go there as they arrive (null for file runs).
    std::shared_ptr<StreamRelay> relay;
};

/// How a streamed attempt went, measured on the transport thread (streamed = false otherwise).
struct StreamStats
{
    bool streamed = false;     ///< the reply came as server-sent events
    double ttftMs = -1;        ///< from the send to the first event with content; -1 when none came
    double lastContentMs = -1; ///< from the send to the last event with content
    int contentEvents = 0;     ///< events that carried content
    /// Gaps between consecutive content events (ms), in order: the inter-token latencies.
    std::vector<float> gapsMs;
    /// A gateway caller was given part of this request's reply: it must not be sent again.
    bool committed = false;

    /// Output tokens per second after the first one ((tokens - 1) / (last - first content)); -1 when
    /// that cannot be told (fewer than 2 tokens or content events).
    double outputTokensPerS(qint64 outputTokens) const;
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
    /// A streamed reply: timings, and `bodyText` is the reply assembled from its events; `usage` is
    /// also set when the stream failed (the tokens it had reported, which are spent).
    StreamStats stream;
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
    bool stream = false;                          ///< read the reply as a stream (Outgoing::stream)
    double stallMs = 30000;             ///< a streamed reply that sends nothing for this long is given up
    std::shared_ptr<StreamRelay> relay; ///< Outgoing::relay
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
