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

} // namespace

Transport::Transport(const Clock *clock, QObject *parent)
    : QObject(parent)
    , m_clock(clock)
    , m_environment(QProcessEnvironment::systemEnvironment())
{
    bool ok = false;
    const int threads = m_environment.value(QStringLiteral("SLUICE_NET_THREADS")).toInt(&ok);
    if (ok) {
        setThreadCount(threads);
    }
}

void Transport::setThreadCount(int threads)
{
    Q_ASSERT(m_workers.empty());
    m_threads = std::clamp(threads, 1, 16);
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
    m_handler = nullptr;
    m_batchHandler = nullptr;
    stopWorkers();
}

int Transport::requestsPerLane(const EndpointConfig &config)
{
    return config.protocol == HttpProtocol::H2c || config.protocol == HttpProtocol::H2
               ? StreamsPerH2Connection
               : Http1ConnectionsPerLane;
}

void Transport::setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys)
{
    Q_ASSERT(m_totalInFlight == 0);
    stopWorkers();
    m_endpoints.clear();
    m_endpoints.resize(std::size_t(endpoints.size()));
    m_answered = std::make_unique<std::atomic<bool>[]>(std::size_t(endpoints.size()));
    std::vector<WorkerEndpoint> setups(std::size_t(endpoints.size()));
    for (qsizetype i = 0; i < endpoints.size(); ++i) {
        Endpoint &e = m_endpoints[std::size_t(i)];
        WorkerEndpoint &setup = setups[std::size_t(i)];
        e.config = endpoints.at(i);
        setup.config = e.config;
        setup.apiKey = apiKeys.value(i);
        setup.requestsPerLane = requestsPerLane(e.config);
        m_answered[std::size_t(i)] = false;
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
            setup.tls = *tls;
        } else {
            // Checked when the project was loaded; the file went away since. Trust nothing rather
            // than fall back to the system's CAs: every attempt fails with a TLS error.
            qCCritical(lcNet).noquote() << tls.error().message;
            setup.tls = QSslConfiguration::defaultConfiguration();
            setup.tls.setCaCertificates({});
        }
        if (e.config.tlsInsecure) {
            qCWarning(lcNet).noquote()
                << QStringLiteral("endpoint \"%1\": TLS certificates are not verified (tls_insecure)")
                       .arg(e.config.name);
        }
    }
    startWorkers(setups);
}

void Transport::startWorkers(const std::vector<WorkerEndpoint> &setups)
{
    m_workers.resize(std::size_t(m_threads));
    for (std::size_t i = 0; i < m_workers.size(); ++i) {
        Worker &w = m_workers[i];
        w.inbox = std::make_unique<Mailbox<SendOrder>>();
        w.outbox = std::make_unique<Mailbox<AttemptResult>>();
        w.inFlight.assign(setups.size(), 0);
        // Called on the worker's thread for the first result of a batch: one queued call per batch.
        auto wake = [this] {
            QMetaObject::invokeMethod(this, &Transport::deliverResults, Qt::QueuedConnection);
        };
        w.lanes = std::make_unique<TransportWorker>(m_clock, m_environment, w.inbox.get(), w.outbox.get(),
                                                    std::move(wake), m_answered.get());
        w.thread = std::make_unique<QThread>();
        w.thread->setObjectName(QStringLiteral("sluice-net-%1").arg(i));
        w.lanes->moveToThread(w.thread.get());
        w.thread->start();
        TransportWorker *lanes = w.lanes.get();
        QMetaObject::invokeMethod(
            lanes, [lanes, setups] { lanes->setEndpoints(setups); }, Qt::QueuedConnection);
    }
}

void Transport::stopWorkers()
{
    for (Worker &w : m_workers) {
        // The lanes (QNAMs, replies) are deleted on their own thread, then the thread ends.
        TransportWorker *lanes = w.lanes.get();
        QMetaObject::invokeMethod(
            lanes, [lanes] { lanes->shutdown(); }, Qt::BlockingQueuedConnection);
        w.thread->quit();
        w.thread->wait();
        w.lanes.reset();
    }
    m_workers.clear();
}

void Transport::setMaxInFlight(int endpoint, int maxInFlight)
{
    m_endpoints.at(std::size_t(endpoint)).config.maxInFlight = std::max(1, maxInFlight);
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

quint64 Transport::send(int endpoint, const QByteArray &body, const QByteArray &apiKey,
                        const QList<QPair<QByteArray, QByteArray>> &headers)
{
    Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    SendOrder order;
    order.ticket = m_nextTicket++;
    order.endpoint = endpoint;
    order.startMs = m_clock->nowMs();
    order.deadlineMs = std::clamp(e.config.timeoutS * 1000.0, 1.0, 2.0e9);
    order.body = body;
    order.apiKey = apiKey;
    order.headers = headers;
    ++e.inFlight;
    ++m_totalInFlight;
    const quint64 ticket = order.ticket;
    if (!e.setupError.isEmpty()) {
        AttemptResult result;
        result.ticket = ticket;
        result.endpoint = endpoint;
        result.report.setupError = e.setupError;
        result.report.deadlineMs = order.deadlineMs;
        result.report.networkError = QNetworkReply::OperationCanceledError;
        m_unsent.push_back(std::move(result));
        postDelivery(); // never from inside send()
        return ticket;
    }
    // The least-loaded worker for this endpoint: each stays within its share of max_in_flight, so
    // its lanes (sized from that share) are never overfilled.
    std::size_t pick = 0;
    for (std::size_t i = 1; i < m_workers.size(); ++i) {
        if (m_workers[i].inFlight[std::size_t(endpoint)] < m_workers[pick].inFlight[std::size_t(endpoint)]) {
            pick = i;
        }
    }
    Worker &w = m_workers[pick];
    const int perWorker = (e.config.maxInFlight + int(m_workers.size()) - 1) / int(m_workers.size());
    const int perLane = requestsPerLane(e.config);
    order.laneLimit = std::max(1, (perWorker + perLane - 1) / perLane);
    ++w.inFlight[std::size_t(endpoint)];
    if (w.inbox->put(std::move(order))) {
        TransportWorker *lanes = w.lanes.get();
        QMetaObject::invokeMethod(
            lanes, [lanes] { lanes->takeOrders(); }, Qt::QueuedConnection);
    }
    return ticket;
}

void Transport::postDelivery()
{
    if (!m_deliveryPosted) {
        m_deliveryPosted = true;
        QMetaObject::invokeMethod(this, &Transport::deliverResults, Qt::QueuedConnection);
    }
}

void Transport::abortAll()
{
    for (Worker &w : m_workers) {
        TransportWorker *lanes = w.lanes.get();
        QMetaObject::invokeMethod(
            lanes, [lanes] { lanes->abortAll(); }, Qt::QueuedConnection);
    }
    for (AttemptResult &r : m_unsent) {
        r.report.cancelled = true;
        r.report.setupError.clear();
    }
}

void Transport::deliverResults()
{
    m_deliveryPosted = false;
    std::vector<AttemptResult> unsent;
    unsent.swap(m_unsent);
    bool any = false;
    const auto hand = [this, &any](AttemptResult &&r, std::vector<int> *workerInFlight) {
        Endpoint &e = m_endpoints.at(std::size_t(r.endpoint));
        --e.inFlight;
        --m_totalInFlight;
        if (workerInFlight) {
            --(*workerInFlight)[std::size_t(r.endpoint)];
        }
        any = true;
        if (m_handler) {
            m_handler(std::move(r));
        }
    };
    for (AttemptResult &r : unsent) {
        hand(std::move(r), nullptr);
    }
    for (Worker &w : m_workers) {
        for (AttemptResult &r : w.outbox->takeAll()) {
            hand(std::move(r), &w.inFlight);
        }
    }
    if (any && m_batchHandler) {
        m_batchHandler();
    }
}

} // namespace Sluice
