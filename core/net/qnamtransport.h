#pragma once

#include "net/attempt.h"
#include "net/mailbox.h"
#include "net/transport.h"
#include "util/clock.h"

#include <QObject>
#include <QProcessEnvironment>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class QThread;

namespace Sluice {

class TransportWorker;

/// The Transport: sends request bodies to endpoints over QNetworkAccessManager "lanes" on worker threads.
///
/// Qt 6.4 opens at most 6 HTTP/1.1 connections per connection-cache key (scheme, host, port, proxy,
/// peer verify name) and silently queues the rest, where queue time counts against timeouts and
/// nobody can see it; over HTTP/2 it multiplexes one connection per key and queues what exceeds the
/// server's stream limit (at a CPU cost per queued request). So each lane has a key of its own (a
/// QNAM of its own over TLS, a peer verify name of its own on the worker's shared QNAM over
/// cleartext) and is never handed more than it can put on the wire at once: 6 requests over
/// HTTP/1.1, StreamsPerH2Connection over HTTP/2 (`protocol` "h2c" or "h2").
/// Requests beyond an endpoint's max_in_flight wait in the engine's queue (counted, visible), never
/// inside Qt.
///
/// The lanes live on worker threads (TransportWorker; 2 by default, SLUICE_NET_THREADS overrides), each
/// endpoint's attempts spread evenly over them. Hand-offs are batched both ways: send() puts the attempt
/// in its worker's mailbox and wakes the worker only for the first of a batch; results come back the
/// same way and reach the handlers on this object's thread, the batch handler once after each batch.
///
/// Each attempt has a total deadline (the endpoint's timeout_s), checked every 50 ms (no Qt transfer
/// timeout: its timer per reply costs too much with thousands in flight), and a timeout is reported
/// apart from a cancel. When an endpoint that
/// has answered before refuses a connection (a restart), the attempt connects again (after 100 ms,
/// doubling to 1 s) for up to 10 s within its deadline instead of failing at once: the request never
/// left, and keeping its slot stops fresh requests from failing one after another against a closed
/// port. An endpoint that never answered fails at once (a wrong port is a configuration error). Redirects are
/// never followed, so credentials never reach another origin. TLS certificates are verified (against the
/// endpoint's ca_file when it has one). Proxies come from the environment, read explicitly once, when
/// the transport is made (see proxyFor()). The clock must be safe to read from any thread. Use from the
/// thread it lives on (the engine's); the result handler is called there, once per send, never from
/// inside a call into the transport.
class QnamTransport final : public QObject, public Transport
{
    Q_OBJECT

public:
    static constexpr int Http1ConnectionsPerLane = 6;
    /// nginx allows 128 concurrent streams, Qt assumes 100 until the server says otherwise.
    static constexpr int StreamsPerH2Connection = 100;
    static constexpr int DefaultThreads = 2;

    explicit QnamTransport(const Clock *clock, QObject *parent = nullptr);
    ~QnamTransport() override;

    /// Worker threads (1–16); call before setEndpoints().
    void setThreadCount(int threads);

    void setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys) override;
    void setMaxInFlight(int endpoint, int maxInFlight) override;
    bool hasCapacity(int endpoint) const override;
    int inFlight(int endpoint) const override;
    int totalInFlight() const override { return m_totalInFlight; }
    quint64 send(int endpoint, Outgoing attempt) override;
    /// The body alone (tests and benchmarks).
    quint64 send(int endpoint, const QByteArray &body)
    {
        return send(endpoint, Outgoing{body, {}, {}, false, {}});
    }
    void cancel(quint64 ticket) override;
    void abortAll() override;

private:
    struct Worker
    {
        std::unique_ptr<Mailbox<SendOrder>> inbox;
        std::unique_ptr<Mailbox<AttemptResult>> outbox;
        std::unique_ptr<QThread> thread;
        std::unique_ptr<TransportWorker> lanes;
        std::vector<int> inFlight; ///< by endpoint
    };
    struct Endpoint
    {
        EndpointConfig config;
        QString setupError; ///< why nothing can be sent to it (an unusable proxy setting)
        int inFlight = 0;   ///< attempts not yet reported
    };

    void startWorkers(const std::vector<WorkerEndpoint> &setups);
    void stopWorkers();
    /// Hands the results waiting in the mailboxes to the handlers.
    void deliverResults();
    void postDelivery();
    static int requestsPerLane(const EndpointConfig &config);

    const Clock *m_clock;
    std::vector<Endpoint> m_endpoints;
    std::vector<Worker> m_workers;
    std::unique_ptr<std::atomic<bool>[]> m_answered; ///< by endpoint: some attempt got an HTTP status
    std::vector<AttemptResult> m_unsent;             ///< failed in send() (setupError), reported soon
    QProcessEnvironment m_environment;               ///< read once: proxies
    int m_threads = DefaultThreads;
    int m_totalInFlight = 0;
    quint64 m_nextTicket = 1;
    bool m_deliveryPosted = false; ///< a deliverResults() call for m_unsent is queued
};

} // namespace Sluice
