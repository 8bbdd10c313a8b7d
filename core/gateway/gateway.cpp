#include "gateway.h"

#include "net/provideradapter.h"
#include "util/clock.h"

#include <QHttpServerRequest>
#include <QHttpServerResponder>
#include <QLoggingCategory>
#include <QTcpServer>
#include <QTcpSocket>

#include <cmath>
#include <limits>

namespace Sluice {

Q_LOGGING_CATEGORY(lcGateway, "sluice.gateway")

namespace {

using json = nlohmann::json;
using Headers = QList<QPair<QByteArray, QByteArray>>;

constexpr int MaxJsonDepth = 64;
constexpr int ListenBacklog = 4096; ///< the kernel caps it at net.core.somaxconn

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

/// The HTTP status a caller gets for a request that failed for good.
int statusFor(ErrorClass cls, int upstreamStatus)
{
    if (upstreamStatus >= 400 && upstreamStatus <= 599) {
        return upstreamStatus; // the upstream's own verdict, with its error body
    }
    switch (cls) {
    case ErrorClass::RateLimited:
    case ErrorClass::Quota:
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

} // namespace

Gateway::Gateway(ProjectConfig project, GatewayOptions options, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_project(std::move(project))
    , m_options(std::move(options))
    , m_queue(m_options.maxQueue)
    , m_deadlineTimer(this)
{
    RunOptions run;
    run.apiKeys = m_options.apiKeys;
    run.modelOverride = m_options.modelOverride;
    run.tickMs = m_options.tickMs;
    // Callers' deadlines end waits; the engine never gives up on its own while it serves.
    run.unreachableGiveUpMs = std::numeric_limits<double>::infinity();
    OutcomeSink *sink = this; // a private base: converted here, where it is accessible
    m_engine = std::make_unique<Engine>(m_project, std::move(run), &m_queue, sink, nullptr);
    connect(m_engine.get(), &Engine::snapshotReady, this, [this](const MetricsSnapshot &s) {
        m_lastSnapshot = s;
        Q_EMIT snapshotReady(s);
    });
    connect(m_engine.get(), &Engine::finished, this, [this] { Q_EMIT stopped(); });
    m_deadlineTimer.setSingleShot(true);
    m_deadlineTimer.setTimerType(Qt::PreciseTimer);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &Gateway::expireDeadlines);
}

Gateway::~Gateway()
{
    // Waiting callers' responders point at sockets the server owns: drop them (unanswered) first.
    for (auto &[id, caller] : m_callers) {
        Q_UNUSED(id);
        QObject::disconnect(caller.goneConnection);
    }
    m_callers.clear();
    m_engine.reset();
}

Result<quint16> Gateway::start()
{
    if (m_running) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("the gateway is already running"), 0};
    }
    if (auto started = m_engine->start(); !started) {
        return started.error();
    }
    // Our own QTcpServer rather than listen(): Qt's default listen backlog (50) and pending-connection
    // cap (30) make a burst of a thousand callers connecting at once retransmit for seconds.
    auto *server = new QTcpServer(this);
    server->setListenBacklogSize(ListenBacklog);
    server->setMaxPendingConnections(ListenBacklog);
    if (!server->listen(m_options.address, m_options.port)) {
        const QString why = server->errorString();
        delete server;
        m_engine->abort();
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("cannot listen on %1:%2: %3")
                         .arg(m_options.address.toString())
                         .arg(m_options.port)
                         .arg(why),
                     0};
    }
    bind(server);
    const quint16 port = server->serverPort();
    m_port = port;
    m_running = true;
    m_lastSnapshot = m_engine->snapshot();
    return port;
}

void Gateway::stop()
{
    if (!m_running) {
        return;
    }
    m_running = false;
    const auto servers = QAbstractHttpServer::servers();
    for (QTcpServer *server : servers) {
        server->close();
    }
    std::vector<qint64> ids;
    ids.reserve(m_callers.size());
    for (const auto &[id, caller] : m_callers) {
        Q_UNUSED(caller);
        ids.push_back(id);
    }
    for (const qint64 id : ids) {
        ++m_counters.stopped;
        answer(id, 503,
               errorBody(QStringLiteral("sluice_stopped"), QStringLiteral("the gateway is stopping")), {});
    }
    m_engine->stop();
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
    return PrometheusText::render(snapshot(), counters(), m_queue.capacity());
}

QByteArray Gateway::errorBody(const QString &type, const QString &message)
{
    const json body = {{"error", {{"type", type.toStdString()}, {"message", message.toStdString()}}}};
    return ProviderAdapter::serialize(body);
}

void Gateway::write(QHttpServerResponder &responder, int status, const QByteArray &body,
                    const Headers &headers)
{
    responder.writeStatusLine(QHttpServerResponder::StatusCode(status));
    responder.writeHeader(QByteArrayLiteral("Content-Type"), QByteArrayLiteral("application/json"));
    for (const auto &[key, value] : headers) {
        QByteArray safe = value; // names and ids from configs and upstreams: never a header break
        safe.replace('\r', ' ').replace('\n', ' ');
        responder.writeHeader(key, safe);
    }
    responder.writeHeader(QByteArrayLiteral("Content-Length"), QByteArray::number(body.size()));
    responder.writeBody(body);
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
    const bool post = request.method() == QHttpServerRequest::Method::Post;
    const bool get = request.method() == QHttpServerRequest::Method::Get;
    const auto refuse = [&](int status, const QString &type, const QString &message) {
        ++m_counters.invalid;
        QHttpServerResponder responder = makeResponder(request, socket);
        write(responder, status, errorBody(type, message), {});
    };

    Route route;
    if (path == QLatin1String("/v1/chat/completions")) {
        route = Route::ChatCompletions;
    } else if (path == QLatin1String("/v1/messages")) {
        route = Route::Messages;
    } else if (path == QLatin1String("/api/v1/completions")) {
        route = Route::Completions;
    } else if (path == QLatin1String("/health") || path == QLatin1String("/status") ||
               path == QLatin1String("/metrics")) {
        if (!get) {
            refuse(405, QStringLiteral("invalid_request_error"), QStringLiteral("use GET for %1").arg(path));
            return true;
        }
        QHttpServerResponder responder = makeResponder(request, socket);
        if (path == QLatin1String("/metrics")) {
            const QByteArray text = metricsText();
            responder.writeStatusLine(QHttpServerResponder::StatusCode::Ok);
            responder.writeHeader(QByteArrayLiteral("Content-Type"),
                                  QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"));
            responder.writeHeader(QByteArrayLiteral("Content-Length"), QByteArray::number(text.size()));
            responder.writeBody(text);
            return true;
        }
        const MetricsSnapshot s = snapshot();
        json endpoints = json::array();
        bool anyUp = false;
        for (const EndpointStats &e : s.endpoints) {
            const bool usable = isUsable(e.state);
            anyUp = anyUp || usable;
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
        json body;
        int status = 200;
        if (path == QLatin1String("/health")) {
            const bool live = m_running && s.state == RunState::Running;
            body = {{"status", live && anyUp ? "ok" : "unavailable"},
                    {"engine", toString(s.state).toStdString()},
                    {"endpoints", std::move(endpoints)}};
            status = live && anyUp ? 200 : 503;
        } else {
            const GatewayCounters c = counters();
            body = {{"engine", toString(s.state).toStdString()},
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
                    {"callers",
                     {{"accepted", c.accepted},
                      {"answered", c.answered},
                      {"queue_full", c.queueFull},
                      {"invalid", c.invalid},
                      {"deadline_queued", c.deadlineQueued},
                      {"deadline_sent", c.deadlineSent},
                      {"gone_queued", c.goneQueued},
                      {"gone_later", c.goneLater},
                      {"stopped", c.stopped}}},
                    {"endpoints", std::move(endpoints)}};
        }
        write(responder, status, ProviderAdapter::serialize(body), {});
        return true;
    } else {
        refuse(404, QStringLiteral("not_found_error"),
               QStringLiteral("no such route: %1").arg(path.left(200)));
        return true;
    }
    if (!post) {
        refuse(405, QStringLiteral("invalid_request_error"), QStringLiteral("use POST for %1").arg(path));
        return true;
    }
    handleCall(route, request, socket);
    return true;
}

void Gateway::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    ++m_counters.invalid;
    QHttpServerResponder responder = makeResponder(request, socket);
    write(responder, 404, errorBody(QStringLiteral("not_found_error"), QStringLiteral("no such route")), {});
}

void Gateway::handleCall(Route route, const QHttpServerRequest &request, QTcpSocket *socket)
{
    const auto refuse = [&](int status, const QString &message, const Headers &headers = {}) {
        QHttpServerResponder responder = makeResponder(request, socket);
        write(responder, status, errorBody(QStringLiteral("invalid_request_error"), message), headers);
    };
    if (!m_running) {
        ++m_counters.stopped;
        refuse(503, QStringLiteral("the gateway is stopping"));
        return;
    }

    // The caller's deadline and priority.
    double timeoutS = m_options.defaultTimeoutS;
    if (const QByteArray text = header(request, "x-sluice-timeout"); !text.isEmpty()) {
        bool ok = false;
        timeoutS = text.toDouble(&ok);
        if (!ok || !std::isfinite(timeoutS) || timeoutS <= 0) {
            ++m_counters.invalid;
            refuse(400, QStringLiteral("X-Sluice-Timeout must be a positive number of seconds"));
            return;
        }
        timeoutS = std::min(timeoutS, m_options.maxTimeoutS);
    }
    int priority = CallerQueue::DefaultPriority;
    if (const QByteArray text = header(request, "x-sluice-priority"); !text.isEmpty()) {
        bool ok = false;
        priority = text.toInt(&ok);
        if (!ok || priority < CallerQueue::MinPriority || priority > CallerQueue::MaxPriority) {
            ++m_counters.invalid;
            refuse(400, QStringLiteral("X-Sluice-Priority must be an integer from %1 to %2")
                            .arg(CallerQueue::MinPriority)
                            .arg(CallerQueue::MaxPriority));
            return;
        }
    }

    // The body.
    const QByteArray bytes = request.body();
    if (bytes.size() > m_options.maxBodyBytes) {
        ++m_counters.invalid;
        refuse(413, QStringLiteral("the request body is larger than %1 bytes").arg(m_options.maxBodyBytes));
        return;
    }
    if (nesting(bytes) > MaxJsonDepth) {
        ++m_counters.invalid;
        refuse(400, QStringLiteral("the request body nests deeper than %1 levels").arg(MaxJsonDepth));
        return;
    }
    json body = json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
        ++m_counters.invalid;
        refuse(400, QStringLiteral("the request body must be a JSON object"));
        return;
    }
    Request r;
    r.line = m_nextId;
    r.customId = QStringLiteral("gw-%1").arg(m_nextId);
    bool anthropic = route == Route::Messages;
    if (route == Route::Completions) {
        // The Go "LLM Request Balancer" shape: {"provider", "model", "payload"}.
        const auto payload = body.find("payload");
        if (payload == body.end() || !payload->is_object()) {
            ++m_counters.invalid;
            refuse(400, QStringLiteral("\"payload\" must be a JSON object (the request body to send)"));
            return;
        }
        const auto provider = body.find("provider");
        if (provider != body.end() && provider->is_string()) {
            anthropic = provider->get<std::string>() == "anthropic";
        }
        json inner = std::move(*payload);
        const auto model = body.find("model");
        if (model != body.end() && model->is_string() && !model->get<std::string>().empty()) {
            inner["model"] = *model;
        }
        body = std::move(inner);
    }
    const auto stream = body.find("stream");
    if (stream != body.end() && stream->is_boolean() && stream->get<bool>()) {
        ++m_counters.invalid;
        refuse(400, QStringLiteral("streaming (\"stream\": true) is not supported by the gateway"));
        return;
    }
    const auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
        ++m_counters.invalid;
        refuse(400, QStringLiteral("\"messages\" must be an array"));
        return;
    }
    // Kept for endpoints with forward_caller_key only; every other endpoint gets its own key.
    if (const QByteArray bearer = header(request, "Authorization");
        bearer.size() > 7 && bearer.first(7).compare("Bearer ", Qt::CaseInsensitive) == 0) {
        r.callerKey = bearer.mid(7).trimmed();
    } else {
        r.callerKey = header(request, "x-api-key");
    }
    if (anthropic) {
        r.format = InputFormat::AnthropicBatch;
        r.input = json{{"params", std::move(body)}};
    } else {
        r.format = InputFormat::ChatBody;
        r.input = std::move(body);
    }

    if (!m_queue.push(std::move(r), priority)) {
        ++m_counters.queueFull;
        refuse(429,
               QStringLiteral("the gateway queue is full (%1 callers waiting); retry later")
                   .arg(m_queue.capacity()),
               {{QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfterS())}});
        return;
    }
    const qint64 id = m_nextId++;
    ++m_counters.accepted;
    const double now = SteadyClock::instance()->nowMs();
    Caller caller;
    caller.responder = std::make_unique<QHttpServerResponder>(makeResponder(request, socket));
    caller.socket = socket;
    caller.acceptedMs = now;
    caller.deadline = m_deadlines.emplace(now + timeoutS * 1000.0, id);
    caller.goneConnection =
        connect(socket, &QAbstractSocket::disconnected, this, [this, id] { callerLeft(id); });
    m_callers.emplace(id, std::move(caller));
    if (m_deadlines.begin()->second == id) {
        armDeadlineTimer();
    }
}

void Gateway::callerLeft(qint64 id)
{
    const auto it = m_callers.find(id);
    if (it == m_callers.end()) {
        return;
    }
    if (m_queue.forget(id)) {
        ++m_counters.goneQueued;
    } else {
        ++m_counters.goneLater;
    }
    QObject::disconnect(it->second.goneConnection);
    m_deadlines.erase(it->second.deadline);
    m_callers.erase(it); // its responder is dropped unanswered: the socket is gone
}

void Gateway::armDeadlineTimer()
{
    if (m_deadlines.empty()) {
        m_deadlineTimer.stop();
        return;
    }
    const double wait = m_deadlines.begin()->first - SteadyClock::instance()->nowMs();
    m_deadlineTimer.start(int(std::clamp(std::ceil(wait), 0.0, 86400000.0)));
}

void Gateway::expireDeadlines()
{
    const double now = SteadyClock::instance()->nowMs();
    while (!m_deadlines.empty() && m_deadlines.begin()->first <= now) {
        const qint64 id = m_deadlines.begin()->second;
        const auto it = m_callers.find(id);
        if (it == m_callers.end()) {
            m_deadlines.erase(m_deadlines.begin());
            continue;
        }
        const double waitedS = (now - it->second.acceptedMs) / 1000.0;
        const bool queued = m_queue.isWaiting(id);
        QString message;
        if (queued) {
            ++m_counters.deadlineQueued;
            message = QStringLiteral("deadline passed after %1 s in the queue; the request was not sent")
                          .arg(waitedS, 0, 'f', 1);
        } else {
            ++m_counters.deadlineSent;
            message = QStringLiteral("deadline passed after %1 s before an upstream answer")
                          .arg(waitedS, 0, 'f', 1);
        }
        answer(id, 504, errorBody(QStringLiteral("sluice_deadline"), message),
               {{QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfterS())}});
    }
    armDeadlineTimer();
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
    m_queue.forget(id);
    QObject::disconnect(caller.goneConnection);
    if (caller.socket && caller.socket->state() == QAbstractSocket::ConnectedState) {
        write(*caller.responder, status, body, headers);
    }
}

void Gateway::succeeded(const Request &request, const QByteArray &bodyText, const Completion &completion)
{
    if (m_callers.count(request.line) == 0) {
        return; // the caller left or ran out of time; the reply goes nowhere
    }
    ++m_counters.answered;
    Headers headers = {{QByteArrayLiteral("X-Sluice-Endpoint"), completion.endpoint.toUtf8()},
                       {QByteArrayLiteral("X-Sluice-Attempts"), QByteArray::number(completion.attempts)}};
    if (!completion.requestId.isEmpty()) {
        headers.append({QByteArrayLiteral("X-Request-Id"), completion.requestId.toUtf8()});
    }
    const int status = completion.status >= 200 && completion.status < 300 ? completion.status : 200;
    // The upstream's reply as it sent it.
    answer(request.line, status, bodyText, headers);
}

void Gateway::failed(const Request &request, ErrorClass cls, const QString &message,
                     const Completion &completion, const nlohmann::json &body)
{
    if (m_callers.count(request.line) == 0) {
        return;
    }
    ++m_counters.answered;
    const int status = statusFor(cls, completion.status);
    Headers headers = {{QByteArrayLiteral("X-Sluice-Error-Class"), toString(cls).toUtf8()},
                       {QByteArrayLiteral("X-Sluice-Attempts"), QByteArray::number(completion.attempts)}};
    if (!completion.endpoint.isEmpty()) {
        headers.append({QByteArrayLiteral("X-Sluice-Endpoint"), completion.endpoint.toUtf8()});
    }
    if (status == 429 || status == 503) {
        headers.append({QByteArrayLiteral("Retry-After"), QByteArray::number(retryAfterS())});
    }
    // The upstream's own error body when it sent one (an API error object), else ours. `message` is
    // already redacted by the engine.
    // An upstream error body may quote what it was sent: keys are redacted from it too.
    const QByteArray out =
        body.is_object() ? m_engine->redacted(QString::fromUtf8(ProviderAdapter::serialize(body))).toUtf8()
                         : errorBody(QStringLiteral("sluice_") + toString(cls), message);
    answer(request.line, status, out, headers);
}

void Gateway::rejected(const InputError &error)
{
    // The gateway validates bodies before queueing them, so its source never yields invalid items.
    answer(error.line, 400, errorBody(QStringLiteral("invalid_request_error"), error.message), {});
}

} // namespace Sluice
