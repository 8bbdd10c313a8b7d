#pragma once

#include "engine/projectconfig.h"
#include "limit/ratelimitheaders.h"
#include "net/classifier.h"
#include "net/mailbox.h"
#include "net/provideradapter.h"
#include "util/clock.h"

#include <QHash>
#include <QNetworkRequest>
#include <QObject>
#include <QProcessEnvironment>
#include <QSslConfiguration>
#include <QTimer>

#include <nlohmann/json.hpp>

#include <atomic>
#include <deque>
#include <functional>
#include <queue>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace Sluice {

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
    QByteArray apiKey;     ///< sent instead of the endpoint's key when not empty (a gateway caller's)
    double startMs = 0;    ///< when send() was called (the Transport's clock)
    double deadlineMs = 0; ///< the attempt's total deadline, relative to startMs
    int laneLimit = 1;     ///< lanes this worker may open for the endpoint
    /// Extra headers for this attempt (a gateway caller's), never replacing auth or content headers.
    QList<QPair<QByteArray, QByteArray>> headers;
};

/// What a worker needs to know about an endpoint.
struct WorkerEndpoint
{
    EndpointConfig config;
    QByteArray apiKey;
    QSslConfiguration tls; ///< for https URLs
    int requestsPerLane = 6;
};

/// The lanes of one transport thread (one connection each for HTTP/2, six for HTTP/1.1), the
/// total deadline of every attempt, connecting again after a refusal, and reading the replies (the
/// JSON body is parsed here, off the engine's thread).
///
/// Lives on its own thread; the Transport talks to it only through two mailboxes: orders come in
/// through `inbox` (wake with takeOrders()), results go out through `outbox`, and `wakeOwner` is called
/// (on this thread) when the outbox gets its first result of a batch. `answered` (one flag per
/// endpoint, shared by all workers) says an endpoint has answered before, so a refusal means a restart.
class TransportWorker : public QObject
{
    Q_OBJECT

public:
    TransportWorker(const Clock *clock, QProcessEnvironment environment, Mailbox<SendOrder> *inbox,
                    Mailbox<AttemptResult> *outbox, std::function<void()> wakeOwner,
                    std::atomic<bool> *answered);
    ~TransportWorker() override;

    /// Sets the endpoints (index-aligned with the Transport's). Call on the worker's thread, first.
    void setEndpoints(const std::vector<WorkerEndpoint> &endpoints);
    /// Takes every order waiting in the inbox and starts them, StartSlice at a time (the rest after
    /// the events of the first have been delivered).
    void takeOrders();
    /// Cancels the orders in the inbox and every attempt in flight; each is reported once, cancelled.
    void abortAll();
    /// Aborts everything without reporting and deletes the lanes (before the thread ends).
    void shutdown();

private:
    /// A group of connections that takes at most requestsPerLane attempts: six HTTP/1.1 connections
    /// or one HTTP/2 connection, Qt's limits for one connection-cache key. Over cleartext every lane
    /// of the worker shares one QNAM and gets a key of its own from its peer verify name, which Qt
    /// uses for nothing else without TLS (fewer Qt HTTP threads: 12 % less CPU per request measured
    /// with tests/bench/qnamref). Over TLS the peer verify name is the name checked against the
    /// certificate, so each lane is a QNAM of its own.
    struct Lane
    {
        QNetworkAccessManager *nam = nullptr;
        QNetworkRequest request; ///< the endpoint's request template, with the lane's key
        int inFlight = 0;
    };
    struct Endpoint
    {
        WorkerEndpoint setup;
        QNetworkRequest request; ///< headers, TLS and protocol set once; copied per attempt
        std::vector<Lane> lanes;
    };
    struct Pending
    {
        SendOrder order;
        int lane = 0;
        bool timedOut = false;
        bool cancelled = false;
        QStringList tlsErrors; ///< certificate problems reported during the TLS handshake
        int reconnects = 0;
        double firstRefusedMs = 0; ///< when the first refusal came (with reconnects > 0)
    };
    struct Reconnect
    {
        double atMs = 0;
        Pending pending;
    };
    struct Deadline
    {
        double atMs;
        QNetworkReply *reply;
        quint64 ticket;
        bool operator>(const Deadline &other) const { return atMs > other.atMs; }
    };

    void startSlice();
    void startReply(Pending p);
    void handleFinished(QNetworkReply *reply);
    void sweepDeadlines();
    int pickLane(Endpoint &endpoint, int laneLimit);
    QNetworkAccessManager *makeNam();
    void report(AttemptResult &&result);
    void reportUnsent(const Pending &p, bool cancelled);
    void stopTimerWhenIdle();

    const Clock *m_clock;
    QProcessEnvironment m_environment;
    Mailbox<SendOrder> *m_inbox;
    Mailbox<AttemptResult> *m_outbox;
    std::function<void()> m_wakeOwner;
    std::atomic<bool> *m_answered;
    std::vector<Endpoint> m_endpoints;
    QNetworkAccessManager *m_cleartextNam = nullptr; ///< shared by the cleartext lanes
    int m_lanesMade = 0;                             ///< names the cleartext lanes' keys
    QHash<QNetworkReply *, Pending> m_replies;
    /// Earliest first: endpoints have different timeouts, so sends do not come due in send order.
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> m_deadlines;
    /// Attempts refused by a restarting server, connecting again soon.
    std::vector<Reconnect> m_reconnecting;
    /// Orders taken from the inbox, not started yet.
    std::deque<SendOrder> m_waiting;
    bool m_sliceQueued = false; ///< a startSlice() call is queued
    QTimer m_deadlineTimer;
    bool m_reporting = true; ///< false while shutting down
};

} // namespace Sluice
