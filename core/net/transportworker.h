#pragma once

#include "net/attempt.h"
#include "net/mailbox.h"
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
#include <memory>
#include <queue>
#include <unordered_set>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace Sluice {

class StreamReader;

/// The lanes of one transport thread (one connection each for HTTP/2, six for HTTP/1.1), the
/// total deadline of every attempt, connecting again after a refusal, and reading the replies (the
/// JSON body is parsed here, off the engine's thread). A streamed attempt (SendOrder::stream) whose
/// reply is a 2xx `text/event-stream` is read as its bytes arrive (StreamReader: events parsed,
/// reply assembled, content timed, a gateway caller's relay fed) and given up when nothing arrives
/// for its stall timeout; it is reported once, at its end, like any other attempt.
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
    /// Cancels the attempt `ticket` if this worker has it (reported once, cancelled).
    void cancel(quint64 ticket);
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
        // Streamed attempts only:
        double lastByteMs = 0;                ///< when the last bytes (or the send) happened
        bool headChecked = false;             ///< the reply's status and content type were looked at
        bool stalled = false;                 ///< aborted for a stall
        std::shared_ptr<StreamReader> stream; ///< set when the reply is a 2xx event stream
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
    void handleReadyRead(QNetworkReply *reply);
    /// The streamed part of a reply that has finished (its stream reader's end).
    void finishStream(Pending &p, QNetworkReply *reply, AttemptResult &result);
    /// After a refused connection to a server that answered before (a restart): queues `p` to connect
    /// again later and says true, or false when its deadline or the restart window does not allow it.
    bool reconnectLater(Pending &p);
    /// Reads a finished non-streamed reply's body into `result` (usage of a 2xx, the error of others).
    static void readWholeBody(QNetworkReply *reply, Provider provider, AttemptResult &result);
    /// Rate-limit headers, request id and redirect target of a reply with a status.
    static void readReplyHeaders(QNetworkReply *reply, AttemptResult &result);
    void sweepDeadlines();
    void sweepStalls(double nowMs);
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
    /// Streamed attempts in flight (checked for stalls on each sweep).
    std::unordered_set<QNetworkReply *> m_streaming;
    /// Orders taken from the inbox, not started yet.
    std::deque<SendOrder> m_waiting;
    bool m_sliceQueued = false; ///< a startSlice() call is queued
    QTimer m_deadlineTimer;
    bool m_reporting = true; ///< false while shutting down
};

} // namespace Sluice
