#pragma once

#include "cost/costbook.h"
#include "engine/engine.h"
#include "gateway/callerkeys.h"
#include "gateway/callerqueue.h"
#include "gateway/prometheustext.h"
#include "io/outcomesink.h"
#include "util/clock.h"

#include <QAbstractHttpServer>
#include <QHostAddress>
#include <QPointer>
#include <QTimer>

#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

class QHttpServerResponder;
class QTcpSocket;

namespace Sluice {

class StreamRelay;

/// Settings of `sluice-cli serve` besides the project.
struct GatewayOptions
{
    QHostAddress address = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 0;                   ///< 0: any free port
    int maxQueue = 10000;               ///< callers waiting to be sent; beyond it: 429 + Retry-After
    double defaultTimeoutS = 300;       ///< a caller's deadline without X-Sluice-Timeout
    double maxTimeoutS = 3600;          ///< X-Sluice-Timeout is capped at this
    qint64 maxBodyBytes = 32 << 20;     ///< larger request bodies get 413
    int tickMs = 250;                   ///< snapshot interval (charts, /metrics rates)
    QString modelOverride;              ///< fills in requests that name no model
    QHash<QString, QByteArray> apiKeys; ///< keys by endpoint name (else each endpoint's api_key_env)
    /// HTTPS: PEM certificate (chain) and unencrypted PEM private key; both empty = plain HTTP.
    QString tlsCertPath;
    QString tlsKeyPath;
    /// stop(): how long a caller whose request is already upstream may wait for its answer before it
    /// gets 503 like the others.
    double drainTimeoutS = 10;
};

/// A local OpenAI- and Anthropic-compatible HTTP server in front of a serving Engine: callers' requests
/// wait in a bounded priority FIFO (CallerQueue) behind the engine's limiter and balancer and are
/// answered with their upstream reply, or with a clear error when their deadline passes or the queue is
/// full. Callers that disconnect are dropped before anything is sent for them.
///
/// The caller's dialect decides the shape of everything it gets back: a /v1/chat/completions caller
/// gets OpenAI replies and errors, a /v1/messages caller Anthropic ones, whichever endpoint answered
/// (Dialect translates replies, tool calls, stop reasons, usage and error bodies; requests are
/// translated per attempt by ProviderAdapter). The gateway's own refusals (queue full, deadline,
/// stopping, auth) use the same shapes, and every error carries `X-Sluice-Error-Class`. Answers go
/// through one place per caller (answer()), which knows the caller's dialect: a streamed answer (SSE,
/// issue 17) will start there too, with events in the caller's dialect.
///
/// Routes: POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens (an estimate),
/// POST /api/v1/completions ({"provider","model","payload"}), GET /v1/models and /v1/models/{id} (the
/// endpoints' models; Anthropic's shape when the caller sends `anthropic-version`), GET|HEAD /health,
/// GET /status, GET /metrics (Prometheus text).
/// Headers: X-Sluice-Priority (0..9, default 5, higher first), X-Sluice-Timeout (seconds).
/// Callers' `anthropic-beta` goes to Anthropic endpoints, `OpenAI-Organization` / `OpenAI-Project` to
/// OpenAI ones. Answers carry the upstream's `x-request-id` / `request-id`, its `Retry-After` /
/// `retry-after-ms` on failures, and `x-should-retry: false` whenever the gateway already spent the
/// attempts (the SDKs would otherwise retry what was retried).
/// Caller keys (the project's `gateway.keys`): when configured, a call needs one (Bearer or
/// x-api-key; 401 in the caller's dialect otherwise), each key may have its own rpm, and its name (never
/// the key) shows in /metrics. The callers' keys are never forwarded upstream unless an endpoint has
/// forward_caller_key (which cannot be combined with gateway keys); keys never appear in answers.
///
/// Disconnect detection (Qt 6.4): QAbstractHttpServer hands handleRequest() the QTcpSocket, whose
/// disconnected() signal fires when the caller closes or resets the connection (Qt then deletes the
/// socket). A QHttpServerResponder keeps a raw socket pointer, so each waiting caller's socket is
/// guarded by a QPointer and never written after it is gone. A caller that half-closes its side
/// (shutdown(SHUT_WR)) counts as gone: Qt sees end-of-stream and closes the socket.
///
/// Time (deadlines, durations, per-key limits, the engine's limits and gauges) comes from the injected
/// clock. Lives on one thread with its engine (the CLI's main thread, or a worker thread under the GUI).
class Gateway : public QAbstractHttpServer, private OutcomeSink
{
    Q_OBJECT

public:
    Gateway(ProjectConfig project, GatewayOptions options, QObject *parent = nullptr);
    /// With an injected clock (it must outlive the gateway), for the gateway and its engine.
    Gateway(ProjectConfig project, GatewayOptions options, const Clock *clock, QObject *parent = nullptr);
    ~Gateway() override;

    /// Starts the engine (API keys are read here), reads the caller keys and the TLS files, and listens.
    /// The bound port, or an Error (nothing listens then).
    Result<quint16> start();
    /// Graceful stop: stops listening; callers whose request was never sent get 503 (in their dialect,
    /// with Retry-After) at once; those already upstream get their answer, or 503 after drainTimeoutS.
    /// Every answer is flushed to its socket before stopped() is emitted, once the engine has finished.
    void stop();

    quint16 port() const { return m_port; }
    bool isRunning() const { return m_running; }
    bool isTls() const { return !m_options.tlsCertPath.isEmpty(); }
    const Engine &engine() const { return *m_engine; }
    Engine &engine() { return *m_engine; }
    MetricsSnapshot snapshot() const;
    GatewayCounters counters() const;
    QByteArray metricsText() const;

    /// Answers (504) the callers whose deadline has passed on the clock. The deadline timer calls it; a
    /// test on a manual clock calls it after moving the clock.
    void expireDeadlines();

Q_SIGNALS:
    /// The engine's periodic snapshot (queued callers counted in `queued`), for charts.
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stopped();

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;
    /// The gateway's own refusals: status, X-Sluice-Error-Class, whether an SDK should retry.
    struct Refusal
    {
        int status;
        const char *errorClass;
        bool retry;
        const char *code = nullptr; ///< the error body's code; null: "sluice_" + errorClass
    };

private:
    struct Caller
    {
        std::unique_ptr<QHttpServerResponder> responder;
        QPointer<QTcpSocket> socket;
        QMetaObject::Connection goneConnection;
        double acceptedMs = 0;
        std::multimap<double, qint64>::iterator deadline; ///< its entry in m_deadlines
        Provider dialect = Provider::OpenAI;              ///< decides the shape of its answer
        int key = -1;                                     ///< caller key index, -1 without keys
        std::shared_ptr<StreamRelay> relay;               ///< a streaming caller's events
        bool streaming = false;                           ///< its SSE answer has begun (head written)
    };
    enum class Route { ChatCompletions, Messages, Completions };

    void handleCall(Route route, const QHttpServerRequest &request, QTcpSocket *socket);
    /// The parsed, checked body of a call (or a refusal written and nothing).
    bool readBody(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                  nlohmann::json &body);
    /// The caller's X-Sluice-Timeout and X-Sluice-Priority (or the defaults); a refusal written and false
    /// when one is malformed.
    bool readCallHeaders(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                         double &timeoutS, int &priority);
    /// The /api/v1/completions shape ({"provider", "model", "payload"}): `body` becomes the payload (with
    /// the model), `dialect` the provider's; a refusal written and false without a payload object.
    bool unwrapPayload(const QHttpServerRequest &request, QTcpSocket *socket, Provider &dialect,
                       nlohmann::json &body);
    /// The event relay of streaming call `id` (usage events when its body asks for them).
    std::shared_ptr<StreamRelay> makeRelay(const nlohmann::json &body, Provider dialect, qint64 id);
    /// Registers queued call `id`: its responder, deadline and the watch on its socket.
    void addCaller(qint64 id, const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                   int key, std::shared_ptr<StreamRelay> relay, double timeoutS);
    bool admit(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, int &key);
    void serveInfo(const QString &path, const QHttpServerRequest &request, QTcpSocket *socket);
    void serveModels(const QString &path, const QHttpServerRequest &request, QTcpSocket *socket);
    void serveCountTokens(const QHttpServerRequest &request, QTcpSocket *socket);
    void refuse(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, const Refusal &why,
                const QString &message, Headers headers = {});
    void callerLeft(qint64 id);
    void armDeadlineTimer();
    /// Answers caller `id` (when still there) and forgets it. The one way out for a waiting caller.
    void answer(qint64 id, int status, const QByteArray &body, const Headers &headers);
    /// A waiting caller's refusal, in its dialect.
    void answerRefusal(qint64 id, const Refusal &why, const QString &message, Headers headers = {});
    /// Refuses (429 budget_exhausted) a call whose caller key has spent its max_cost_usd; false then.
    bool withinKeyBudget(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, int key);
    /// The caller's headers that go upstream with `r`: its key (forward_caller_key) and the dialects'
    /// pass-through headers.
    void takeCallerHeaders(const QHttpServerRequest &request, Request &r) const;
    /// Queues call `r` (its id: r.line); false when it is refused (answered). With a caller key that has a
    /// budget: reserves its worst case (`reservedUsd`) when it fits, parks it when it fits only once the
    /// key's calls in flight are answered (admitParked()), refuses it (429 budget_exhausted) when it can
    /// never fit.
    bool enqueue(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, int key,
                 Request &&r, int priority, double &reservedUsd);
    /// Queues `key`'s parked calls, first come first, while their worst cases fit; refuses those that can
    /// never fit.
    void admitParked(int key);
    /// Drops call `id` from the parked ones; false when it is not parked.
    bool unpark(qint64 id);
    bool isParked(qint64 id) const;
    /// What call `r` may cost at most at the dearest endpoint (0 when `key` has no budget).
    double keyWorstUsd(int key, const Request &r) const;
    /// The refusal of a call whose worst case no longer fits `key`'s budget (its name and spend, never
    /// the key).
    QString keySpentMessage(int key, double worstUsd) const;
    /// Caller `id`'s request can never fit the gateway's cost budget: 429 budget_exhausted.
    void answerBudgetSpent(qint64 id, const Completion &completion);
    /// What the gateway's refusal at its cost budget says (the budget and the spend, never a key).
    QString budgetSpentMessage(int attempts) const;
    /// Call `id` is over, costing `costUsd` (-1: unpriced; 0: never sent): charged to its caller key, if
    /// it has one, and the key's reservation for it released.
    void chargeCall(qint64 id, double costUsd);
    /// How the callers' calls ended, for /status.
    static nlohmann::json callersStatus(const GatewayCounters &counters);
    /// The cost part of /status: the gateway's budget and spend, and each caller key's.
    nlohmann::json costStatus(const MetricsSnapshot &snapshot) const;
    int retryAfterS() const;
    /// A Retry-After header of retryAfterS() seconds.
    Headers retryAfter() const;
    /// The refusal of a caller when the queue (or the calls waiting for their key's budget) is full.
    QString queueFullMessage() const;
    void finishStopping();
    /// Writes what a streaming caller's relay holds (its answer's head first, the first time).
    void pumpStream(qint64 id);
    /// Ends a streaming caller's answer: `tail` (the last events, or an error event) and the last chunk.
    void endStream(qint64 id, const QByteArray &tail, bool failed);
    /// The caller's request is dropped: out of the queue, or its attempt on the wire cancelled.
    void abandon(qint64 id);

    void succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion) override;
    void failed(const Request &request, ErrorClass cls, const QString &message, const Completion &completion,
                const nlohmann::json &body) override;
    void rejected(const InputError &error) override;

    static void write(QHttpServerResponder &responder, int status, const QByteArray &body,
                      const Headers &headers, bool withBody = true);
    static QByteArray errorBody(Provider dialect, int status, const QString &message, const QString &code);

    const Clock *m_clock;
    ProjectConfig m_project;
    GatewayOptions m_options;
    CallerQueue m_queue;
    CallerKeys m_keys;
    std::unique_ptr<Engine> m_engine;
    QHash<QString, Provider> m_endpointDialects; ///< by endpoint name
    std::unordered_map<qint64, Caller> m_callers;
    struct CallKey
    {
        int key = -1;
        double reservedUsd = 0; ///< its worst case, held in the key's budget until its outcome
    };
    std::unordered_map<qint64, CallKey> m_callKeys; ///< of each call queued or sent, until its outcome
    struct Parked
    {
        int key = -1;
        double worstUsd = 0;
        int priority = 0;
        Request request;
    };
    std::deque<Parked> m_parked; ///< calls waiting for room in their caller key's budget, oldest first
    CostBook m_costBook;         ///< worst cases for the caller keys' budgets
    std::multimap<double, qint64> m_deadlines; ///< waiting callers by deadline (clock ms)
    QTimer m_deadlineTimer;
    QTimer m_drainTimer;
    QList<QPointer<QTcpSocket>> m_flushing; ///< stop(): sockets answered, still writing
    GatewayCounters m_counters;
    DurationHistogram m_callerDuration;
    QMap<QString, DurationHistogram> m_upstreamDuration;
    QMap<QString, DurationHistogram> m_ttft; ///< streamed successes' time to first token, by endpoint
    MetricsSnapshot m_lastSnapshot;
    qint64 m_nextId = 1;
    quint16 m_port = 0;
    bool m_running = false;
    bool m_stopping = false;
    bool m_engineFinished = false;
};

} // namespace Sluice
