#include "qnamtransport.h"

#include "net/connectionsettings.h"
#include "net/provideradapter.h"
#include "net/transportworker.h"

#include <QDateTime>
#include <QHostAddress>
#include <QLoggingCategory>
#include <QNetworkAccessManager>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QSslCertificate>
#include <QSslError>
#include <QThread>

#include <algorithm>
#include <array>
#include <cmath>

namespace Sluice {

Q_LOGGING_CATEGORY(lcNet, "sluice.net")

QnamTransport::QnamTransport(const Clock *clock, QObject *parent)
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

void QnamTransport::setThreadCount(int threads)
{
    Q_ASSERT(m_workers.empty());
    m_threads = std::clamp(threads, 1, 16);
}

QnamTransport::~QnamTransport()
{
    setResultHandler(nullptr);
    setBatchHandler(nullptr);
    stopWorkers();
}

int QnamTransport::requestsPerLane(const EndpointConfig &config)
{
    return config.protocol == HttpProtocol::H2c || config.protocol == HttpProtocol::H2
               ? StreamsPerH2Connection
               : Http1ConnectionsPerLane;
}

void QnamTransport::setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys)
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
        if (const auto proxy = ConnectionSettings::proxyFor(e.config.url, m_environment); !proxy) {
            // Going direct instead could bypass a proxy the network requires: fail loudly.
            e.setupError = proxy.error().message;
            qCCritical(lcNet).noquote()
                << QStringLiteral("endpoint \"%1\": %2").arg(e.config.name, e.setupError);
        }
        if (e.config.url.scheme() != QLatin1String("https")) {
            continue;
        }
        auto tls = ConnectionSettings::tlsConfiguration(e.config);
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

void QnamTransport::startWorkers(const std::vector<WorkerEndpoint> &setups)
{
    m_workers.resize(std::size_t(m_threads));
    for (std::size_t i = 0; i < m_workers.size(); ++i) {
        Worker &w = m_workers[i];
        w.inbox = std::make_unique<Mailbox<SendOrder>>();
        w.outbox = std::make_unique<Mailbox<AttemptResult>>();
        w.inFlight.assign(setups.size(), 0);
        // Called on the worker's thread for the first result of a batch: one queued call per batch.
        auto wake = [this] {
            QMetaObject::invokeMethod(this, &QnamTransport::deliverResults, Qt::QueuedConnection);
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

void QnamTransport::stopWorkers()
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

void QnamTransport::setMaxInFlight(int endpoint, int maxInFlight)
{
    m_endpoints.at(std::size_t(endpoint)).config.maxInFlight = std::max(1, maxInFlight);
}

bool QnamTransport::hasCapacity(int endpoint) const
{
    const Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    return e.inFlight < e.config.maxInFlight;
}

int QnamTransport::inFlight(int endpoint) const
{
    return m_endpoints.at(std::size_t(endpoint)).inFlight;
}

quint64 QnamTransport::send(int endpoint, Outgoing attempt)
{
    Endpoint &e = m_endpoints.at(std::size_t(endpoint));
    SendOrder order;
    order.ticket = m_nextTicket++;
    order.endpoint = endpoint;
    order.startMs = m_clock->nowMs();
    order.deadlineMs = std::clamp(e.config.timeoutS * 1000.0, 1.0, 2.0e9);
    order.body = std::move(attempt.body);
    order.apiKey = std::move(attempt.apiKey);
    order.headers = std::move(attempt.headers);
    order.stream = attempt.stream;
    order.stallMs = std::clamp(e.config.stallTimeoutS * 1000.0, 1.0, 2.0e9);
    order.relay = std::move(attempt.relay);
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

void QnamTransport::postDelivery()
{
    if (!m_deliveryPosted) {
        m_deliveryPosted = true;
        QMetaObject::invokeMethod(this, &QnamTransport::deliverResults, Qt::QueuedConnection);
    }
}

void QnamTransport::abortAll()
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

void QnamTransport::cancel(quint64 ticket)
{
    for (AttemptResult &r : m_unsent) {
        if (r.ticket == ticket) {
            r.report.cancelled = true;
            r.report.setupError.clear();
            return;
        }
    }
    // Rare (a gateway caller that left): every worker looks; the one that has it reports it.
    for (Worker &w : m_workers) {
        TransportWorker *lanes = w.lanes.get();
        QMetaObject::invokeMethod(
            lanes, [lanes, ticket] { lanes->cancel(ticket); }, Qt::QueuedConnection);
    }
}

void QnamTransport::deliverResults()
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
        deliver(std::move(r));
    };
    for (AttemptResult &r : unsent) {
        hand(std::move(r), nullptr);
    }
    for (Worker &w : m_workers) {
        for (AttemptResult &r : w.outbox->takeAll()) {
            hand(std::move(r), &w.inFlight);
        }
    }
    if (any) {
        batchDone();
    }
}

} // namespace Sluice
