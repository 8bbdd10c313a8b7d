#include "transportworker.h"

#include "net/connectionsettings.h"
#include "net/provideradapter.h"
#include "net/streamreader.h"
#include "net/streamrelay.h"

#include <QDateTime>
#include <QMutex>
#include <QNetworkAccessManager>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QSslError>

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {
/// Reply bodies above this are not parsed (no LLM reply is this large; a hostile server might be).
constexpr qsizetype MaxParsedBody = 64 * 1024 * 1024;
constexpr int DeadlineSweepMs = 50;
/// Attempts started in one go (see startSlice).
constexpr int StartSlice = 64;
/// Waits before connecting again to an endpoint that refused a connection after answering earlier.
constexpr double FirstReconnectDelayMs = 100;
constexpr double MaxReconnectDelayMs = 1000;
/// How long an attempt keeps connecting again: a restart, not an outage. Longer outages are the
/// engine's business (it ejects the endpoint and probes it back), not something to hold slots for.
constexpr double ReconnectWindowMs = 10000;

/// Hands every QNAM request to ConnectionSettings::proxyFor with the environment read when the transport was
/// made: explicit, and never libproxy's guesses (desktop settings, PAC, WPAD).
class EnvironmentProxyFactory final : public QNetworkProxyFactory
{
public:
    explicit EnvironmentProxyFactory(QProcessEnvironment environment)
        : m_environment(std::move(environment))
    {
    }

    QList<QNetworkProxy> queryProxy(const QNetworkProxyQuery &query) override
    {
        // Asked for every request; the answer depends only on the URL (the environment was read
        // once), and a worker's requests go to a handful of endpoint URLs. Qt asks from the QNAM's
        // thread; the lock costs nothing there and keeps a factory safe to ask from anywhere.
        QMutexLocker lock(&m_mutex);
        const auto known = m_answers.constFind(query.url());
        if (known != m_answers.constEnd()) {
            return *known;
        }
        QList<QNetworkProxy> answer = answerFor(query.url());
        if (m_answers.size() < MaxRemembered) {
            m_answers.insert(query.url(), answer);
        }
        return answer;
    }

private:
    static constexpr qsizetype MaxRemembered = 256;

    QList<QNetworkProxy> answerFor(const QUrl &url) const
    {
        // An unusable setting fails the endpoint's sends before they get here (Transport::send).
        const auto proxy = ConnectionSettings::proxyFor(url, m_environment);
        if (proxy && proxy->type() != QNetworkProxy::NoProxy) {
            return {*proxy};
        }
        if (url.scheme() == QLatin1String("http")) {
            // Going direct over cleartext. Given NoProxy, Qt connects an unbuffered socket and reads
            // each reply's status line and headers with one read() call per byte (about 160 calls for
            // nginx's short headers, a thousand for an API's): that was 40 % of the CPU of an HTTP/1.1
            // run. DefaultProxy gives a buffered socket (one read per segment) and still goes direct:
            // it means the application proxy, and this process never sets one (nothing calls
            // QNetworkProxy::setApplicationProxy or QNetworkProxyFactory::setUseSystemConfiguration).
            return {QNetworkProxy(QNetworkProxy::DefaultProxy)};
        }
        return {QNetworkProxy(QNetworkProxy::NoProxy)};
    }

    QProcessEnvironment m_environment;
    QMutex m_mutex;
    QHash<QUrl, QList<QNetworkProxy>> m_answers;
};

/// Same scheme, host and port (default ports filled in).
bool sameOrigin(const QUrl &a, const QUrl &b)
{
    const auto defaultPort = [](const QUrl &url) {
        return url.scheme() == QLatin1String("https") ? 443 : url.scheme() == QLatin1String("http") ? 80 : -1;
    };
    return a.scheme() == b.scheme() && a.host().compare(b.host(), Qt::CaseInsensitive) == 0 &&
           a.port(defaultPort(a)) == b.port(defaultPort(b));
}

/// x-request-id (OpenAI and most) first, else request-id (Anthropic); at most 200 characters.
QString requestIdOf(const QList<QNetworkReply::RawHeaderPair> &headers)
{
    QByteArray requestId;
    for (const QNetworkReply::RawHeaderPair &header : headers) {
        if (header.first.compare(QByteArrayLiteral("x-request-id"), Qt::CaseInsensitive) == 0) {
            requestId = header.second;
            break;
        }
        if (requestId.isEmpty() &&
            header.first.compare(QByteArrayLiteral("request-id"), Qt::CaseInsensitive) == 0) {
            requestId = header.second;
        }
    }
    return QString::fromLatin1(requestId.left(200));
}

QNetworkRequest requestTemplate(const WorkerEndpoint &e)
{
    QNetworkRequest request = ProviderAdapter::makeRequest(e.config, e.apiKey);
    if (e.config.url.scheme() == QLatin1String("https")) {
        request.setSslConfiguration(e.tls);
    }
    switch (e.config.protocol) {
    case HttpProtocol::Http1:
        request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
        break;
    case HttpProtocol::H2c:
        request.setAttribute(QNetworkRequest::Http2DirectAttribute, true);
        break;
    case HttpProtocol::H2:
        request.setAttribute(QNetworkRequest::Http2AllowedAttribute, true);
        break;
    case HttpProtocol::Auto:
        break;
    }
    return request;
}

} // namespace

TransportWorker::TransportWorker(const Clock *clock, QProcessEnvironment environment,
                                 Mailbox<SendOrder> *inbox, Mailbox<AttemptResult> *outbox,
                                 std::function<void()> wakeOwner, std::atomic<bool> *answered)
    : m_clock(clock)
    , m_environment(std::move(environment))
    , m_inbox(inbox)
    , m_outbox(outbox)
    , m_wakeOwner(std::move(wakeOwner))
    , m_answered(answered)
    , m_deadlineTimer(this) // a child: it moves to the worker's thread with it
{
    m_deadlineTimer.setInterval(DeadlineSweepMs);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &TransportWorker::sweepDeadlines);
}

TransportWorker::~TransportWorker()
{
    shutdown();
}

void TransportWorker::shutdown()
{
    m_reporting = false;
    m_reconnecting.clear();
    m_waiting.clear();
    const QList<QNetworkAccessManager *> nams = findChildren<QNetworkAccessManager *>();
    for (QNetworkAccessManager *nam : nams) {
        nam->disconnect(this);
    }
    const auto replies = m_replies.keys();
    m_replies.clear();
    for (QNetworkReply *reply : replies) {
        reply->abort();
        delete reply;
    }
    for (Endpoint &e : m_endpoints) {
        e.lanes.clear();
    }
    qDeleteAll(nams);
    m_cleartextNam = nullptr;
    m_streaming.clear();
    m_deadlineTimer.stop();
    m_deadlines = {};
}

void TransportWorker::setEndpoints(const std::vector<WorkerEndpoint> &endpoints)
{
    m_endpoints.clear();
    m_endpoints.reserve(endpoints.size());
    for (const WorkerEndpoint &setup : endpoints) {
        m_endpoints.push_back(Endpoint{setup, requestTemplate(setup), {}});
    }
}

void TransportWorker::takeOrders()
{
    for (SendOrder &order : m_inbox->takeAll()) {
        m_waiting.push_back(std::move(order));
    }
    startSlice();
}

void TransportWorker::startSlice()
{
    // Each start posts events to this thread, and Qt moves each request's HTTP delegate to its own
    // thread, scanning all of this thread's posted events on every move: n starts in one go cost n²
    // scans (7 % of all CPU with 10,000 in flight). A slice at a time, the next one queued behind the
    // events of this one, keeps the list short.
    for (int started = 0; started < StartSlice && !m_waiting.empty(); ++started) {
        Pending p;
        p.order = std::move(m_waiting.front());
        m_waiting.pop_front();
        startReply(std::move(p));
    }
    if (!m_waiting.empty() && !m_sliceQueued) {
        m_sliceQueued = true;
        QMetaObject::invokeMethod(
            this,
            [this] {
                m_sliceQueued = false;
                startSlice();
            },
            Qt::QueuedConnection);
    }
}

int TransportWorker::pickLane(Endpoint &endpoint, int laneLimit)
{
    // The least-loaded lane with room, else a new lane while under the limit: requests spread over
    // connections before any connection takes a second one.
    const int perLane = endpoint.setup.requestsPerLane;
    int best = -1;
    for (std::size_t i = 0; i < endpoint.lanes.size(); ++i) {
        const Lane &lane = endpoint.lanes[i];
        if (lane.inFlight < perLane &&
            (best < 0 || lane.inFlight < endpoint.lanes[std::size_t(best)].inFlight)) {
            best = int(i);
        }
    }
    // A lane beyond the limit only when every lane is full: the Transport hands this worker at most
    // laneLimit × perLane attempts, so that happens only while the limit is being lowered.
    if ((best < 0 ||
         (endpoint.lanes[std::size_t(best)].inFlight > 0 && int(endpoint.lanes.size()) < laneLimit))) {
        Lane lane;
        lane.request = endpoint.request;
        if (endpoint.setup.config.url.scheme() == QLatin1String("https")) {
            lane.nam = makeNam();
        } else {
            if (!m_cleartextNam) {
                m_cleartextNam = makeNam();
            }
            lane.nam = m_cleartextNam;
            lane.request.setPeerVerifyName(QStringLiteral("sluice-lane-%1").arg(++m_lanesMade));
        }
        endpoint.lanes.push_back(lane);
        best = int(endpoint.lanes.size()) - 1;
    }
    return best;
}

QNetworkAccessManager *TransportWorker::makeNam()
{
    auto *nam = new QNetworkAccessManager(this);
    nam->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
    nam->setAutoDeleteReplies(false);
    nam->setProxyFactory(new EnvironmentProxyFactory(m_environment)); // owned by the QNAM
    // Connected once per QNAM, not twice per reply: connecting and disconnecting per request showed
    // up in profiles. The QNAM signals are emitted from each reply's own.
    connect(nam, &QNetworkAccessManager::finished, this, &TransportWorker::handleFinished);
    // Without ignoreSslErrors() Qt aborts the handshake after this; we only keep the reasons.
    connect(nam, &QNetworkAccessManager::sslErrors, this,
            [this](QNetworkReply *reply, const QList<QSslError> &errors) {
                const auto it = m_replies.find(reply);
                if (it == m_replies.end()) {
                    return;
                }
                for (const QSslError &error : errors) {
                    if (!it->tlsErrors.contains(error.errorString())) {
                        it->tlsErrors.append(error.errorString());
                    }
                }
            });
    return nam;
}

void TransportWorker::startReply(Pending p)
{
    Endpoint &e = m_endpoints.at(std::size_t(p.order.endpoint));
    const int laneIndex = pickLane(e, p.order.laneLimit);
    Lane &lane = e.lanes[std::size_t(laneIndex)];

    // No Qt transfer timeout: the deadline sweep ends every attempt (naming its cause), and each
    // such timeout is a QTimer per reply, which Qt scans on every move of an object between its
    // threads: with thousands of requests in flight that scan was the top cost in profiles.
    QNetworkReply *reply = nullptr;
    if (p.order.apiKey.isEmpty() && p.order.headers.isEmpty()) {
        reply = lane.nam->post(lane.request, p.order.body);
    } else {
        QNetworkRequest request = lane.request;
        for (const auto &[name, value] : std::as_const(p.order.headers)) {
            // Extra headers never replace what the template sets (auth, content type, version).
            if (!request.hasRawHeader(name)) {
                request.setRawHeader(name, value);
            }
        }
        if (!p.order.apiKey.isEmpty()) {
            ProviderAdapter::setApiKey(request, e.setup.config, p.order.apiKey);
        }
        reply = lane.nam->post(request, p.order.body);
    }

    p.lane = laneIndex;
    if (p.order.stream) {
        // Read as it arrives (one connection per streamed reply; unstreamed replies are read whole
        // when they finish) and watched for stalls.
        p.lastByteMs = m_clock->nowMs();
        p.headChecked = false;
        p.stream.reset();
        m_streaming.insert(reply);
        connect(reply, &QNetworkReply::readyRead, this, [this, reply] { handleReadyRead(reply); });
        if (p.order.relay) {
            p.order.relay->beginAttempt(p.order.endpoint);
        }
    }
    m_deadlines.push(Deadline{p.order.startMs + p.order.deadlineMs, reply, p.order.ticket});
    m_replies.insert(reply, std::move(p));
    ++lane.inFlight;
    if (!m_deadlineTimer.isActive()) {
        m_deadlineTimer.start();
    }
}

void TransportWorker::handleReadyRead(QNetworkReply *reply)
{
    const auto it = m_replies.find(reply);
    if (it == m_replies.end()) {
        return;
    }
    Pending &p = *it;
    const double now = m_clock->nowMs();
    p.lastByteMs = now;
    if (!p.headChecked) {
        p.headChecked = true;
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray type = reply->rawHeader(QByteArrayLiteral("Content-Type")).trimmed().toLower();
        // A server that ignored "stream" (a JSON reply) or answered an error is read whole, as usual.
        if (status >= 200 && status < 300 && type.startsWith("text/event-stream")) {
            const Endpoint &e = m_endpoints.at(std::size_t(p.order.endpoint));
            p.stream = std::make_shared<StreamReader>(e.setup.config.provider, p.order.relay, p.order.startMs,
                                                      QDateTime::currentSecsSinceEpoch());
            if (p.order.relay) {
                p.order.relay->setRequestId(requestIdOf(reply->rawHeaderPairs()));
            }
        }
    }
    if (p.stream) {
        p.stream->read(reply->readAll(), now);
    }
}

void TransportWorker::sweepStalls(double nowMs)
{
    std::vector<QNetworkReply *> stalled;
    for (QNetworkReply *reply : m_streaming) {
        const auto it = m_replies.find(reply);
        if (it != m_replies.end() && nowMs - it->lastByteMs > it->order.stallMs) {
            stalled.push_back(reply);
        }
    }
    for (QNetworkReply *reply : stalled) {
        const auto it = m_replies.find(reply);
        if (it != m_replies.end()) {
            it->stalled = true;
            reply->abort(); // finishes the reply; handleFinished reports the stall
        }
    }
}

void TransportWorker::sweepDeadlines()
{
    const double now = m_clock->nowMs();
    if (!m_streaming.empty()) {
        sweepStalls(now);
    }
    while (!m_deadlines.empty()) {
        const Deadline d = m_deadlines.top();
        const auto it = m_replies.find(d.reply);
        const bool live = it != m_replies.end() && it->order.ticket == d.ticket;
        if (live && d.atMs > now) {
            break;
        }
        m_deadlines.pop();
        if (live) {
            it->timedOut = true;
            d.reply->abort(); // finishes the reply; handleFinished reports the timeout
        }
    }
    // Reconnects that are due (each was scheduled to start before its attempt's deadline).
    std::vector<Reconnect> waiting;
    waiting.swap(m_reconnecting);
    for (Reconnect &w : waiting) {
        if (now >= w.pending.order.startMs + w.pending.order.deadlineMs) {
            reportUnsent(w.pending, false); // out of time
        } else if (w.atMs > now) {
            m_reconnecting.push_back(std::move(w));
        } else {
            startReply(std::move(w.pending));
        }
    }
    stopTimerWhenIdle();
}

void TransportWorker::stopTimerWhenIdle()
{
    if (m_replies.isEmpty() && m_reconnecting.empty()) {
        m_deadlineTimer.stop();
        m_deadlines = {};
    }
}

void TransportWorker::abortAll()
{
    for (SendOrder &order : m_inbox->takeAll()) {
        m_waiting.push_back(std::move(order));
    }
    for (SendOrder &order : m_waiting) {
        Pending p;
        p.order = std::move(order);
        reportUnsent(p, true);
    }
    m_waiting.clear();
    std::vector<Reconnect> waiting;
    waiting.swap(m_reconnecting);
    for (const Reconnect &w : waiting) {
        reportUnsent(w.pending, true);
    }
    const auto replies = m_replies.keys();
    for (QNetworkReply *reply : replies) {
        const auto it = m_replies.find(reply);
        if (it != m_replies.end()) {
            it->cancelled = true;
            reply->abort();
        }
    }
    stopTimerWhenIdle();
}

void TransportWorker::cancel(quint64 ticket)
{
    for (SendOrder &order : m_inbox->takeAll()) {
        m_waiting.push_back(std::move(order));
    }
    for (auto it = m_waiting.begin(); it != m_waiting.end(); ++it) {
        if (it->ticket == ticket) {
            Pending p;
            p.order = std::move(*it);
            m_waiting.erase(it);
            reportUnsent(p, true);
            return;
        }
    }
    for (auto it = m_reconnecting.begin(); it != m_reconnecting.end(); ++it) {
        if (it->pending.order.ticket == ticket) {
            const Pending p = std::move(it->pending);
            m_reconnecting.erase(it);
            reportUnsent(p, true);
            stopTimerWhenIdle();
            return;
        }
    }
    for (auto it = m_replies.begin(); it != m_replies.end(); ++it) {
        if (it->order.ticket == ticket) {
            it->cancelled = true;
            it.key()->abort(); // finishes the reply: handleFinished reports it
            return;
        }
    }
}

void TransportWorker::report(AttemptResult &&result)
{
    if (m_reporting && m_outbox->put(std::move(result))) {
        m_wakeOwner();
    }
}

void TransportWorker::reportUnsent(const Pending &p, bool cancelled)
{
    AttemptResult result;
    result.ticket = p.order.ticket;
    result.endpoint = p.order.endpoint;
    result.latencyMs = m_clock->nowMs() - p.order.startMs;
    result.report.cancelled = cancelled;
    result.report.timedOut = !cancelled;
    result.report.deadlineMs = p.order.deadlineMs;
    result.report.reconnects = p.reconnects;
    result.report.networkError = QNetworkReply::OperationCanceledError;
    report(std::move(result));
}

void TransportWorker::handleFinished(QNetworkReply *reply)
{
    const auto it = m_replies.find(reply);
    if (it == m_replies.end()) {
        return;
    }
    Pending p = std::move(*it);
    m_replies.erase(it);
    reply->deleteLater();
    if (p.order.stream) {
        m_streaming.erase(reply);
    }

    Endpoint &e = m_endpoints.at(std::size_t(p.order.endpoint));
    --e.lanes.at(std::size_t(p.lane)).inFlight;
    const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    std::atomic<bool> &answered = m_answered[p.order.endpoint];
    if (status.isValid()) {
        answered.store(true, std::memory_order_relaxed);
    }
    if (reply->error() == QNetworkReply::ConnectionRefusedError && !status.isValid() &&
        answered.load(std::memory_order_relaxed) && reconnectLater(p)) {
        return;
    }

    AttemptResult result;
    result.ticket = p.order.ticket;
    result.endpoint = p.order.endpoint;
    result.latencyMs = m_clock->nowMs() - p.order.startMs;

    AttemptReport &r = result.report;
    r.cancelled = p.cancelled;
    r.timedOut = p.timedOut;
    r.deadlineMs = p.order.deadlineMs;
    r.tlsErrors = p.tlsErrors;
    r.reconnects = p.reconnects;
    r.networkError = reply->error();
    if (r.networkError != QNetworkReply::NoError) {
        r.networkErrorString = reply->errorString();
    }
    r.httpStatus = status.isValid() ? status.toInt() : 0;
    result.http2 = reply->attribute(QNetworkRequest::Http2WasUsedAttribute).toBool();

    if (p.stream) {
        finishStream(p, reply, result);
    } else if (r.httpStatus != 0 && !p.cancelled && !p.timedOut) {
        readWholeBody(reply, e.setup.config.provider, result);
    }
    if (p.stalled && !p.stream) {
        r.streamFailure = StreamFailure::Stalled; // before an event stream began
        r.stallMs = p.order.stallMs;
    }
    if (r.httpStatus != 0 && !p.cancelled && !p.timedOut) {
        readReplyHeaders(reply, result);
    }
    stopTimerWhenIdle();
    report(std::move(result));
}

bool TransportWorker::reconnectLater(Pending &p)
{
    // The server answered earlier and now refuses connections: it is restarting. The request never
    // left, so connecting again is not a retry; the attempt keeps its slot (back-pressure: no fresh
    // requests burn against a closed port) until it connects, its deadline is near or the window for a
    // restart has passed.
    if (p.cancelled || p.timedOut) {
        return false;
    }
    const double now = m_clock->nowMs();
    const double firstRefusedMs = p.reconnects == 0 ? now : p.firstRefusedMs;
    const double delay = std::min(MaxReconnectDelayMs, FirstReconnectDelayMs * std::pow(2.0, p.reconnects));
    if (now + delay >= std::min(p.order.startMs + p.order.deadlineMs, firstRefusedMs + ReconnectWindowMs)) {
        return false;
    }
    ++p.reconnects;
    p.firstRefusedMs = firstRefusedMs;
    p.tlsErrors.clear();
    p.timedOut = false;
    m_reconnecting.push_back(Reconnect{now + delay, std::move(p)});
    return true;
}

void TransportWorker::readWholeBody(QNetworkReply *reply, Provider provider, AttemptResult &result)
{
    AttemptReport &r = result.report;
    const QByteArray bytes = reply->readAll();
    const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
    r.bodyComplete = (length.isValid() ? length.toLongLong() == bytes.size() : true) &&
                     (r.networkError == QNetworkReply::NoError || r.httpStatus >= 400);
    if (bytes.size() <= MaxParsedBody) {
        if (r.httpStatus >= 200 && r.httpStatus < 300) {
            // A success needs one JSON object and its usage; its text goes on as it is.
            if (const auto usage = ProviderAdapter::scanReply(bytes, provider)) {
                r.bodyIsJson = true;
                result.usage = *usage;
            }
        } else {
            result.body =
                nlohmann::json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
            r.bodyIsJson = !result.body.is_discarded() && result.body.is_object();
        }
    }
    result.bodyText = bytes;
    if (r.bodyIsJson && r.httpStatus >= 300) {
        Classifier::readApiError(result.body, r);
    }
}

void TransportWorker::finishStream(Pending &p, QNetworkReply *reply, AttemptResult &result)
{
    if (!p.cancelled && !p.timedOut && !p.stalled) {
        p.stream->read(reply->readAll(), m_clock->nowMs());
    }
    result.report.stallMs = p.order.stallMs;
    p.stream->finish(result, p.stalled);
}

void TransportWorker::readReplyHeaders(QNetworkReply *reply, AttemptResult &result)
{
    AttemptReport &r = result.report;
    const QList<QNetworkReply::RawHeaderPair> &headers = reply->rawHeaderPairs();
    result.rateLimit = RateLimitHeaders::parse(headers);
    result.requestId = requestIdOf(headers);
    if (r.httpStatus >= 300 && r.httpStatus < 400) {
        // Only the origin is named: a Location may carry tokens in its path or query.
        const QUrl location = reply->attribute(QNetworkRequest::RedirectionTargetAttribute).toUrl();
        if (!location.isEmpty()) {
            const QUrl target = reply->url().resolved(location);
            r.redirectTarget = originOf(target);
            r.redirectCrossOrigin = !sameOrigin(target, reply->url());
        }
    }
}

} // namespace Sluice
