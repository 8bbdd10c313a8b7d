#include "gateway.h"

#include "io/tokenestimator.h"
#include "net/dialect.h"
#include "net/provideradapter.h"
#include "net/streamrelay.h"
#include "net/streamtranslator.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QLoggingCategory>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslServer>
#include <QTcpServer>
#include <QTcpSocket>

#include <cmath>
#include <limits>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace Sluice {

Q_LOGGING_CATEGORY(lcGateway, "sluice.gateway")
/// One line per answered call (route, key name, status, endpoint, time); off unless enabled with
/// QT_LOGGING_RULES="sluice.gateway.access.info=true". Never a key.
Q_LOGGING_CATEGORY(lcAccess, "sluice.gateway.access", QtWarningMsg)

namespace {

using json = nlohmann::json;
using Headers = Gateway::Headers;
using Refusal = Gateway::Refusal;

constexpr int MaxJsonDepth = 64;
constexpr int ListenBacklog = 4096; ///< the kernel caps it at net.core.somaxconn
constexpr int FlushWaitMs = 2000;   ///< stop(): the longest wait for answers to leave the sockets

constexpr Refusal InvalidRequest{400, "invalid_request", false};
constexpr Refusal Unauthorized{401, "unauthorized", false};
constexpr Refusal NotFound{404, "not_found", false};
constexpr Refusal MethodNotAllowed{405, "method_not_allowed", false};
constexpr Refusal TooLarge{413, "too_large", false};
constexpr Refusal KeyRateLimited{429, "key_rate_limited", true};
constexpr Refusal QueueFull{429, "queue_full", true};
constexpr Refusal Stopping{503, "stopping", true};
constexpr Refusal Deadline{504, "deadline", false};
/// A cost budget is spent (the gateway's, or the caller key's): retrying cannot help until it is raised.
constexpr Refusal BudgetExhausted{429, "budget", false, "budget_exhausted"};

QString refusalCode(const Refusal &why)
{
    return why.code ? QString::fromLatin1(why.code)
                    : QStringLiteral("sluice_") + QLatin1String(why.errorClass);
}

/// An amount of USD as configured ("0.05") or, for a spend, to the micro-dollar.
QString usd(double amount)
{
    QString text = QString::number(amount, 'f', 6);
    while (text.endsWith(u'0')) {
        text.chop(1);
    }
    if (text.endsWith(u'.')) {
        text.chop(1);
    }
    return QStringLiteral("$") + text;
}

/// Deepest nesting of arrays/objects in `bytes` (strings skipped), to refuse hostile bodies before
/// parsing them into a tree.
int nesting(QByteArrayView bytes)
{
    int depth = 0;
    int deepest = 0;
    bool inString = false;
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        const char c = bytes[i];
        if (inString) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                inString = false;
            }
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return deepest;
}

QByteArray header(const QHttpServerRequest &request, QByteArrayView name)
{
    const auto headers = request.headers();
    for (const auto &[key, value] : headers) {
        if (QByteArrayView(key).compare(name, Qt::CaseInsensitive) == 0) {
            return value.trimmed();
        }
    }
    return QByteArray();
}

/// The key a caller presented: `Authorization: Bearer KEY`, else `x-api-key`.
QByteArray presentedKey(const QHttpServerRequest &request)
{
    const QByteArray bearer = header(request, "Authorization");
    if (bearer.size() > 7 && bearer.first(7).compare("Bearer ", Qt::CaseInsensitive) == 0) {
        return bearer.mid(7).trimmed();
    }
    return header(request, "x-api-key");
}

/// A route's dialect when the path does not say: Anthropic when the caller sends anthropic-version
/// (the Anthropic SDKs always do) or the path is under /v1/messages.
Provider guessDialect(const QHttpServerRequest &request, const QString &path)
{
    if (path.startsWith(QLatin1String("/v1/messages")) || !header(request, "anthropic-version").isEmpty()) {
        return Provider::Anthropic;
    }
    return Provider::OpenAI;
}

/// The HTTP status a caller gets for a request that failed for good.
int statusFor(ErrorClass cls, int upstreamStatus)
{
    if (upstreamStatus >= 400 && upstreamStatus <= 599) {
        return upstreamStatus; // the upstream's own verdict
    }
    switch (cls) {
    case ErrorClass::RateLimited:
    case ErrorClass::Quota:
    case ErrorClass::Budget:
        return 429;
    case ErrorClass::Timeout:
        return 504;
    case ErrorClass::Overloaded:
    case ErrorClass::Cancelled:
        return 503;
    case ErrorClass::Client:
    case ErrorClass::InvalidInput:
    case ErrorClass::DuplicateId:
        return 400;
    case ErrorClass::None:
    case ErrorClass::Server:
    case ErrorClass::Transport:
        break;
    }
    return 502;
}

/// Upstream request ids under both names the SDKs read (OpenAI: x-request-id, Anthropic: request-id).
void addRequestId(Headers &headers, const QString &requestId)
{
    if (!requestId.isEmpty()) {
        const QByteArray id = requestId.toUtf8();
        headers.append({QByteArrayLiteral("x-request-id"), id});
        headers.append({QByteArrayLiteral("request-id"), id});
    }
}

QByteArray dialectName(Provider dialect)
{
    return dialect == Provider::Anthropic ? QByteArrayLiteral("anthropic") : QByteArrayLiteral("openai");
}

/// The head of a streamed answer: 200, text/event-stream, HTTP/1.1 chunks (one per batch of events).
void writeStreamHead(QHttpServerResponder &responder, const Headers &headers)
{
    responder.writeStatusLine(QHttpServerResponder::StatusCode::Ok);
    responder.writeHeader(QByteArrayLiteral("Content-Type"), QByteArrayLiteral("text/event-stream"));
    responder.writeHeader(QByteArrayLiteral("Cache-Control"), QByteArrayLiteral("no-cache"));
    responder.writeHeader(QByteArrayLiteral("Transfer-Encoding"), QByteArrayLiteral("chunked"));
    for (const auto &[key, value] : headers) {
        QByteArray safe = value;
        safe.replace('\r', ' ').replace('\n', ' ');
        responder.writeHeader(key, safe);
    }
    responder.writeBody(QByteArray()); // the end of the head
}

void writeChunk(QHttpServerResponder &responder, const QByteArray &bytes)
{
    if (!bytes.isEmpty()) {
        responder.writeBody(QByteArray::number(bytes.size(), 16) + "\r\n" + bytes + "\r\n");
    }
}

} // namespace

Gateway::Gateway(ProjectConfig project, GatewayOptions options, QObject *parent)
    : Gateway(std::move(project), std::move(options), SteadyClock::instance(), parent)
{
}

Gateway::Gateway(ProjectConfig project, GatewayOptions options, const Clock *clock, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_clock(clock)
    , m_project(std::move(project))
    , m_options(std::move(options))
    , m_queue(m_options.maxQueue)
    , m_keys(clock)
    , m_costBook(m_project, m_options.modelOverride)
    , m_deadlineTimer(this)
    , m_drainTimer(this)
{
    RunOptions run;
    run.apiKeys = m_options.apiKeys;
    run.modelOverride = m_options.modelOverride;
    run.tickMs = m_options.tickMs;
    // Callers' deadlines end waits; the engine never gives up on its own while it serves.
    run.unreachableGiveUpMs = std::numeric_limits<double>::infinity();
    OutcomeSink *sink = this; // a private base: converted here, where it is accessible
    EngineParts parts;
    parts.clock = clock;
    parts.source = &m_queue;
    parts.sink = sink;
    m_engine = std::make_unique<Engine>(m_project, std::move(run), parts, nullptr);
    for (const EndpointConfig &e : std::as_const(m_project.endpoints)) {
        m_endpointDialects.insert(e.name, e.provider);
    }
    connect(m_engine.get(), &Engine::snapshotReady, this, [this](const MetricsSnapshot &s) {
        m_lastSnapshot = s;
        Q_EMIT snapshotReady(s);
    });
    connect(m_engine.get(), &Engine::finished, this, [this] {
        m_engineFinished = true;
        finishStopping();
    });
    m_deadlineTimer.setSingleShot(true);
    m_deadlineTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &Gateway::expireDeadlines);
    m_drainTimer.setSingleShot(true);
    connect(&m_drainTimer, &QTimer::timeout, this, [this] {
        // Callers still waiting for an upstream answer get 503 now; the engine stops without them.
        std::vector<qint64> ids;
        for (const auto &[id, caller] : m_callers) {
            Q_UNUSED(caller);
            ids.push_back(id);
        }
        for (const qint64 id : ids) {
            ++m_counters.stopped;
            answerRefusal(id, Stopping, QStringLiteral("the gateway is stopping"), retryAfter());
        }
        m_engine->abort();
    });
}

Gateway::~Gateway()
{
    // Waiting callers' responders point at sockets the server owns: drop them (unanswered) first.
    for (auto &[id, caller] : m_callers) {
        Q_UNUSED(id);
        QObject::disconnect(caller.goneConnection);
        if (caller.relay) {
            caller.relay->detach();
        }
    }
    m_callers.clear();
    m_engine.reset();
}

Result<quint16> Gateway::start()
{
    if (m_running) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("the gateway is already running"), 0};
    }
    if (auto keys = m_keys.configure(m_project.gateway); !keys) {
        return keys.error();
    }
    // Our own server rather than listen(): Qt's default listen backlog (50) and pending-connection cap
    // (30) make a burst of a thousand callers connecting at once retransmit for seconds.
    std::unique_ptr<QTcpServer> server;
    if (isTls()) {
        const QList<QSslCertificate> chain = QSslCertificate::fromPath(m_options.tlsCertPath, QSsl::Pem);
        QFile keyFile(m_options.tlsKeyPath);
        const QByteArray pem = keyFile.open(QIODevice::ReadOnly) ? keyFile.readAll() : QByteArray();
        QSslKey key(pem, QSsl::Ec, QSsl::Pem);
        if (key.isNull()) {
            key = QSslKey(pem, QSsl::Rsa, QSsl::Pem);
        }
        if (chain.isEmpty() || key.isNull()) {
            return Error{Error::Code::InvalidConfig,
                         QStringLiteral("--tls-cert %1 / --tls-key %2: need a PEM certificate and an "
                                        "unencrypted PEM EC or RSA private key")
                             .arg(m_options.tlsCertPath, m_options.tlsKeyPath),
                         0};
        }
        QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
        tls.setLocalCertificateChain(chain);
        tls.setPrivateKey(key);
        tls.setPeerVerifyMode(QSslSocket::VerifyNone); // callers are not asked for certificates
        auto ssl = std::make_unique<QSslServer>();
        ssl->setSslConfiguration(tls);
        server = std::move(ssl);
    } else {
        server = std::make_unique<QTcpServer>();
    }
    server->setListenBacklogSize(ListenBacklog);
    server->setMaxPendingConnections(ListenBacklog);
    if (!server->listen(m_options.address, m_options.port)) {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_options.address.toString())
                         .arg(m_options.port)
                         .arg(server->errorString()),
                     0};
    }
    // Streamed events go out as they are written, not held back by Nagle's algorithm until the
    // caller acknowledges the previous one. Accepted sockets inherit TCP_NODELAY from the listening one.
    const int noDelay = 1;
    if (::setsockopt(int(server->socketDescriptor()), IPPROTO_TCP, TCP_NODELAY, &noDelay, sizeof noDelay) !=
        0) {
        qCWarning(lcGateway) << "TCP_NODELAY not set on the listening socket:" << qt_error_string(errno);
    }
    if (auto started = m_engine->start(); !started) {
        return started.error();
    }
    server->setParent(this);
    QTcpServer *bound = server.release();
    bind(bound);
    m_port = bound->serverPort();
    m_running = true;
    m_lastSnapshot = m_engine->snapshot();
    return m_port;
}

void Gateway::stop()
{
    if (!m_running) {
        return;
    }
    m_running = false;
    m_stopping = true;
    const auto servers = QAbstractHttpServer::servers();
    for (QTcpServer *server : servers) {
        server->close();
    }
    // Callers whose request was never sent are answered now; the others get their upstream answer, or
    // 503 when the drain time is over.
    std::vector<qint64> queued;
    for (const auto &[id, caller] : m_callers) {
        Q_UNUSED(caller);
        if (m_queue.isWaiting(id) || isParked(id)) {
            queued.push_back(id);
        }
    }
    for (const qint64 id : queued) {
        ++m_counters.stopped;
        answerRefusal(id, Stopping, QStringLiteral("the gateway is stopping; the request was not sent"),
                      retryAfter());
    }
    m_drainTimer.start(int(std::clamp(m_options.drainTimeoutS * 1000.0, 0.0, 3600000.0)));
    m_engine->stop();
    finishStopping();
}

void Gateway::finishStopping()
{
    if (!m_stopping || !m_engineFinished) {
        return;
    }
    m_drainTimer.stop();
    // Whatever the engine let go without an outcome (held behind a limit when it stopped) is answered.
    std::vector<qint64> ids;
    for (const auto &[id, caller] : m_callers) {
        Q_UNUSED(caller);
        ids.push_back(id);
    }
    for (const qint64 id : ids) {
        ++m_counters.stopped;
        answerRefusal(id, Stopping, QStringLiteral("the gateway is stopping"), retryAfter());
    }
    m_stopping = false;
    // The answers must leave the process before the caller of stop() quits the event loop.
    auto *poll = new QTimer(this);
    QElapsedTimer waited; // wall time: the sockets drain in real time, whatever the injected clock says
    waited.start();
    connect(poll, &QTimer::timeout, this, [this, poll, waited] {
        const bool flushed = std::all_of(m_flushing.cbegin(), m_flushing.cend(), [](const auto &socket) {
            return !socket || socket->state() != QAbstractSocket::ConnectedState ||
                   socket->bytesToWrite() == 0;
        });
        if (flushed || waited.elapsed() > FlushWaitMs) {
            poll->stop();
            poll->deleteLater();
            m_flushing.clear();
            Q_EMIT stopped();
        }
    });
    poll->start(5);
}

MetricsSnapshot Gateway::snapshot() const
{
    return m_engine->snapshot();
}

GatewayCounters Gateway::counters() const
{
    GatewayCounters c = m_counters;
    c.waiting = qint64(m_callers.size());
    return c;
}

QByteArray Gateway::metricsText() const
{
    GatewayMetrics m;
    m.callers = counters();
    m.maxQueue = m_queue.capacity();
    m.callerDuration = m_callerDuration;
    m.upstreamDuration = m_upstreamDuration;
    m.ttft = m_ttft;
    for (const CallerKeys::KeyStats &k : m_keys.stats()) {
        m.keys.append({k.name, k.admitted, k.rateLimited, k.budgetRefused, k.spentUsd, k.budgetUsd});
    }
    m.authMissing = m_keys.refusedMissing();
    m.authUnknown = m_keys.refusedUnknown();
    return PrometheusText::render(snapshot(), m);
}

QByteArray Gateway::errorBody(Provider dialect, int status, const QString &message, const QString &code)
{
    Dialect::ApiError e;
    e.status = status;
    e.message = message.toStdString();
    e.code = code.toStdString();
    return ProviderAdapter::serialize(Dialect::errorBody(dialect, e));
}

void Gateway::write(QHttpServerResponder &responder, int status, const QByteArray &body,
                    const Headers &headers, bool withBody)
{
    responder.writeStatusLine(QHttpServerResponder::StatusCode(status));
    responder.writeHeader(QByteArrayLiteral("Content-Type"), QByteArrayLiteral("application/json"));
    for (const auto &[key, value] : headers) {
        QByteArray safe = value; // names and ids from configs and upstreams: never a header break
        safe.replace('\r', ' ').replace('\n', ' ');
        responder.writeHeader(key, safe);
    }
    responder.writeHeader(QByteArrayLiteral("Content-Length"), QByteArray::number(body.size()));
    responder.writeBody(withBody ? body : QByteArray());
}

void Gateway::refuse(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                     const Refusal &why, const QString &message, Headers headers)
{
    if (why.status != 429 && why.status != 503) {
        ++m_counters.invalid;
    }
    headers.append({QByteArrayLiteral("X-Sluice-Error-Class"), QByteArray(why.errorClass)});
    headers.append({QByteArrayLiteral("x-should-retry"), why.retry ? QByteArrayLiteral("true") : "false"});
    QHttpServerResponder responder = makeResponder(request, socket);
    write(responder, why.status, errorBody(dialect, why.status, message, refusalCode(why)), headers);
}

Headers Gateway::retryAfter() const
{
    return {{QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfterS())}};
}

QString Gateway::queueFullMessage() const
{
    return QStringLiteral("the gateway queue is full (%1 callers waiting); retry later")
        .arg(m_queue.capacity());
}

int Gateway::retryAfterS() const
{
    // How long until the queue ahead drains at the rate requests finish now (or the configured
    // limits allow), at least 1 s, at most 5 minutes.
    double rate = m_lastSnapshot.currentRps;
    if (rate <= 0) {
        for (const EndpointStats &e : m_lastSnapshot.endpoints) {
            rate += e.limitRps;
        }
    }
    const double ahead = double(m_queue.size()) + 1;
    const double seconds = rate > 0 ? ahead / rate : 1;
    return int(std::clamp(std::ceil(seconds), 1.0, 300.0));
}

bool Gateway::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    const QString path = request.url().path();
    const auto method = request.method();
    const bool post = method == QHttpServerRequest::Method::Post;
    const Provider dialect = guessDialect(request, path);
    if (path == QLatin1String("/v1/chat/completions") || path == QLatin1String("/v1/messages") ||
        path == QLatin1String("/api/v1/completions") || path == QLatin1String("/v1/messages/count_tokens")) {
        if (!post) {
            refuse(request, socket, dialect, MethodNotAllowed, QStringLiteral("use POST for %1").arg(path));
        } else if (path == QLatin1String("/v1/messages/count_tokens")) {
            serveCountTokens(request, socket);
        } else {
            handleCall(path == QLatin1String("/v1/chat/completions") ? Route::ChatCompletions
                       : path == QLatin1String("/v1/messages")       ? Route::Messages
                                                                     : Route::Completions,
                       request, socket);
        }
        return true;
    }
    if (path == QLatin1String("/v1/models") || path.startsWith(QLatin1String("/v1/models/"))) {
        serveModels(path, request, socket);
        return true;
    }
    if (path == QLatin1String("/health") || path == QLatin1String("/status") ||
        path == QLatin1String("/metrics")) {
        const bool head = method == QHttpServerRequest::Method::Head && path == QLatin1String("/health");
        if (method != QHttpServerRequest::Method::Get && !head) {
            refuse(
                request, socket, dialect, MethodNotAllowed,
                QStringLiteral("use GET for %1%2")
                    .arg(path, path == QLatin1String("/health") ? QStringLiteral(" (or HEAD)") : QString()));
            return true;
        }
        serveInfo(path, request, socket);
        return true;
    }
    refuse(request, socket, dialect, NotFound, QStringLiteral("no such route: %1").arg(path.left(200)));
    return true;
}

void Gateway::serveInfo(const QString &path, const QHttpServerRequest &request, QTcpSocket *socket)
{
    QHttpServerResponder responder = makeResponder(request, socket);
    if (path == QLatin1String("/metrics")) {
        const QByteArray text = metricsText();
        responder.writeStatusLine(QHttpServerResponder::StatusCode::Ok);
        responder.writeHeader(QByteArrayLiteral("Content-Type"),
                              QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"));
        responder.writeHeader(QByteArrayLiteral("Content-Length"), QByteArray::number(text.size()));
        responder.writeBody(text);
        return;
    }
    const MetricsSnapshot s = snapshot();
    json endpoints = json::array();
    int serving = 0;
    for (const EndpointStats &e : s.endpoints) {
        // Serving: takes requests now or after a rate-limit pause. Ejected (unreachable, failing), out of
        // quota or disabled endpoints serve nobody until they are probed back or switched on.
        const bool usable =
            isUsable(e.state) && e.state != EndpointState::Unreachable && e.state != EndpointState::Failing;
        serving += usable ? 1 : 0;
        json row = {{"name", e.name.toStdString()},
                    {"state", toString(e.state).toStdString()},
                    {"usable", usable},
                    {"in_flight", e.inFlight}};
        if (path == QLatin1String("/status")) {
            row["weight"] = e.weight;
            row["limit_rps"] = e.limitRps;
            row["limit_tokens_per_s"] = e.limitTps;
            row["limit_reason"] = e.limitReasonText().toStdString();
            row["state_detail"] = e.stateText().toStdString();
            row["sent"] = e.sent;
            row["ok"] = e.ok;
            row["rate_limited"] = e.rateLimited;
            row["errors"] = e.errors;
            row["p50_ms"] = e.p50Ms;
            row["p99_ms"] = e.p99Ms;
        }
        endpoints.push_back(std::move(row));
    }
    if (path == QLatin1String("/health")) {
        const bool live = m_running && s.state == RunState::Running;
        const bool ok = live && serving > 0;
        const char *status = !ok ? "unavailable" : serving < s.endpoints.size() ? "degraded" : "ok";
        const json body = {{"status", status},
                           {"engine", toString(s.state).toStdString()},
                           {"endpoints", std::move(endpoints)}};
        write(responder, ok ? 200 : 503, ProviderAdapter::serialize(body), {},
              request.method() != QHttpServerRequest::Method::Head);
        return;
    }
    const GatewayCounters c = counters();
    const json body = {{"engine", toString(s.state).toStdString()},
                       {"queue_depth", s.queued},
                       {"queue_capacity", m_queue.capacity()},
                       {"callers_waiting", c.waiting},
                       {"in_flight", s.inFlight},
                       {"waiting_retry", s.waitingRetry},
                       {"finished_per_s", s.currentRps},
                       {"issued", s.issued},
                       {"succeeded", s.succeeded},
                       {"failed", s.failed},
                       {"rate_limited", s.rateLimited},
                       {"p50_ms", s.p50Ms},
                       {"p99_ms", s.p99Ms},
                       {"tls", isTls()},
                       {"caller_keys", m_keys.isEnabled()},
                       {"callers", callersStatus(c)},
                       {"cost", costStatus(s)},
                       {"endpoints", std::move(endpoints)}};
    write(responder, 200, ProviderAdapter::serialize(body), {});
}

void Gateway::serveModels(const QString &path, const QHttpServerRequest &request, QTcpSocket *socket)
{
    const Provider dialect = guessDialect(request, path);
    if (request.method() != QHttpServerRequest::Method::Get) {
        refuse(request, socket, dialect, MethodNotAllowed, QStringLiteral("use GET for %1").arg(path));
        return;
    }
    int key = -1;
    if (!admit(request, socket, dialect, key)) {
        return;
    }
    // The models the endpoints name (and --model), each once, in the project's order.
    QStringList models;
    if (!m_options.modelOverride.isEmpty()) {
        models.append(m_options.modelOverride);
    }
    for (const EndpointConfig &e : std::as_const(m_project.endpoints)) {
        if (!e.model.isEmpty() && e.weight > 0 && !models.contains(e.model)) {
            models.append(e.model);
        }
    }
    const auto item = [dialect](const QString &id) {
        if (dialect == Provider::Anthropic) {
            return json{{"type", "model"},
                        {"id", id.toStdString()},
                        {"display_name", id.toStdString()},
                        {"created_at", "1970-01-01T00:00:00Z"}};
        }
        return json{{"id", id.toStdString()}, {"object", "model"}, {"created", 0}, {"owned_by", "sluice"}};
    };
    QHttpServerResponder responder = makeResponder(request, socket);
    if (path != QLatin1String("/v1/models")) {
        const QString id = path.mid(int(qstrlen("/v1/models/")));
        if (!models.contains(id)) {
            refuse(request, socket, dialect, NotFound,
                   QStringLiteral("no endpoint serves the model \"%1\"").arg(id.left(200)));
            return;
        }
        write(responder, 200, ProviderAdapter::serialize(item(id)), {});
        return;
    }
    json data = json::array();
    for (const QString &id : std::as_const(models)) {
        data.push_back(item(id));
    }
    json body;
    if (dialect == Provider::Anthropic) {
        body = {{"data", data},
                {"has_more", false},
                {"first_id", models.isEmpty() ? json() : json(models.first().toStdString())},
                {"last_id", models.isEmpty() ? json() : json(models.last().toStdString())}};
    } else {
        body = {{"object", "list"}, {"data", data}};
    }
    write(responder, 200, ProviderAdapter::serialize(body), {});
}

void Gateway::serveCountTokens(const QHttpServerRequest &request, QTcpSocket *socket)
{
    int key = -1;
    json body;
    if (!admit(request, socket, Provider::Anthropic, key) ||
        !readBody(request, socket, Provider::Anthropic, body)) {
        return;
    }
    // An estimate (about 4 bytes per token over every text, plus 4 per message), not a tokenizer.
    const json out = {{"input_tokens", qint64(TokenEstimator::promptTokens(body))}};
    QHttpServerResponder responder = makeResponder(request, socket);
    write(responder, 200, ProviderAdapter::serialize(out),
          {{QByteArrayLiteral("X-Sluice-Estimate"), "true"}});
}

void Gateway::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    refuse(request, socket, guessDialect(request, request.url().path()), NotFound,
           QStringLiteral("no such route"));
}

bool Gateway::admit(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, int &key)
{
    const CallerKeys::Verdict verdict = m_keys.admit(presentedKey(request));
    key = verdict.key;
    switch (verdict.kind) {
    case CallerKeys::Verdict::Kind::Admitted:
        return true;
    case CallerKeys::Verdict::Kind::Missing:
    case CallerKeys::Verdict::Kind::Unknown:
        qCInfo(lcAccess).noquote() << request.url().path() << "401"
                                   << (verdict.kind == CallerKeys::Verdict::Kind::Missing ? "no key"
                                                                                          : "unknown key");
        refuse(
            request, socket, dialect, Unauthorized,
            verdict.kind == CallerKeys::Verdict::Kind::Missing
                ? QStringLiteral("this gateway needs a caller key (Authorization: Bearer KEY or x-api-key)")
                : QStringLiteral("the caller key is not one of this gateway's"),
            {{QByteArrayLiteral("WWW-Authenticate"), QByteArrayLiteral("Bearer")}});
        return false;
    case CallerKeys::Verdict::Kind::RateLimited:
        break;
    }
    const QString name = m_keys.name(verdict.key);
    qCInfo(lcAccess).noquote() << request.url().path() << "429 key" << name << "over its rpm";
    refuse(
        request, socket, dialect, KeyRateLimited,
        QStringLiteral("caller key \"%1\" is over its request limit; retry later").arg(name),
        {{QByteArrayLiteral("Retry-After"),
          QByteArray::number(std::max(1, int(std::ceil(verdict.retryAfterMs / 1000.0))))},
         {QByteArrayLiteral("retry-after-ms"), QByteArray::number(qint64(std::ceil(verdict.retryAfterMs)))}});
    return false;
}

bool Gateway::readBody(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, json &body)
{
    const QByteArray bytes = request.body();
    if (bytes.size() > m_options.maxBodyBytes) {
        refuse(request, socket, dialect, TooLarge,
               QStringLiteral("the request body is larger than %1 bytes").arg(m_options.maxBodyBytes));
        return false;
    }
    if (nesting(bytes) > MaxJsonDepth) {
        refuse(request, socket, dialect, InvalidRequest,
               QStringLiteral("the request body nests deeper than %1 levels").arg(MaxJsonDepth));
        return false;
    }
    body = json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        refuse(request, socket, dialect, InvalidRequest,
               QStringLiteral("the request body must be a JSON object"));
        return false;
    }
    return true;
}

bool Gateway::readCallHeaders(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                              double &timeoutS, int &priority)
{
    timeoutS = m_options.defaultTimeoutS;
    if (const QByteArray text = header(request, "x-sluice-timeout"); !text.isEmpty()) {
        bool ok = false;
        timeoutS = text.toDouble(&ok);
        if (!ok || !std::isfinite(timeoutS) || timeoutS <= 0) {
            refuse(request, socket, dialect, InvalidRequest,
                   QStringLiteral("X-Sluice-Timeout must be a positive number of seconds"));
            return false;
        }
        timeoutS = std::min(timeoutS, m_options.maxTimeoutS);
    }
    priority = CallerQueue::DefaultPriority;
    if (const QByteArray text = header(request, "x-sluice-priority"); !text.isEmpty()) {
        bool ok = false;
        priority = text.toInt(&ok);
        if (!ok || priority < CallerQueue::MinPriority || priority > CallerQueue::MaxPriority) {
            refuse(request, socket, dialect, InvalidRequest,
                   QStringLiteral("X-Sluice-Priority must be an integer from %1 to %2")
                       .arg(CallerQueue::MinPriority)
                       .arg(CallerQueue::MaxPriority));
            return false;
        }
    }

    return true;
}

bool Gateway::unwrapPayload(const QHttpServerRequest &request, QTcpSocket *socket, Provider &dialect,
                            json &body)
{
    // The Go "LLM Request Balancer" shape: {"provider", "model", "payload"}; the provider names the
    // payload's dialect, and so the answer's.
    const auto payload = body.find("payload");
    if (payload == body.end() || !payload->is_object()) {
        refuse(request, socket, dialect, InvalidRequest,
               QStringLiteral("\"payload\" must be a JSON object (the request body to send)"));
        return false;
    }
    const auto provider = body.find("provider");
    if (provider != body.end() && provider->is_string() && provider->get<std::string>() == "anthropic") {
        dialect = Provider::Anthropic;
    }
    json inner = std::move(*payload);
    const auto model = body.find("model");
    if (model != body.end() && model->is_string() && !model->get<std::string>().empty()) {
        inner["model"] = *model;
    }
    body = std::move(inner);
    return true;
}

void Gateway::addCaller(qint64 id, const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                        int key, std::shared_ptr<StreamRelay> relay, double timeoutS)
{
    const double now = m_clock->nowMs();
    Caller caller;
    caller.responder = std::make_unique<QHttpServerResponder>(makeResponder(request, socket));
    caller.socket = socket;
    caller.acceptedMs = now;
    caller.dialect = dialect;
    caller.key = key;
    caller.relay = std::move(relay);
    caller.deadline = m_deadlines.emplace(now + timeoutS * 1000.0, id);
    caller.goneConnection =
        connect(socket, &QAbstractSocket::disconnected, this, [this, id] { callerLeft(id); });
    m_callers.emplace(id, std::move(caller));
    if (m_deadlines.begin()->second == id) {
        armDeadlineTimer();
    }
}

std::shared_ptr<StreamRelay> Gateway::makeRelay(const json &body, Provider dialect, qint64 id)
{
    const auto options = body.find("stream_options");
    const bool includeUsage =
        options != body.end() && options->is_object() && options->value("include_usage", json()) == true;
    // Called on a transport thread, under the relay's lock: detach() (on this thread, before the
    // caller goes) stops it, so `this` is alive whenever it runs.
    return std::make_shared<StreamRelay>(dialect, includeUsage, [this, id] {
        QMetaObject::invokeMethod(
            this, [this, id] { pumpStream(id); }, Qt::QueuedConnection);
    });
}

void Gateway::handleCall(Route route, const QHttpServerRequest &request, QTcpSocket *socket)
{
    Provider dialect = route == Route::Messages ? Provider::Anthropic : Provider::OpenAI;
    if (!m_running) {
        ++m_counters.stopped;
        refuse(request, socket, dialect, Stopping, QStringLiteral("the gateway is stopping"), retryAfter());
        return;
    }
    int key = -1;
    if (!admit(request, socket, dialect, key) || !withinKeyBudget(request, socket, dialect, key)) {
        return;
    }
    // The caller's deadline and priority.
    double timeoutS = 0;
    int priority = 0;
    if (!readCallHeaders(request, socket, dialect, timeoutS, priority)) {
        return;
    }

    json body;
    if (!readBody(request, socket, dialect, body)) {
        return;
    }
    Request r;
    r.line = m_nextId;
    r.customId = QStringLiteral("gw-%1").arg(m_nextId);
    if (route == Route::Completions) {
        if (!unwrapPayload(request, socket, dialect, body)) {
            return;
        }
    } else if (!body.contains("metadata") && !body.contains("custom_id")) {
        // Sent as the caller wrote it when the endpoint needs nothing changed (ProviderAdapter).
        r.bodyText = request.body();
    }
    const auto stream = body.find("stream");
    const bool streaming = stream != body.end() && stream->is_boolean() && stream->get<bool>();
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        refuse(request, socket, dialect, InvalidRequest, QStringLiteral("\"messages\" must be an array"));
        return;
    }
    takeCallerHeaders(request, r);
    std::shared_ptr<StreamRelay> relay;
    if (streaming) {
        r.streamRelay = relay = makeRelay(body, dialect, m_nextId);
    }
    if (dialect == Provider::Anthropic) {
        r.format = InputFormat::AnthropicBatch;
        r.input = json{{"params", std::move(body)}};
    } else {
        r.format = InputFormat::ChatBody;
        r.input = std::move(body);
    }

    double reservedUsd = 0;
    if (!enqueue(request, socket, dialect, key, std::move(r), priority, reservedUsd)) {
        return;
    }
    const qint64 id = m_nextId++;
    ++m_counters.accepted;
    if (key >= 0) {
        m_callKeys.emplace(id, CallKey{key, reservedUsd});
    }
    addCaller(id, request, socket, dialect, key, std::move(relay), timeoutS);
}

void Gateway::takeCallerHeaders(const QHttpServerRequest &request, Request &r) const
{
    // Kept for endpoints with forward_caller_key only (never combined with gateway keys).
    if (!m_keys.isEnabled()) {
        r.callerKey = presentedKey(request);
    }
    for (const char *name : {"anthropic-beta", "OpenAI-Organization", "OpenAI-Project"}) {
        if (const QByteArray value = header(request, name); !value.isEmpty()) {
            r.forwardHeaders.append({QByteArray(name), value});
        }
    }
}

void Gateway::callerLeft(qint64 id)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end()) {
        return;
    }
    Caller &caller = it->second;
    if (caller.relay) {
        caller.relay->detach();
    }
    if (caller.streaming) {
        --m_counters.streamsActive;
        ++m_counters.streamsGone;
    }
    if (m_queue.isWaiting(id) || isParked(id)) {
        ++m_counters.goneQueued;
    } else {
        ++m_counters.goneLater;
    }
    QObject::disconnect(caller.goneConnection);
    m_deadlines.erase(caller.deadline);
    m_callers.erase(it); // its responder is dropped unanswered: the socket is gone
    abandon(id);
}

void Gateway::abandon(qint64 id)
{
    // Never sent while it waits here; held by the engine (waiting for a slot or a retry), dropped
    // before its next attempt; on the wire, cancelled now: nobody pays for a reply nobody reads.
    if (m_queue.forget(id) || unpark(id)) {
        chargeCall(id, 0); // never sent: no outcome will come
    } else {
        m_engine->cancelRequest(id);
    }
}

void Gateway::armDeadlineTimer()
{
    if (m_deadlines.empty()) {
        m_deadlineTimer.stop();
        return;
    }
    const double wait = m_deadlines.begin()->first - m_clock->nowMs();
    m_deadlineTimer.start(int(std::clamp(std::ceil(wait), 0.0, 86400000.0)));
}

void Gateway::expireDeadlines()
{
    const double now = m_clock->nowMs();
    while (!m_deadlines.empty() && m_deadlines.begin()->first <= now) {
        const qint64 id = m_deadlines.begin()->second;
        const auto it = m_callers.find(id);
        if (it == m_callers.end()) {
            m_deadlines.erase(m_deadlines.begin());
            continue;
        }
        const double waitedS = (now - it->second.acceptedMs) / 1000.0;
        QString message;
        if (m_queue.isWaiting(id) || isParked(id)) {
            ++m_counters.deadlineQueued;
            message = QStringLiteral("deadline passed after %1 s in the queue; the request was not sent")
                          .arg(waitedS, 0, 'f', 1);
        } else {
            ++m_counters.deadlineSent;
            message = QStringLiteral("deadline passed after %1 s before an upstream answer")
                          .arg(waitedS, 0, 'f', 1);
        }
        answerRefusal(id, Deadline, message, retryAfter());
        abandon(id);
    }
    armDeadlineTimer();
}

void Gateway::answerRefusal(qint64 id, const Refusal &why, const QString &message, Headers headers)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end()) {
        return;
    }
    headers.append({QByteArrayLiteral("X-Sluice-Error-Class"), QByteArray(why.errorClass)});
    headers.append({QByteArrayLiteral("x-should-retry"), why.retry ? QByteArrayLiteral("true") : "false"});
    answer(id, why.status, errorBody(it->second.dialect, why.status, message, refusalCode(why)), headers);
}

void Gateway::answer(qint64 id, int status, const QByteArray &body, const Headers &headers)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end()) {
        return;
    }
    Caller caller = std::move(it->second);
    m_callers.erase(it);
    m_deadlines.erase(caller.deadline);
    if (m_queue.forget(id) || unpark(id)) {
        chargeCall(id, 0); // never sent: no outcome will come
    }
    QObject::disconnect(caller.goneConnection);
    const double seconds = (m_clock->nowMs() - caller.acceptedMs) / 1000.0;
    m_callerDuration.observe(seconds);
    if (lcAccess().isInfoEnabled()) {
        qCInfo(lcAccess).noquote() << "call" << id << dialectName(caller.dialect)
                                   << (caller.key >= 0 ? QStringLiteral("key=") + m_keys.name(caller.key)
                                                       : QString())
                                   << status
                                   << QString::number(seconds * 1000.0, 'f', 1) + QStringLiteral(" ms");
    }
    if (caller.relay) {
        caller.relay->detach();
    }
    if (caller.streaming) {
        // The caller already has part of a reply: the failure ends its stream as an error event.
        --m_counters.streamsActive;
        ++m_counters.streamsFailed;
    }
    if (caller.socket && caller.socket->state() == QAbstractSocket::ConnectedState) {
        if (caller.streaming) {
            writeChunk(*caller.responder,
                       StreamTranslator::errorEvent(
                           caller.dialect,
                           json::parse(body.constData(), body.constData() + body.size(), nullptr, false)));
            caller.responder->writeBody(QByteArrayLiteral("0\r\n\r\n"));
        } else {
            write(*caller.responder, status, body, headers);
        }
        if (m_stopping || !m_running) {
            caller.socket->flush(); // the process may exit soon: hand the answer to the kernel now
            m_flushing.append(caller.socket);
        }
    }
}

void Gateway::succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion)
{
    chargeCall(request.line, completion.costUsd);
    const auto it = m_callers.find(request.line);
    if (it == m_callers.end()) {
        return; // the caller left or ran out of time; the reply goes nowhere
    }
    ++m_counters.answered;
    m_upstreamDuration[completion.endpoint].observe(completion.latencyMs / 1000.0);
    if (completion.ttftMs >= 0) {
        m_ttft[completion.endpoint].observe(completion.ttftMs / 1000.0);
    }
    if (it->second.relay) {
        pumpStream(request.line); // what is left
        QByteArray tail;
        if (!it->second.streaming) {
            // The upstream answered unstreamed (it ignored "stream"): the whole reply as events.
            const Provider from = m_endpointDialects.value(completion.endpoint, Provider::OpenAI);
            const json reply = Dialect::translateReply(
                json::parse(bodyText.constData(), bodyText.constData() + bodyText.size(), nullptr, false),
                from, it->second.dialect, QDateTime::currentSecsSinceEpoch());
            tail =
                StreamTranslator::replyAsEvents(reply, it->second.dialect, it->second.relay->includeUsage());
        }
        endStream(request.line, tail, false);
        return;
    }
    Headers headers = {{QByteArrayLiteral("X-Sluice-Endpoint"), completion.endpoint.toUtf8()},
                       {QByteArrayLiteral("X-Sluice-Attempts"), QByteArray::number(completion.attempts)}};
    addRequestId(headers, completion.requestId);
    const int status = completion.status >= 200 && completion.status < 300 ? completion.status : 200;
    const Provider from = m_endpointDialects.value(completion.endpoint, Provider::OpenAI);
    const Provider to = it->second.dialect;
    if (from == to) {
        answer(request.line, status, bodyText, headers); // the upstream's reply as it sent it
        return;
    }
    const json reply =
        json::parse(bodyText.constData(), bodyText.constData() + bodyText.size(), nullptr, false);
    if (to == Provider::OpenAI) {
        const std::string text = Dialect::messagesReplyToChatText(reply, QDateTime::currentSecsSinceEpoch());
        answer(request.line, status, QByteArray(text.data(), qsizetype(text.size())), headers);
        return;
    }
    answer(request.line, status,
           ProviderAdapter::serialize(
               Dialect::translateReply(reply, from, to, QDateTime::currentSecsSinceEpoch())),
           headers);
}

void Gateway::failed(const Request &request, ErrorClass cls, const QString &message,
                     const Completion &completion, const nlohmann::json &body)
{
    chargeCall(request.line, completion.costUsd);
    const auto it = m_callers.find(request.line);
    if (it == m_callers.end()) {
        return;
    }
    if (cls == ErrorClass::Budget) {
        answerBudgetSpent(request.line, completion);
        return;
    }
    ++m_counters.answered;
    if (it->second.relay) {
        pumpStream(request.line); // the events that came before the failure, if it had begun
    }
    const int status = statusFor(cls, completion.status);
    const Provider to = it->second.dialect;
    Headers headers = {{QByteArrayLiteral("X-Sluice-Error-Class"), toString(cls).toUtf8()},
                       {QByteArrayLiteral("X-Sluice-Attempts"), QByteArray::number(completion.attempts)}};
    if (!completion.endpoint.isEmpty()) {
        headers.append({QByteArrayLiteral("X-Sluice-Endpoint"), completion.endpoint.toUtf8()});
    }
    // The gateway spent the attempts its retry policy allows (or the error is not one to retry): an
    // SDK retrying on top would multiply the upstream sends.
    if (completion.attempts > 0) {
        headers.append({QByteArrayLiteral("x-should-retry"), QByteArrayLiteral("false")});
    }
    addRequestId(headers, completion.requestId);
    if (completion.retryAfterMs >= 0) {
        // The upstream's own wait, passed on (both forms, as the SDKs read either).
        headers.append(
            {QByteArrayLiteral("Retry-After"),
             QByteArray::number(std::max<qint64>(1, qint64(std::ceil(completion.retryAfterMs / 1000.0))))});
        headers.append({QByteArrayLiteral("retry-after-ms"),
                        QByteArray::number(qint64(std::ceil(completion.retryAfterMs)))});
    } else if (status == 429 || status == 503) {
        headers.append({QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfterS())});
    }
    // The upstream's own error body (keys redacted: it may quote what it was sent), in the caller's
    // dialect; else ours. `message` is already redacted by the engine.
    QByteArray out;
    const Provider from = m_endpointDialects.value(completion.endpoint, Provider::OpenAI);
    if (body.is_object() && from == to) {
        out = m_engine->redacted(QString::fromUtf8(ProviderAdapter::serialize(body))).toUtf8();
    } else if (body.is_object()) {
        const json translated = Dialect::errorBody(to, Dialect::readError(body, status));
        out = m_engine->redacted(QString::fromUtf8(ProviderAdapter::serialize(translated))).toUtf8();
    } else {
        out = errorBody(to, status, message, QStringLiteral("sluice_") + toString(cls));
    }
    answer(request.line, status, out, headers);
}

bool Gateway::withinKeyBudget(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect,
                              int key)
{
    if (key < 0 || !m_keys.refuseForBudget(key)) {
        return true;
    }
    ++m_counters.budgetExhausted;
    const QString name = m_keys.name(key);
    qCInfo(lcAccess).noquote() << request.url().path() << "429 key" << name << "over its budget";
    refuse(request, socket, dialect, BudgetExhausted,
           QStringLiteral("the caller key's budget of %1 is spent; the request was not sent")
               .arg(usd(m_keys.budgetUsd(key))));
    return false;
}

bool Gateway::enqueue(const QHttpServerRequest &request, QTcpSocket *socket, Provider dialect, int key,
                      Request &&r, int priority, double &reservedUsd)
{
    double worst = 0;
    CallerKeys::BudgetFit fit = CallerKeys::BudgetFit::Fits;
    if (key >= 0) {
        worst = keyWorstUsd(key, r);
        fit = m_keys.fit(key, worst);
    }
    if (fit == CallerKeys::BudgetFit::Spent) {
        m_keys.countBudgetRefusal(key);
        ++m_counters.budgetExhausted;
        qCInfo(lcAccess).noquote() << request.url().path() << "429 key" << m_keys.name(key)
                                   << "over its budget";
        refuse(request, socket, dialect, BudgetExhausted, keySpentMessage(key, worst));
        return false;
    }
    if (fit == CallerKeys::BudgetFit::Committed && int(m_parked.size()) < m_queue.capacity()) {
        // Waits here, unsent, until the key's calls in flight leave room for its worst case.
        m_parked.push_back(Parked{key, worst, priority, std::move(r)});
        return true;
    }
    if (fit == CallerKeys::BudgetFit::Fits && m_queue.push(std::move(r), priority)) {
        if (key >= 0) {
            m_keys.reserve(key, worst);
            reservedUsd = worst;
        }
        return true;
    }
    ++m_counters.queueFull;
    refuse(request, socket, dialect, QueueFull, queueFullMessage(), retryAfter());
    return false;
}

void Gateway::admitParked(int key)
{
    // In arrival order within the key; re-entered (through answerRefusal and chargeCall) safely, as
    // each round looks the list up afresh.
    while (m_running) {
        const auto it =
            std::find_if(m_parked.begin(), m_parked.end(), [key](const Parked &p) { return p.key == key; });
        if (it == m_parked.end()) {
            return;
        }
        const CallerKeys::BudgetFit fit = m_keys.fit(key, it->worstUsd);
        if (fit == CallerKeys::BudgetFit::Committed) {
            return; // the first in line still waits, and the others behind it
        }
        Parked p = std::move(*it);
        m_parked.erase(it);
        const qint64 id = p.request.line;
        if (fit == CallerKeys::BudgetFit::Spent) {
            m_keys.countBudgetRefusal(key);
            ++m_counters.budgetExhausted;
            chargeCall(id, 0); // never sent
            answerRefusal(id, BudgetExhausted, keySpentMessage(key, p.worstUsd));
            continue;
        }
        if (!m_queue.push(std::move(p.request), p.priority)) {
            ++m_counters.queueFull;
            chargeCall(id, 0);
            answerRefusal(id, QueueFull, queueFullMessage(), retryAfter());
            continue;
        }
        m_keys.reserve(key, p.worstUsd);
        m_callKeys[id] = CallKey{key, p.worstUsd};
    }
}

bool Gateway::unpark(qint64 id)
{
    const auto it = std::find_if(m_parked.begin(), m_parked.end(),
                                 [id](const Parked &p) { return p.request.line == id; });
    if (it == m_parked.end()) {
        return false;
    }
    m_parked.erase(it);
    return true;
}

bool Gateway::isParked(qint64 id) const
{
    return std::any_of(m_parked.cbegin(), m_parked.cend(),
                       [id](const Parked &p) { return p.request.line == id; });
}

double Gateway::keyWorstUsd(int key, const Request &r) const
{
    double worst = 0;
    if (m_keys.budgetUsd(key) > 0) {
        const CostAsk ask = m_costBook.ask(r);
        for (int e = 0; e < m_costBook.endpointCount(); ++e) {
            worst = std::max(worst, m_costBook.worstUsd(e, ask));
        }
    }
    return worst;
}

QString Gateway::keySpentMessage(int key, double worstUsd) const
{
    const CallerKeys::KeyStats &stats = m_keys.stats(key);
    return QStringLiteral("the caller key's budget of %1 has no room for this call: %2 spent, and this call "
                          "may cost up to %3 (a lower max_tokens lowers that); the request was not sent")
        .arg(usd(stats.budgetUsd), usd(stats.spentUsd), usd(worstUsd));
}

void Gateway::answerBudgetSpent(qint64 id, const Completion &completion)
{
    ++m_counters.answered;
    ++m_counters.budgetExhausted;
    // No Retry-After: waiting does not raise a budget.
    Headers headers = {{QByteArrayLiteral("X-Sluice-Attempts"), QByteArray::number(completion.attempts)}};
    if (!completion.endpoint.isEmpty()) {
        headers.append({QByteArrayLiteral("X-Sluice-Endpoint"), completion.endpoint.toUtf8()});
    }
    answerRefusal(id, BudgetExhausted, budgetSpentMessage(completion.attempts), headers);
}

QString Gateway::budgetSpentMessage(int attempts) const
{
    const CostStats cost = snapshot().cost;
    const QString tail =
        QStringLiteral(": %1 spent, and the worst case of this call does not fit in the rest; "
                       "the request was not sent%2")
            .arg(usd(cost.spentUsd), attempts > 0 ? QStringLiteral(" again") : QString());
    if (cost.team) {
        return QStringLiteral("the team's budget of %1 (shared through Redis) is spent")
                   .arg(usd(cost.budgetUsd)) +
               tail;
    }
    if (cost.budgetUsd > 0) {
        return QStringLiteral("the gateway's budget of %1 is spent").arg(usd(cost.budgetUsd)) + tail;
    }
    return QStringLiteral("the endpoints' budgets (max_cost_usd) are spent") + tail;
}

void Gateway::chargeCall(qint64 id, double costUsd)
{
    const auto it = m_callKeys.find(id);
    if (it != m_callKeys.end()) {
        const int key = it->second.key;
        m_keys.settle(key, it->second.reservedUsd, costUsd);
        m_callKeys.erase(it);
        admitParked(key); // what this call held may let the key's next calls go
    }
}

json Gateway::callersStatus(const GatewayCounters &c)
{
    return {{"accepted", c.accepted},
            {"answered", c.answered},
            {"queue_full", c.queueFull},
            {"invalid", c.invalid},
            {"deadline_queued", c.deadlineQueued},
            {"deadline_sent", c.deadlineSent},
            {"gone_queued", c.goneQueued},
            {"gone_later", c.goneLater},
            {"stopped", c.stopped},
            {"budget_exhausted", c.budgetExhausted}};
}

json Gateway::costStatus(const MetricsSnapshot &snapshot) const
{
    json keys = json::array();
    for (const CallerKeys::KeyStats &k : m_keys.stats()) {
        keys.push_back({{"name", k.name.toStdString()},
                        {"spent_usd", k.spentUsd},
                        {"reserved_usd", k.reservedUsd},
                        {"max_cost_usd", k.budgetUsd > 0 ? json(k.budgetUsd) : json()},
                        {"budget_exhausted", k.budgetRefused}});
    }
    const CostStats &c = snapshot.cost;
    return {{"spent_usd", c.spentUsd},
            {"reserved_usd", c.reservedUsd},
            {"max_cost_usd", c.budgetUsd > 0 ? json(c.budgetUsd) : json()},
            {"team", c.team},
            {"keys", std::move(keys)}};
}

void Gateway::rejected(const InputError &error)
{
    // The gateway validates bodies before queueing them, so its source never yields invalid items.
    chargeCall(error.line, 0); // never sent
    answerRefusal(error.line, InvalidRequest, error.message);
}

void Gateway::pumpStream(qint64 id)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end() || !it->second.relay) {
        return;
    }
    Caller &caller = it->second;
    const StreamRelay::Taken taken = caller.relay->take();
    if (taken.bytes.isEmpty() || !caller.socket ||
        caller.socket->state() != QAbstractSocket::ConnectedState) {
        return;
    }
    if (taken.first) {
        caller.streaming = true;
        ++m_counters.streamsActive;
        Headers headers;
        if (taken.endpoint >= 0 && taken.endpoint < m_project.endpoints.size()) {
            headers.append({QByteArrayLiteral("X-Sluice-Endpoint"),
                            m_project.endpoints.at(taken.endpoint).name.toUtf8()});
        }
        addRequestId(headers, taken.requestId);
        writeStreamHead(*caller.responder, headers);
    }
    writeChunk(*caller.responder, taken.bytes);
    caller.socket->flush(); // each batch of events leaves as it arrives
}

void Gateway::endStream(qint64 id, const QByteArray &tail, bool failed)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end()) {
        return;
    }
    Caller caller = std::move(it->second);
    m_callers.erase(it);
    m_deadlines.erase(caller.deadline);
    m_queue.forget(id);
    QObject::disconnect(caller.goneConnection);
    caller.relay->detach();
    m_callerDuration.observe((m_clock->nowMs() - caller.acceptedMs) / 1000.0);
    if (caller.streaming) {
        --m_counters.streamsActive;
    }
    ++(failed ? m_counters.streamsFailed : m_counters.streamsCompleted);
    if (!caller.socket || caller.socket->state() != QAbstractSocket::ConnectedState) {
        return;
    }
    if (!caller.streaming) {
        writeStreamHead(*caller.responder, {});
    }
    writeChunk(*caller.responder, tail);
    caller.responder->writeBody(QByteArrayLiteral("0\r\n\r\n"));
    caller.socket->flush();
    if (m_stopping || !m_running) {
        m_flushing.append(caller.socket);
    }
}

} // namespace Sluice
