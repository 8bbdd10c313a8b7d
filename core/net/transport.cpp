#include "transport.h"

#include "net/provideradapter.h"

#include <QDateTime>
#include <QLoggingCategory>
#include <QNetworkAccessManager>
#include <QNetworkReply>

#include <algorithm>
#include <cmath>

namespace Sluice {

Q_LOGGING_CATEGORY(lcNet, "sluice.net")

namespace {
/// Reply bodies above this are not parsed (no LLM reply is this large; a hostile server might be).
constexpr qsizetype MaxParsedBody = 64 * 1024 * 1024;
constexpr int DeadlineSweepMs = 50;
} // namespace

Transport::Transport(const Clock *clock, QObject *parent)
    : QObject(parent)
        , m_clock(clock)
    , m_deadlineTimer(this) // a child, so it moves with the transport to the engine's thread
{
    m_deadlineTimer.setInterval(DeadlineSweepMs);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &Transport::sweepDeadlines);
}

Transport::~Transport()
{
    // Replies are children of their QNAM; make sure none reports into a half-destroyed engine.
    m_handler = nullptr;
    const auto replies = m_replies.keys();
    for (QNetworkReply *reply : replies) {
        reply->disconnect(this);
        reply->abort();
    }
}

void Transport::setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys)
{
    Q_ASSERT(m_replies.isEmpty());
    m_endpoints.clear();
    m_endpoints.resize(std::size_t(endpoints.size()));
    for (qsizetype i = 0; i < endpoints.size(); ++i) {
        m_endpoints[std::size_t(i)].config = endpoints.at(i);
        m_endpoints[std::size_t(i)].apiKey = apiKeys.value(i);
    }
}

void Transport::setMaxInFlight(int endpoint, int maxInFlight)
{
    m_endpoints.at(std::size_t(endpoint)).config.maxInFlight = std::max(1, maxInFlight);
}

int Transport::laneLimit(const Endpoint &endpoint)
{
    return (endpoint.config.maxInFlight + Http1ConnectionsPerLane - 1) / Http1ConnectionsPerLane;
}

bool Transport::hasCapacity(int endpoint) const
{
    const Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    return e.inFlight < e.config.maxInFlight;
}

int Transport::inFlight(int endpoint) const
{
    return m_endpoints.at(std::size_t(endpoint)).inFlight;
}

int Transport::pickLane(Endpoint &endpoint)
{
    // The least-loaded existing lane with a free connection, else a new lane while under the limit.
    int best = -1;
    for (std::size_t i = 0; i < endpoint.lanes.size(); ++i) {
        const Lane &lane = endpoint.lanes[i];
        if (lane.inFlight < Http1ConnectionsPerLane &&
            (best < 0 || lane.inFlight < endpoint.lanes[std::size_t(best)].inFlight)) {
            best = int(i);
        }
    }
    if ((best < 0 || endpoint.lanes[std::size_t(best)].inFlight > 0) &&
        int(endpoint.lanes.size()) < laneLimit(endpoint)) {
        Lane lane;
        lane.nam = new QNetworkAccessManager(this);
        lane.nam->setRedirectPolicy(QNetworkRequest::ManualRedirectPolicy);
        lane.nam->setAutoDeleteReplies(false);
        endpoint.lanes.push_back(lane);
        best = int(endpoint.lanes.size()) - 1;
    }
    return best;
}

quint64 Transport::send(int endpoint, const QByteArray &body)
{
    Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    const int laneIndex = pickLane(e);
    Q_ASSERT(laneIndex >= 0); // callers check hasCapacity()
    Lane &lane = e.lanes[std::size_t(laneIndex)];

    QNetworkRequest request = ProviderAdapter::makeRequest(e.config, e.apiKey);
    const int timeoutMs = int(std::min(e.config.timeoutS * 1000.0, 2.0e9));
    request.setTransferTimeout(timeoutMs);
    QNetworkReply *reply = lane.nam->post(request, body);

    Pending p;
    p.ticket = m_nextTicket++;
    p.endpoint = endpoint;
    p.lane = laneIndex;
    p.startMs = m_clock->nowMs();
    m_replies.insert(reply, p);
    m_deadlines.push_back(Deadline{p.startMs + double(timeoutMs), reply, p.ticket});
    ++lane.inFlight;
    ++e.inFlight;
    if (!m_deadlineTimer.isActive()) {
        m_deadlineTimer.start();
    }
    connect(reply, &QNetworkReply::finished, this, [this, reply] { handleFinished(reply); });
    return p.ticket;
}

void Transport::sweepDeadlines()
{
    const double now = m_clock->nowMs();
    while (!m_deadlines.empty()) {
        const Deadline d = m_deadlines.front();
        const auto it = m_replies.find(d.reply);
        const bool live = it != m_replies.end() && it->ticket == d.ticket;
        if (live && d.atMs > now) {
            break;
        }
        m_deadlines.pop_front();
        if (live) {
            it->timedOut = true;
            d.reply->abort(); // finishes the reply; handleFinished reports the timeout
        }
    }
    if (m_replies.isEmpty()) {
        m_deadlineTimer.stop();
    }
}

void Transport::abortAll()
{
    const auto replies = m_replies.keys();
    for (QNetworkReply *reply : replies) {
        const auto it = m_replies.find(reply);
        if (it != m_replies.end()) {
            it->cancelled = true;
            reply->abort();
        }
    }
}

void Transport::handleFinished(QNetworkReply *reply)
{
    const auto it = m_replies.find(reply);
    if (it == m_replies.end()) {
        return;
    }
    const Pending p = *it;
    m_replies.erase(it);
    reply->deleteLater();

    Endpoint &e = m_endpoints.at(std::size_t(p.endpoint));
    --e.inFlight;
    --e.lanes.at(std::size_t(p.lane)).inFlight;

    AttemptResult result;
    result.ticket = p.ticket;
    result.endpoint = p.endpoint;
    result.latencyMs = m_clock->nowMs() - p.startMs;

    AttemptReport &r = result.report;
    r.cancelled = p.cancelled;
    r.timedOut = p.timedOut;
    r.networkError = reply->error();
    if (r.networkError != QNetworkReply::NoError) {
        r.networkErrorString = reply->errorString();
    }
    const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    r.httpStatus = status.isValid() ? status.toInt() : 0;

    if (r.httpStatus != 0 && !p.cancelled && !p.timedOut) {
        const QByteArray bytes = reply->readAll();
        const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
        r.bodyComplete = (length.isValid() ? length.toLongLong() == bytes.size() : true) &&
                         (r.networkError == QNetworkReply::NoError || r.httpStatus >= 400);
        if (bytes.size() <= MaxParsedBody) {
            result.body =
                nlohmann::json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
        }
        r.bodyIsJson = !result.body.is_discarded() && result.body.is_object();
        if (r.bodyIsJson && r.httpStatus >= 300) {
            Classifier::readApiError(result.body, r);
        }
        result.rateLimit =
            RateLimitHeaders::parse([reply](const QByteArray &name) { return reply->rawHeader(name); },
                                    QDateTime::currentDateTimeUtc());
        QByteArray requestId = reply->rawHeader(QByteArrayLiteral("x-request-id"));
        if (requestId.isEmpty()) {
            requestId = reply->rawHeader(QByteArrayLiteral("request-id"));
        }
        result.requestId = QString::fromLatin1(requestId.left(200));
        if (r.httpStatus >= 300 && r.httpStatus < 400) {
            // Only the origin is named: a Location may carry tokens in its query.
            const QUrl target = reply->attribute(QNetworkRequest::RedirectionTargetAttribute).toUrl();
            r.redirectTarget =
                target.adjusted(QUrl::RemovePath | QUrl::RemoveQuery | QUrl::RemoveUserInfo).toString();
        }
    }
    if (m_replies.isEmpty()) {
        m_deadlineTimer.stop();
    }
    if (m_handler) {
        m_handler(std::move(result));
    }
}

} // namespace Sluice
