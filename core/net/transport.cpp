#include "transport.h"

#include "net/provideradapter.h"

#include <QDateTime>
#include <QHostAddress>
#include <QLoggingCategory>
#include <QNetworkAccessManager>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QSslCertificate>
#include <QSslError>

#include <algorithm>
#include <array>
#include <cmath>

namespace Sluice {

Q_LOGGING_CATEGORY(lcNet, "sluice.net")

namespace {
/// Reply bodies above this are not parsed (no LLM reply is this large; a hostile server might be).
constexpr qsizetype MaxParsedBody = 64 * 1024 * 1024;
constexpr int DeadlineSweepMs = 50;
/// Qt's idle transfer timeout is set this much after the total deadline: a backstop, so that the
/// deadline (which names its cause precisely) is what ends a stalled attempt.
constexpr int IdleBackstopMs = 1000;
/// Waits before connecting again to an endpoint that refused a connection after answering earlier.
constexpr double FirstReconnectDelayMs = 100;
constexpr double MaxReconnectDelayMs = 1000;
/// How long an attempt keeps connecting again: a restart, not an outage. Longer outages are the
/// engine's business (it ejects the endpoint and probes it back), not something to hold slots for.
constexpr double ReconnectWindowMs = 10000;

bool isLoopbackHost(const QString &host)
{
    const QString h = host.toLower();
    if (h == QLatin1String("localhost") || h.endsWith(QLatin1String(".localhost"))) {
        return true;
    }
    const QHostAddress address(h);
    return !address.isNull() && address.isLoopback();
}

/// Whether `host` is excluded from proxying by a no_proxy list.
bool matchesNoProxy(const QString &host, const QString &noProxy)
{
    const QString h = host.toLower();
    const QStringList entries = noProxy.split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (QString entry : entries) {
        entry = entry.trimmed().toLower();
        if (entry == QLatin1String("*")) {
            return true;
        }
        // A port suffix ("example.com:8080", "[::1]:80") is ignored; bare IPv6 addresses are kept.
        if (entry.startsWith(QLatin1Char('['))) {
            entry = entry.mid(1, entry.indexOf(QLatin1Char(']')) - 1);
        } else if (entry.count(QLatin1Char(':')) == 1) {
            entry.truncate(entry.indexOf(QLatin1Char(':')));
        }
        while (entry.startsWith(QLatin1Char('.')) || entry.startsWith(QLatin1Char('*'))) {
            entry.remove(0, 1);
        }
        if (entry.isEmpty()) {
            continue;
        }
        if (h == entry || h.endsWith(QLatin1Char('.') + entry)) {
            return true;
        }
    }
    return false;
}

QString environmentValue(const QProcessEnvironment &environment, const char *lower, const char *upper)
{
    QString value = environment.value(QString::fromLatin1(lower));
    if (value.isEmpty() && upper) {
        value = environment.value(QString::fromLatin1(upper));
    }
    return value.trimmed();
}

/// Hands every QNAM request to Transport::proxyFor with the environment read when the transport was
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
        // An unusable setting fails the endpoint's sends before they get here (Transport::send).
        const auto proxy = Transport::proxyFor(query.url(), m_environment);
        return {proxy ? *proxy : QNetworkProxy(QNetworkProxy::NoProxy)};
    }

private:
    QProcessEnvironment m_environment;
};

QString originOf(const QUrl &url)
{
    return url.adjusted(QUrl::RemovePath | QUrl::RemoveQuery | QUrl::RemoveFragment | QUrl::RemoveUserInfo)
        .toString();
}

/// Same scheme, host and port (default ports filled in).
bool sameOrigin(const QUrl &a, const QUrl &b)
{
    const auto defaultPort = [](const QUrl &url) {
        return url.scheme() == QLatin1String("https") ? 443 : url.scheme() == QLatin1String("http") ? 80 : -1;
    };
    return a.scheme() == b.scheme() && a.host().compare(b.host(), Qt::CaseInsensitive) == 0 &&
           a.port(defaultPort(a)) == b.port(defaultPort(b));
}

} // namespace

Transport::Transport(const Clock *clock, QObject *parent)
    : QObject(parent)
    , m_clock(clock)
    , m_environment(QProcessEnvironment::systemEnvironment())
    , m_deadlineTimer(this) // a child, so it moves with the transport to the engine's thread
{
    m_deadlineTimer.setInterval(DeadlineSweepMs);
    connect(&m_deadlineTimer, &QTimer::timeout, this, &Transport::sweepDeadlines);
}

Result<QNetworkProxy> Transport::proxyFor(const QUrl &url, const QProcessEnvironment &environment)
{
    const QString host = url.host();
    if (host.isEmpty() || isLoopbackHost(host) ||
        matchesNoProxy(host, environmentValue(environment, "no_proxy", "NO_PROXY"))) {
        return QNetworkProxy(QNetworkProxy::NoProxy);
    }
    // http_proxy is read in lower case only: HTTP_PROXY can be set by a request header in CGI
    // ("httpoxy"); curl does the same.
    const bool https = url.scheme() == QLatin1String("https");
    static constexpr std::array<const char *, 4> httpsNames = {"https_proxy", "HTTPS_PROXY", "all_proxy",
                                                               "ALL_PROXY"};
    static constexpr std::array<const char *, 4> httpNames = {"http_proxy", "all_proxy", "ALL_PROXY",
                                                              nullptr};
    QString name;
    QString setting;
    for (const char *candidate : https ? httpsNames : httpNames) {
        if (!candidate) {
            break;
        }
        setting = environment.value(QString::fromLatin1(candidate)).trimmed();
        if (!setting.isEmpty()) {
            name = QString::fromLatin1(candidate);
            break;
        }
    }
    if (setting.isEmpty()) {
        return QNetworkProxy(QNetworkProxy::NoProxy);
    }
    if (!setting.contains(QLatin1String("://"))) {
        setting.prepend(QLatin1String("http://"));
    }
    const QUrl proxyUrl(setting, QUrl::StrictMode);
    if (!proxyUrl.isValid() || proxyUrl.host().isEmpty()) {
        // Never the value itself: it may hold a password.
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("proxy: %1 is not a proxy URL (http://host:port or socks5://host:port)")
                         .arg(name)};
    }
    const QString scheme = proxyUrl.scheme().toLower();
    QNetworkProxy proxy;
    if (scheme == QLatin1String("http")) {
        proxy = QNetworkProxy(QNetworkProxy::HttpProxy, proxyUrl.host(), quint16(proxyUrl.port(80)));
    } else if (scheme == QLatin1String("socks5") || scheme == QLatin1String("socks5h")) {
        proxy = QNetworkProxy(QNetworkProxy::Socks5Proxy, proxyUrl.host(), quint16(proxyUrl.port(1080)));
    } else {
        return Error{Error::Code::InvalidConfig,
                     QStringLiteral("proxy: %1=%2 cannot be used: only http:// and socks5:// proxies are "
                                    "supported (no_proxy can exempt a host)")
                         .arg(name, originOf(proxyUrl))};
    }
    proxy.setUser(proxyUrl.userName(QUrl::FullyDecoded));
    proxy.setPassword(proxyUrl.password(QUrl::FullyDecoded));
    return proxy;
}

Result<QSslConfiguration> Transport::tlsConfiguration(const EndpointConfig &endpoint)
{
    QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
    if (!endpoint.caFile.isEmpty()) {
        const QList<QSslCertificate> cas = QSslCertificate::fromPath(endpoint.caFile, QSsl::Pem);
        if (cas.isEmpty()) {
            return Error{Error::Code::Io, QStringLiteral("%1: no PEM certificate could be read (ca_file of "
                                                         "endpoint \"%2\")")
                                              .arg(endpoint.caFile, endpoint.name)};
        }
        tls.setCaCertificates(cas); // only these, like curl --cacert
    }
    if (endpoint.tlsInsecure) {
        tls.setPeerVerifyMode(QSslSocket::VerifyNone);
    }
    return tls;
}

Transport::~Transport()
{
    // Replies are children of their QNAM; make sure none reports into a half-destroyed engine.
    m_handler = nullptr;
    m_reconnecting.clear();
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
        Endpoint &e = m_endpoints[std::size_t(i)];
        e.config = endpoints.at(i);
        e.apiKey = apiKeys.value(i);
        if (const auto proxy = proxyFor(e.config.url, m_environment); !proxy) {
            // Going direct instead could bypass a proxy the network requires: fail loudly.
            e.setupError = proxy.error().message;
            qCCritical(lcNet).noquote()
                << QStringLiteral("endpoint \"%1\": %2").arg(e.config.name, e.setupError);
        }
        if (e.config.url.scheme() != QLatin1String("https")) {
            continue;
        }
        auto tls = tlsConfiguration(e.config);
        if (tls) {
            e.tls = *tls;
        } else {
            // Checked when the project was loaded; the file went away since. Trust nothing rather
            // than fall back to the system's CAs: every attempt fails with a TLS error.
            qCCritical(lcNet).noquote() << tls.error().message;
            e.tls = QSslConfiguration::defaultConfiguration();
            e.tls.setCaCertificates({});
        }
        if (e.config.tlsInsecure) {
            qCWarning(lcNet).noquote()
                << QStringLiteral("endpoint \"%1\": TLS certificates are not verified (tls_insecure)")
                       .arg(e.config.name);
        }
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
        lane.nam->setProxyFactory(new EnvironmentProxyFactory(m_environment)); // owned by the QNAM
        endpoint.lanes.push_back(lane);
        best = int(endpoint.lanes.size()) - 1;
    }
    return best;
}

quint64 Transport::send(int endpoint, const QByteArray &body)
{
    Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    Pending p;
    p.ticket = m_nextTicket++;
    p.endpoint = endpoint;
    p.startMs = m_clock->nowMs();
    p.deadlineMs = std::clamp(e.config.timeoutS * 1000.0, 1.0, 2.0e9);
    p.body = body;
    ++e.inFlight;
    if (!e.setupError.isEmpty()) {
        // Reported from the next sweep: never from inside send().
        m_reconnecting.push_back(Reconnect{p.startMs, std::move(p)});
        if (!m_deadlineTimer.isActive()) {
            m_deadlineTimer.start();
        }
        return m_nextTicket - 1;
    }
    const bool started = startReply(std::move(p));
    Q_ASSERT(started); // callers check hasCapacity()
    Q_UNUSED(started)
    return m_nextTicket - 1;
}

bool Transport::startReply(Pending p)
{
    Endpoint &e = m_endpoints.at(std::size_t(p.endpoint));
    const int laneIndex = pickLane(e);
    if (laneIndex < 0) {
        return false;
    }
    Lane &lane = e.lanes[std::size_t(laneIndex)];

    QNetworkRequest request = ProviderAdapter::makeRequest(e.config, e.apiKey);
    const double remainingMs = std::max(1.0, p.startMs + p.deadlineMs - m_clock->nowMs());
    request.setTransferTimeout(int(std::min(remainingMs + IdleBackstopMs, 2.0e9)));
    if (e.config.url.scheme() == QLatin1String("https")) {
        request.setSslConfiguration(e.tls);
    }
    QNetworkReply *reply = lane.nam->post(request, p.body);

    p.lane = laneIndex;
    m_deadlines.push(Deadline{p.startMs + p.deadlineMs, reply, p.ticket});
    m_replies.insert(reply, std::move(p));
    ++lane.inFlight;
    if (!m_deadlineTimer.isActive()) {
        m_deadlineTimer.start();
    }
    connect(reply, &QNetworkReply::finished, this, [this, reply] { handleFinished(reply); });
    // Without ignoreSslErrors() Qt aborts the handshake after this; we only keep the reasons.
    connect(reply, &QNetworkReply::sslErrors, this, [this, reply](const QList<QSslError> &errors) {
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
    return true;
}

void Transport::sweepDeadlines()
{
    const double now = m_clock->nowMs();
    while (!m_deadlines.empty()) {
        const Deadline d = m_deadlines.top();
        const auto it = m_replies.find(d.reply);
        const bool live = it != m_replies.end() && it->ticket == d.ticket;
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
        const QString &setupError = m_endpoints.at(std::size_t(w.pending.endpoint)).setupError;
        if (!setupError.isEmpty() || now >= w.pending.startMs + w.pending.deadlineMs) {
            reportUnsent(w.pending, false); // cannot be sent, or no lane came free in time
        } else if (w.atMs > now || !startReply(w.pending)) {
            m_reconnecting.push_back(std::move(w)); // not yet, or no free lane until a reply ends
        }
    }
    if (m_replies.isEmpty() && m_reconnecting.empty()) {
        m_deadlineTimer.stop();
        m_deadlines = {};
    }
}

void Transport::abortAll()
{
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
}

void Transport::reportUnsent(const Pending &p, bool cancelled)
{
    Endpoint &e = m_endpoints.at(std::size_t(p.endpoint));
    --e.inFlight;
    AttemptResult result;
    result.ticket = p.ticket;
    result.endpoint = p.endpoint;
    result.latencyMs = m_clock->nowMs() - p.startMs;
    result.report.cancelled = cancelled;
    result.report.setupError = cancelled ? QString() : e.setupError;
    result.report.timedOut = !cancelled && e.setupError.isEmpty();
    result.report.deadlineMs = p.deadlineMs;
    result.report.reconnects = p.reconnects;
    result.report.networkError = QNetworkReply::OperationCanceledError;
    if (m_handler) {
        m_handler(std::move(result));
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
    --e.lanes.at(std::size_t(p.lane)).inFlight;
    const QVariant status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (status.isValid()) {
        e.answered = true;
    }
    if (reply->error() == QNetworkReply::ConnectionRefusedError && !status.isValid() && !p.cancelled &&
        !p.timedOut && e.answered) {
        // The server answered earlier and now refuses connections: it is restarting. The request never
        // left, so connecting again is not a retry; the attempt keeps its slot (back-pressure: no fresh
        // requests burn against a closed port) until it connects, its deadline is near or the window
        // for a restart has passed.
        const double now = m_clock->nowMs();
        const double firstRefusedMs = p.reconnects == 0 ? now : p.firstRefusedMs;
        const double delay =
            std::min(MaxReconnectDelayMs, FirstReconnectDelayMs * std::pow(2.0, p.reconnects));
        if (now + delay < std::min(p.startMs + p.deadlineMs, firstRefusedMs + ReconnectWindowMs)) {
            Pending next = p;
            ++next.reconnects;
            next.firstRefusedMs = firstRefusedMs;
            next.tlsErrors.clear();
            m_reconnecting.push_back(Reconnect{now + delay, std::move(next)});
            return;
        }
    }
    --e.inFlight;

    AttemptResult result;
    result.ticket = p.ticket;
    result.endpoint = p.endpoint;
    result.latencyMs = m_clock->nowMs() - p.startMs;

    AttemptReport &r = result.report;
    r.cancelled = p.cancelled;
    r.timedOut = p.timedOut;
    r.deadlineMs = p.deadlineMs;
    r.tlsErrors = p.tlsErrors;
    r.reconnects = p.reconnects;
    r.networkError = reply->error();
    if (r.networkError != QNetworkReply::NoError) {
        r.networkErrorString = reply->errorString();
    }
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
            // Only the origin is named: a Location may carry tokens in its path or query.
            const QUrl location = reply->attribute(QNetworkRequest::RedirectionTargetAttribute).toUrl();
            if (!location.isEmpty()) {
                const QUrl target = reply->url().resolved(location);
                r.redirectTarget = originOf(target);
                r.redirectCrossOrigin = !sameOrigin(target, reply->url());
            }
        }
    }
    if (m_replies.isEmpty() && m_reconnecting.empty()) {
        m_deadlineTimer.stop();
        m_deadlines = {};
    }
    if (m_handler) {
        m_handler(std::move(result));
    }
}

} // namespace Sluice
