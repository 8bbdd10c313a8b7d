// The transport on its worker threads, against real servers over loopback: the in-process
// simulator, and nginx (h2c prior knowledge and HTTP/1.1) when it is installed.

#include "net/qnamtransport.h"
#include "sim/simulator.h"

#include <QFile>
#include <QProcess>
#include <QSet>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

const QString TestData = QStringLiteral(SLUICE_TEST_DATA_DIR);

QByteArray chatBody(const QString &prompt)
{
    const json body = {{"model", "m"},
                       {"messages", json::array({{{"role", "user"}, {"content", prompt.toStdString()}}})}};
    const std::string s = body.dump();
    return QByteArray(s.data(), qsizetype(s.size()));
}

EndpointConfig endpointFor(const QUrl &url, int maxInFlight, HttpProtocol protocol = HttpProtocol::Auto)
{
    EndpointConfig e;
    e.name = QStringLiteral("e");
    e.url = url;
    e.maxInFlight = maxInFlight;
    e.timeoutS = 20;
    e.protocol = protocol;
    return e;
}

/// read() calls made by this process so far (Linux: /proc/self/io), -1 when unknown.
qint64 readCalls()
{
    QFile io(QStringLiteral("/proc/self/io"));
    if (!io.open(QIODevice::ReadOnly)) {
        return -1;
    }
    for (const QByteArray &line : io.readAll().split('\n')) {
        if (line.startsWith("syscr:")) {
            return line.mid(6).trimmed().toLongLong();
        }
    }
    return -1;
}

quint16 freePort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost);
    return probe.serverPort();
}

/// nginx answering a fixed chat completion, on one HTTP/1.1 port, one h2c port and one TLS port that
/// offers h2 and http/1.1 by ALPN (the test certificate in tests/data, for 127.0.0.1).
class Nginx
{
public:
    bool start(QString *why)
    {
        const QString nginx = QStandardPaths::findExecutable(QStringLiteral("nginx"));
        if (nginx.isEmpty()) {
            *why = QStringLiteral("nginx is not installed");
            return false;
        }
        h1Port = freePort();
        h2Port = freePort();
        tlsPort = freePort();
        const QString conf = m_dir.filePath(QStringLiteral("nginx.conf"));
        QFile file(conf);
        if (!file.open(QIODevice::WriteOnly)) {
            *why = file.errorString();
            return false;
        }
        const QString d = m_dir.path();
        file.write(
            QStringLiteral(
                "daemon off; worker_processes 1; pid %1/nginx.pid; error_log %1/error.log warn;\n"
                "events { worker_connections 1024; }\n"
                "http { access_log off; client_body_temp_path %1/body; proxy_temp_path %1/proxy;\n"
                "  fastcgi_temp_path %1/fcgi; uwsgi_temp_path %1/uwsgi; scgi_temp_path %1/scgi;\n"
                "  default_type application/json;\n"
                "  server { listen 127.0.0.1:%2; listen 127.0.0.1:%3 http2; listen 127.0.0.1:%4 ssl http2;\n"
                "    ssl_certificate %5/sim-tls.crt; ssl_certificate_key %5/sim-tls.key;\n"
                "    location / { return 200 '{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":"
                "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
                "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}'; "
                "} } }\n")
                .arg(d)
                .arg(h1Port)
                .arg(h2Port)
                .arg(tlsPort)
                .arg(TestData)
                .toUtf8());
        file.close();
        m_process.start(nginx, {QStringLiteral("-p"), d, QStringLiteral("-c"), conf, QStringLiteral("-e"),
                                d + QStringLiteral("/error.log")});
        if (!m_process.waitForStarted(5000)) {
            *why = QStringLiteral("nginx did not start: ") + m_process.errorString();
            return false;
        }
        for (int i = 0; i < 100; ++i) {
            QTcpSocket a;
            QTcpSocket b;
            QTcpSocket c;
            a.connectToHost(QHostAddress::LocalHost, h1Port);
            b.connectToHost(QHostAddress::LocalHost, h2Port);
            c.connectToHost(QHostAddress::LocalHost, tlsPort);
            if (a.waitForConnected(100) && b.waitForConnected(100) && c.waitForConnected(100)) {
                return true;
            }
            if (m_process.state() != QProcess::Running) {
                break;
            }
            QTest::qWait(50);
        }
        *why = QStringLiteral("nginx did not listen: ") + QString::fromUtf8(m_process.readAllStandardError());
        return false;
    }

    ~Nginx()
    {
        if (m_process.state() == QProcess::Running) {
            m_process.terminate();
            if (!m_process.waitForFinished(5000)) {
                m_process.kill();
                m_process.waitForFinished(5000);
            }
        }
    }

    quint16 h1Port = 0;
    quint16 h2Port = 0;
    quint16 tlsPort = 0;

private:
    QTemporaryDir m_dir;
    QProcess m_process;
};

} // namespace

class tst_Transport : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void resultsComeInBatchesOnTheTransportThread();
    void neverReportsInsideSend();
    void abortCancelsAttemptsNotYetStarted();
    void httpVersionFollowsTheProtocolSetting_data();
    void httpVersionFollowsTheProtocolSetting();
    void readsCleartextReplyHeadersInBlocks();
    void eachLaneOpensItsOwnConnections_data();
    void eachLaneOpensItsOwnConnections();
};

void tst_Transport::initTestCase()
{
    for (const char *name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
        qunsetenv(name);
    }
    qunsetenv("SLUICE_NET_THREADS");
}

void tst_Transport::resultsComeInBatchesOnTheTransportThread()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QnamTransport transport(SteadyClock::instance());
    transport.setEndpoints({endpointFor(sim.chatUrl(), 120)}, {QByteArray()});
    QList<quint64> tickets;
    int batches = 0;
    bool onOwnThread = true;
    transport.setResultHandler([&](AttemptResult &&r) {
        onOwnThread = onOwnThread && QThread::currentThread() == transport.thread();
        QCOMPARE(r.report.httpStatus, 200);
        // Checked and read for usage on the worker; the text itself is handed on.
        QVERIFY(r.report.bodyIsJson && r.bodyText.contains("\"choices\""));
        QVERIFY(r.usage.inputTokens > 0 && r.usage.outputTokens > 0);
        tickets.append(r.ticket);
    });
    transport.setBatchHandler([&batches] { ++batches; });
    QSet<quint64> sent;
    for (int i = 0; i < 120; ++i) {
        QVERIFY(transport.hasCapacity(0));
        sent.insert(transport.send(0, chatBody(QStringLiteral("r%1").arg(i))));
    }
    QVERIFY(!transport.hasCapacity(0));
    QCOMPARE(transport.totalInFlight(), 120);
    QTRY_COMPARE_WITH_TIMEOUT(tickets.size(), 120, 15000);
    QVERIFY(onOwnThread);
    QCOMPARE(QSet<quint64>(tickets.cbegin(), tickets.cend()), sent); // each exactly once
    QCOMPARE(transport.totalInFlight(), 0);
    QVERIFY(transport.hasCapacity(0));
    // The simulator answers on this thread too, so replies pile up between two deliveries.
    QVERIFY2(batches >= 1 && batches < 120, qPrintable(QString::number(batches)));
}

void tst_Transport::neverReportsInsideSend()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QnamTransport transport(SteadyClock::instance());
    transport.setEndpoints({endpointFor(sim.chatUrl(), 4)}, {QByteArray()});
    int results = 0;
    transport.setResultHandler([&results](AttemptResult &&) { ++results; });
    transport.send(0, chatBody(QStringLiteral("one")));
    QCOMPARE(results, 0);
    QTRY_COMPARE(results, 1);
}

void tst_Transport::abortCancelsAttemptsNotYetStarted()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QnamTransport transport(SteadyClock::instance());
    // More than a worker starts in one go (StartSlice): some orders wait in the worker.
    constexpr int n = 300;
    EndpointConfig e = endpointFor(sim.chatUrl(), n);
    e.timeoutS = 30;
    transport.setEndpoints({e}, {QByteArray()});
    QList<AttemptResult> results;
    transport.setResultHandler([&results](AttemptResult &&r) { results.append(std::move(r)); });
    QSet<quint64> sent;
    for (int i = 0; i < n; ++i) {
        sent.insert(transport.send(0, chatBody(QStringLiteral("@sim(hang=1) %1").arg(i))));
    }
    QTest::qWait(20); // some started, some waiting in a worker, maybe some still in a mailbox
    transport.abortAll();
    QTRY_COMPARE_WITH_TIMEOUT(results.size(), n, 10000);
    QSet<quint64> reported;
    for (const AttemptResult &r : results) {
        reported.insert(r.ticket);
    }
    QCOMPARE(reported, sent); // each exactly once
    for (const AttemptResult &r : results) {
        QVERIFY(r.report.cancelled);
        QVERIFY(!r.report.timedOut);
        QCOMPARE(toString(Classifier::classify(r.report).cls), QStringLiteral("cancelled"));
    }
    QCOMPARE(transport.totalInFlight(), 0);
}

void tst_Transport::httpVersionFollowsTheProtocolSetting_data()
{
    QTest::addColumn<QString>("port"); // "h1", "h2c" or "tls"
    QTest::addColumn<int>("protocol");
    QTest::addColumn<bool>("http2");
    QTest::newRow("http1") << QStringLiteral("h1") << int(HttpProtocol::Http1) << false;
    QTest::newRow("auto over http") << QStringLiteral("h1") << int(HttpProtocol::Auto) << false;
    QTest::newRow("h2c") << QStringLiteral("h2c") << int(HttpProtocol::H2c) << true;
    // Over TLS the server offers both by ALPN: the setting decides.
    QTest::newRow("h2 over TLS") << QStringLiteral("tls") << int(HttpProtocol::H2) << true;
    QTest::newRow("http1 over TLS") << QStringLiteral("tls") << int(HttpProtocol::Http1) << false;
}

void tst_Transport::httpVersionFollowsTheProtocolSetting()
{
    QFETCH(QString, port);
    QFETCH(int, protocol);
    QFETCH(bool, http2);
    Nginx nginx;
    QString why;
    if (!nginx.start(&why)) {
        QSKIP(qPrintable(why));
    }
    const bool tls = port == QLatin1String("tls");
    const quint16 number = tls ? nginx.tlsPort : port == QLatin1String("h2c") ? nginx.h2Port : nginx.h1Port;
    QnamTransport transport(SteadyClock::instance());
    // More than one HTTP/2 connection's worth of streams: two lanes per worker.
    const int n = 2 * QnamTransport::StreamsPerH2Connection + 50;
    EndpointConfig endpoint =
        endpointFor(QUrl(QStringLiteral("%1://127.0.0.1:%2/v1/chat/completions")
                             .arg(tls ? QStringLiteral("https") : QStringLiteral("http"))
                             .arg(number)),
                    n, HttpProtocol(protocol));
    if (tls) {
        endpoint.caFile = TestData + QStringLiteral("/sim-tls.crt");
    }
    transport.setEndpoints({endpoint}, {QByteArray()});
    QList<AttemptResult> results;
    transport.setResultHandler([&results](AttemptResult &&r) { results.append(std::move(r)); });
    for (int i = 0; i < n; ++i) {
        transport.send(0, chatBody(QStringLiteral("r%1").arg(i)));
    }
    QTRY_COMPARE_WITH_TIMEOUT(results.size(), n, 20000);
    for (const AttemptResult &r : results) {
        QVERIFY2(
            r.report.httpStatus == 200,
            qPrintable(QStringLiteral("%1 %2").arg(r.report.httpStatus).arg(r.report.networkErrorString)));
        QVERIFY(r.report.bodyComplete && r.report.bodyIsJson);
        QCOMPARE(r.http2, http2);
    }
}

// Qt reads a cleartext HTTP/1.1 reply's status line and headers one read() call per byte when its
// socket is unbuffered (a request without any proxy); the transport avoids that (see
// EnvironmentProxyFactory). The headers must still all arrive: the simulator's rate-limit headers
// are read back.
void tst_Transport::readsCleartextReplyHeadersInBlocks()
{
    if (readCalls() < 0) {
        QSKIP("/proc/self/io is not readable here");
    }
    SimulatorConfig config;
    config.rps = 1e6; // never limits, but sends x-ratelimit-* headers
    Simulator sim(config);
    QVERIFY(sim.listen());
    QnamTransport transport(SteadyClock::instance());
    transport.setEndpoints({endpointFor(sim.chatUrl(), 6, HttpProtocol::Http1)}, {QByteArray()});
    QList<AttemptResult> results;
    transport.setResultHandler([&results](AttemptResult &&r) { results.append(std::move(r)); });
    transport.send(0, chatBody(QStringLiteral("warm-up"))); // connects
    QTRY_COMPARE(results.size(), 1);

    constexpr int n = 300;
    const qint64 before = readCalls();
    for (int i = 0; i < n; ++i) {
        transport.send(0, chatBody(QStringLiteral("r%1").arg(i)));
    }
    QTRY_COMPARE_WITH_TIMEOUT(results.size(), n + 1, 20000);
    const double perRequest = double(readCalls() - before) / n;
    for (const AttemptResult &r : results) {
        QCOMPARE(r.report.httpStatus, 200);
        QVERIFY(r.report.bodyComplete && r.report.bodyIsJson);
        QVERIFY(!r.http2);
        QCOMPARE(r.rateLimit.requestLimit, 6e7);
        QVERIFY(r.rateLimit.requestRemaining >= 0);
    }
    // Byte by byte, the simulator's headers alone take over 200 calls per reply.
    qInfo("read() calls per request (this process, both ends): %.1f", perRequest);
    QVERIFY2(perRequest < 40, qPrintable(QString::number(perRequest)));
}

void tst_Transport::eachLaneOpensItsOwnConnections_data()
{
    QTest::addColumn<int>("maxInFlight");
    QTest::addColumn<int>("connections");
    // Two workers, so each takes half; a lane is six HTTP/1.1 connections.
    QTest::newRow("one lane per worker") << 12 << 12;
    QTest::newRow("four lanes per worker") << 48 << 48;
}

// Cleartext lanes share their worker's QNAM; each must still get connections of its own (Qt allows
// six per connection-cache key), or requests would queue inside Qt where nobody sees them.
void tst_Transport::eachLaneOpensItsOwnConnections()
{
    QFETCH(int, maxInFlight);
    QFETCH(int, connections);
    Simulator sim;
    QVERIFY(sim.listen());
    QnamTransport transport(SteadyClock::instance());
    transport.setThreadCount(2);
    transport.setEndpoints({endpointFor(sim.chatUrl(), maxInFlight, HttpProtocol::Http1)}, {QByteArray()});
    int results = 0;
    int ok = 0;
    transport.setResultHandler([&](AttemptResult &&r) {
        ++results;
        ok += r.report.httpStatus == 200 ? 1 : 0;
    });
    // All in flight at once: each is held 400 ms by the simulator.
    for (int i = 0; i < maxInFlight; ++i) {
        transport.send(0, chatBody(QStringLiteral("@sim(delay_ms=400) r%1").arg(i)));
    }
    QTRY_COMPARE_WITH_TIMEOUT(results, maxInFlight, 20000);
    QCOMPARE(ok, maxInFlight);
    QCOMPARE(sim.stats().connections, qint64(connections));
}

QTEST_GUILESS_MAIN(tst_Transport)
#include "tst_transport.moc"
