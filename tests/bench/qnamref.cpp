// qnamref: what QNetworkAccessManager alone does on this machine, as a reference for scale.sh.
//
// No Sluice code: LANES QNAMs spread over THREADS threads, each QNAM kept at PER_LANE requests in
// flight (the same shape as the transport's lanes: 6 per QNAM over HTTP/1.1, 100 streams over h2c),
// POSTing one fixed body to URL until REQUESTS replies have come back. Prints
//   qnamref <requests> <seconds> <req/s>
// The ratio of a Sluice run to this figure is what the engine, the limiter, the reader and the
// writers cost on top of Qt's HTTP stack.
//
// Usage: qnamref URL REQUESTS [--h2c | --h2] [--ca FILE] [--lanes N] [--threads N] [--per-lane N]
//                [--pools N] [--unbuffered] [--body FILE]
//   --h2          an https URL: HTTP/2 chosen by ALPN (as the transport's protocol "h2")
//   --ca FILE     trust the PEM certificates in FILE for an https URL (as an endpoint's ca_file)
//   --unbuffered  leave Qt's default socket for direct cleartext requests (no proxy at all), which
//                 reads reply headers one read() call per byte; the default names DefaultProxy,
//                 as the transport does (see EnvironmentProxyFactory in core/net/transportworker.cpp)

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <cstdio>
#include <memory>
#include <vector>

namespace {

struct Options
{
    QUrl url;
    qint64 requests = 0;
    bool h2c = false;
    bool h2 = false; ///< TLS with ALPN
    QString caFile;
    bool unbuffered = false;
    int lanes = 0;
    int threads = 2;
    int perLane = 0;
    int pools = 1; ///< connection pools per QNAM (distinct peer verify names)
    QByteArray body =
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi."}],"max_tokens":32})";
};

/// Answers every query with one proxy type. Only a factory's DefaultProxy reaches Qt's HTTP layer as
/// such; QNetworkAccessManager::setProxy(DefaultProxy) is resolved to NoProxy before it.
class FixedProxyFactory final : public QNetworkProxyFactory
{
public:
    explicit FixedProxyFactory(QNetworkProxy::ProxyType type)
        : m_type(type)
    {
    }
    QList<QNetworkProxy> queryProxy(const QNetworkProxyQuery &) override { return {QNetworkProxy(m_type)}; }

private:
    QNetworkProxy::ProxyType m_type;
};

std::atomic<qint64> g_started{0};
std::atomic<qint64> g_finished{0};
std::atomic<qint64> g_failed{0};

/// One QNAM that keeps `perLane` requests in flight until the shared budget is spent.
class Lane : public QObject
{
public:
    Lane(const Options &options)
        : m_options(options)
    {
    }

    void start()
    {
        m_nam = new QNetworkAccessManager(this);
        m_nam->setAutoDeleteReplies(true);
        m_nam->setProxyFactory(
            new FixedProxyFactory(!m_options.unbuffered && m_options.url.scheme() == QLatin1String("http")
                                      ? QNetworkProxy::DefaultProxy
                                      : QNetworkProxy::NoProxy)); // owned by the QNAM
        m_request = QNetworkRequest(m_options.url);
        m_request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        if (m_options.h2c) {
            m_request.setAttribute(QNetworkRequest::Http2DirectAttribute, true);
        } else if (m_options.h2) {
            m_request.setAttribute(QNetworkRequest::Http2AllowedAttribute, true);
        } else {
            m_request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
        }
        if (!m_options.caFile.isEmpty()) {
            QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
            tls.setCaCertificates(QSslCertificate::fromPath(m_options.caFile));
            m_request.setSslConfiguration(tls);
        }
        connect(m_nam, &QNetworkAccessManager::finished, this, [this](QNetworkReply *reply) {
            reply->readAll();
            if (reply->error() != QNetworkReply::NoError) {
                g_failed.fetch_add(1);
            }
            g_finished.fetch_add(1);
            sendOne();
        });
        for (int i = 0; i < m_options.perLane; ++i) {
            sendOne();
        }
    }

private:
    void sendOne()
    {
        if (g_started.fetch_add(1) >= m_options.requests) {
            return;
        }
        if (m_options.pools > 1) {
            // Qt keys its connection cache on the peer verify name too: one pool of connections each.
            QNetworkRequest request = m_request;
            request.setPeerVerifyName(QStringLiteral("pool%1").arg(m_nextPool++ % m_options.pools));
            m_nam->post(request, m_options.body);
            return;
        }
        m_nam->post(m_request, m_options.body);
    }

    const Options &m_options;
    QNetworkAccessManager *m_nam = nullptr;
    QNetworkRequest m_request;
    int m_nextPool = 0;
};

int usage()
{
    std::fprintf(stderr, "usage: qnamref URL REQUESTS [--h2c | --h2] [--ca FILE] [--lanes N] [--threads N] "
                         "[--per-lane N] [--pools N] [--unbuffered] [--body FILE]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 3) {
        return usage();
    }
    Options options;
    options.url = QUrl(args.at(1));
    options.requests = args.at(2).toLongLong();
    for (int i = 3; i < args.size(); ++i) {
        const QString &a = args.at(i);
        const bool hasValue = i + 1 < args.size();
        if (a == QLatin1String("--h2c")) {
            options.h2c = true;
        } else if (a == QLatin1String("--h2")) {
            options.h2 = true;
        } else if (a == QLatin1String("--ca") && hasValue) {
            options.caFile = args.at(++i);
        } else if (a == QLatin1String("--unbuffered")) {
            options.unbuffered = true;
        } else if (a == QLatin1String("--lanes") && hasValue) {
            options.lanes = args.at(++i).toInt();
        } else if (a == QLatin1String("--threads") && hasValue) {
            options.threads = args.at(++i).toInt();
        } else if (a == QLatin1String("--pools") && hasValue) {
            options.pools = args.at(++i).toInt();
        } else if (a == QLatin1String("--per-lane") && hasValue) {
            options.perLane = args.at(++i).toInt();
        } else if (a == QLatin1String("--body") && hasValue) {
            QFile file(args.at(++i));
            if (!file.open(QIODevice::ReadOnly)) {
                std::fprintf(stderr, "qnamref: cannot read %s\n", qPrintable(file.fileName()));
                return 2;
            }
            options.body = file.readAll().trimmed();
        } else {
            return usage();
        }
    }
    if (!options.url.isValid() || options.requests <= 0 || options.threads < 1 ||
        (options.h2c && options.h2)) {
        return usage();
    }
    if (options.perLane <= 0) {
        options.perLane = options.h2c || options.h2 ? 100 : 6;
    }
    if (options.lanes <= 0) {
        options.lanes = options.threads;
    }

    std::vector<std::unique_ptr<QThread>> threads;
    std::vector<Lane *> lanes;
    for (int t = 0; t < options.threads; ++t) {
        threads.push_back(std::make_unique<QThread>());
        threads.back()->start();
    }
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < options.lanes; ++i) {
        auto *lane = new Lane(options);
        lane->moveToThread(threads[std::size_t(i % options.threads)].get());
        lanes.push_back(lane);
        QMetaObject::invokeMethod(
            lane, [lane] { lane->start(); }, Qt::QueuedConnection);
    }
    QTimer poll;
    poll.setInterval(10);
    QObject::connect(&poll, &QTimer::timeout, &app, [&] {
        if (g_finished.load() >= options.requests) {
            app.quit();
        }
    });
    poll.start();
    app.exec();
    const double seconds = double(clock.nsecsElapsed()) / 1e9;
    for (std::size_t i = 0; i < lanes.size(); ++i) {
        Lane *lane = lanes[i];
        QMetaObject::invokeMethod(
            lane, [lane] { delete lane; }, Qt::BlockingQueuedConnection);
    }
    for (auto &thread : threads) {
        thread->quit();
        thread->wait();
    }
    std::printf("qnamref %lld %.3f %.0f\n", static_cast<long long>(g_finished.load()), seconds,
                double(g_finished.load()) / seconds);
    if (g_failed.load() > 0) {
        std::fprintf(stderr, "qnamref: %lld requests failed\n", static_cast<long long>(g_failed.load()));
        return 1;
    }
    return 0;
}
