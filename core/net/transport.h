#pragma once

#include "engine/projectconfig.h"
#include "limit/ratelimitheaders.h"
#include "net/classifier.h"
#include "util/clock.h"

#include <QHash>
#include <QList>
#include <QObject>
#include <QTimer>

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace Sluice {

/// What came back for one send.
struct AttemptResult
{
    quint64 ticket = 0; ///< the value send() returned
    int endpoint = -1;
    AttemptReport report;
    nlohmann::json body;     ///< parsed reply body (discarded when not JSON)
    RateLimitInfo rateLimit; ///< rate-limit headers and Retry-After of the reply
    double latencyMs = 0;    ///< send to last byte
    QString requestId;       ///< x-request-id / request-id header
};

/// Sends request bodies to endpoints over QNetworkAccessManager "lanes".
///
/// Qt 6.4 lets one QNAM open at most 6 HTTP/1.1 connections per host and silently queues the rest,
/// where queue time counts against timeouts and nobody can see it. So each endpoint gets up to
/// ceil(max_in_flight / 6) lanes, each its own QNAM, and a lane is never handed more than 6 requests:
/// requests beyond that wait in the engine's queue (counted, visible), never inside Qt.
///
/// Each attempt has a total deadline (the endpoint's timeout_s) besides Qt's idle transfer timeout, and
/// a timeout is reported apart from a cancel. Redirects are never followed. Lives on the engine thread;
/// the result handler is called on it, once per send.
class Transport : public QObject
{
    Q_OBJECT

public:
    static constexpr int Http1ConnectionsPerLane = 6;
    using ResultHandler = std::function<void(AttemptResult &&)>;

    explicit Transport(const Clock *clock, QObject *parent = nullptr);
    ~Transport() override;

    void setResultHandler(ResultHandler handler) { m_handler = std::move(handler); }
    /// Sets the endpoints and their keys (index-aligned). Call before the first send.
    void setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys);
    /// Changes an endpoint's concurrency bound while running.
    void setMaxInFlight(int endpoint, int maxInFlight);

    /// True when a request to `endpoint` would start on the wire at once.
    bool hasCapacity(int endpoint) const;
    int inFlight(int endpoint) const;
    int totalInFlight() const { return int(m_replies.size()); }

    /// Starts an attempt; the handler receives its result later (never from inside this call).
    quint64 send(int endpoint, const QByteArray &body);
    /// Aborts every attempt in flight; each is reported once, as cancelled.
    void abortAll();

private:
    struct Lane
    {
        QNetworkAccessManager *nam = nullptr;
        int inFlight = 0;
    };
    struct Endpoint
    {
        EndpointConfig config;
        QByteArray apiKey;
        std::vector<Lane> lanes;
        int inFlight = 0;
    };
    struct Pending
    {
        quint64 ticket = 0;
        int endpoint = 0;
        int lane = 0;
        double startMs = 0;
        bool timedOut = false;
        bool cancelled = false;
    };
    struct Deadline
    {
        double atMs;
        QNetworkReply *reply;
        quint64 ticket;
    };

    void handleFinished(QNetworkReply *reply);
    void sweepDeadlines();
    int pickLane(Endpoint &endpoint);
    static int laneLimit(const Endpoint &endpoint);

    const Clock *m_clock;
    ResultHandler m_handler;
    std::vector<Endpoint> m_endpoints;
    QHash<QNetworkReply *, Pending> m_replies;
    std::deque<Deadline> m_deadlines;
    QTimer m_deadlineTimer;
    quint64 m_nextTicket = 1;
};

} // namespace Sluice
