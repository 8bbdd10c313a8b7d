#pragma once

#include "engine/engine.h"
#include "gateway/callerqueue.h"
#include "gateway/prometheustext.h"
#include "io/outcomesink.h"

#include <QAbstractHttpServer>
#include <QHostAddress>
#include <QPointer>
#include <QTimer>

#include <map>
#include <memory>
#include <unordered_map>

class QHttpServerResponder;
class QTcpSocket;

namespace Sluice {

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
};

/// A local OpenAI- and Anthropic-compatible HTTP server in front of a serving Engine: callers' requests
/// wait in a bounded priority FIFO (CallerQueue) behind the engine's limiter and balancer and are
/// answered with their upstream reply, or with a clear error when their deadline passes or the queue is
/// full. Callers that disconnect are dropped before anything is sent for them.
///
/// Routes: POST /v1/chat/completions, POST /v1/messages, POST /api/v1/completions
/// ({"provider","model","payload"}), GET /health, GET /status, GET /metrics (Prometheus text).
/// Headers: X-Sluice-Priority (0..9, default 5, higher first), X-Sluice-Timeout (seconds).
/// The callers' own Authorization / x-api-key headers are never forwarded: each attempt carries the
/// endpoint's key (the transport builds every upstream request itself); keys never appear in answers.
///
/// Disconnect detection (Qt 6.4): QAbstractHttpServer hands handleRequest() the QTcpSocket, whose
/// disconnected() signal fires when the caller closes or resets the connection (Qt then deletes the
/// socket). A QHttpServerResponder keeps a raw socket pointer, so each waiting caller's socket is
/// guarded by a QPointer and never written after it is gone. A caller that half-closes its side
/// (shutdown(SHUT_WR)) counts as gone: Qt sees end-of-stream and closes the socket.
///
/// Lives on one thread with its engine (the CLI's main thread, or a worker thread under the GUI).
class Gateway : public QAbstractHttpServer, private OutcomeSink
{
    Q_OBJECT

public:
    Gateway(ProjectConfig project, GatewayOptions options, QObject *parent = nullptr);
    ~Gateway() override;

    /// Starts the engine (API keys are read here) and listens. The bound port, or an Error (nothing
    /// listens then).
    Result<quint16> start();
    /// Stops listening, answers every waiting caller 503, and stops the engine after the attempts in
    /// flight (their replies go nowhere). Emits stopped() when the engine has finished.
    void stop();

    quint16 port() const { return m_port; }
    bool isRunning() const { return m_running; }
    const Engine &engine() const { return *m_engine; }
    Engine &engine() { return *m_engine; }
    MetricsSnapshot snapshot() const;
    GatewayCounters counters() const;
    QByteArray metricsText() const;

Q_SIGNALS:
    /// The engine's periodic snapshot (queued callers counted in `queued`), for charts.
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stopped();

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    struct Caller
    {
        std::unique_ptr<QHttpServerResponder> responder;
        QPointer<QTcpSocket> socket;
        QMetaObject::Connection goneConnection;
        double acceptedMs = 0;
        std::multimap<double, qint64>::iterator deadline; ///< its entry in m_deadlines
    };
    enum class Route { ChatCompletions, Messages, Completions };

    void handleCall(Route route, const QHttpServerRequest &request, QTcpSocket *socket);
    void callerLeft(qint64 id);
    void expireDeadlines();
    void armDeadlineTimer();
    /// Answers caller `id` (when still there) and forgets it.
    void answer(qint64 id, int status, const QByteArray &body,
                const QList<QPair<QByteArray, QByteArray>> &headers);
    int retryAfterS() const;

    void succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion) override;
    void failed(const Request &request, ErrorClass cls, const QString &message, const Completion &completion,
                const nlohmann::json &body) override;
    void rejected(const InputError &error) override;

    static void write(QHttpServerResponder &responder, int status, const QByteArray &body,
                      const QList<QPair<QByteArray, QByteArray>> &headers);
    static QByteArray errorBody(const QString &type, const QString &message);

    ProjectConfig m_project;
    GatewayOptions m_options;
    CallerQueue m_queue;
    std::unique_ptr<Engine> m_engine;
    std::unordered_map<qint64, Caller> m_callers;
    std::multimap<double, qint64> m_deadlines; ///< waiting callers by deadline (steady-clock ms)
    QTimer m_deadlineTimer;
    GatewayCounters m_counters;
    MetricsSnapshot m_lastSnapshot;
    qint64 m_nextId = 1;
    quint16 m_port = 0;
    bool m_running = false;
};

} // namespace Sluice
