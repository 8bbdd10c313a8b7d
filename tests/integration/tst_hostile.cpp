// Hostile servers: every scripted fault of the simulator against the real engine (or the real
// transport) over loopback HTTP and HTTPS. Each fault must end in a bounded way: retried to success, or
// exactly one precise error record. Nothing here is faked.

#include "engine/engine.h"
#include "net/connectionsettings.h"
#include "net/qnamtransport.h"
#include "runfixture.h"
#include "sim/simulator.h"

#include <QElapsedTimer>
#include <QMap>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <memory>
#include <optional>

using namespace Sluice;
using json = nlohmann::json;

namespace {

const QString DataDir = QStringLiteral(SLUICE_TEST_DATA_DIR);
/// An API key that must never show up anywhere but in the Authorization header of the first origin.
const QByteArray CanaryKey = QByteArrayLiteral("sk-hostile-canary-5f1e2d3c4b5a");
const char *const KeyVariable = "SLUICE_HOSTILE_TEST_KEY";

struct RunOutput
{
    MetricsSnapshot summary;
    QList<json> results;
    QList<json> errors;
    bool finished = false;
};

QString text(const json &value)
{
    return value.is_string() ? QString::fromStdString(value.get<std::string>()) : QString();
}

/// Every id in `ids` ends exactly once across results and errors, and nothing else does.
QString exactlyOnce(const QStringList &ids, const RunOutput &out)
{
    QMap<QString, int> seen;
    for (const QList<json> *file : {&out.results, &out.errors}) {
        for (const json &record : *file) {
            if (record.is_discarded()) {
                return QStringLiteral("a record is not JSON");
            }
            ++seen[text(record.at("custom_id"))];
        }
    }
    for (const QString &id : ids) {
        if (seen.value(id) != 1) {
            return QStringLiteral("%1 ended %2 times").arg(id).arg(seen.value(id));
        }
    }
    if (seen.size() != ids.size()) {
        return QStringLiteral("%1 ids ended, %2 expected").arg(seen.size()).arg(ids.size());
    }
    return QString();
}

QStringList idsOf(const QList<json> &lines)
{
    QStringList ids;
    for (const json &line : lines) {
        ids.append(text(line.at("custom_id")));
    }
    return ids;
}

const json *recordFor(const QList<json> &records, const QString &id)
{
    for (const json &record : records) {
        if (text(record.at("custom_id")) == id) {
            return &record;
        }
    }
    return nullptr;
}

QByteArray chatBody(const QString &prompt)
{
    const json body = {{"model", "m"},
                       {"messages", json::array({{{"role", "user"}, {"content", prompt.toStdString()}}})}};
    const std::string s = body.dump();
    return QByteArray(s.data(), qsizetype(s.size()));
}

} // namespace

class tst_Hostile : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void connectionRefused();
    void resetBeforeAnyByte();
    void brokenReplies_data();
    void brokenReplies();
    void dripHitsTheTotalDeadline();
    void neverAnswered();
    void shortDeadlinesDoNotWaitBehindLongOnes();
    void userStopIsNotATimeout();
    void gracefulStopDuringAHangEndsAtTheDeadline();
    void redirectsAreNotFollowed_data();
    void redirectsAreNotFollowed();
    void serverErrorBurst();
    void overloaded529();
    void rateLimited_data();
    void rateLimited();
    void rateLimitedGivesUp();
    void insufficientQuota();
    void serverDiesAndComesBack();
    void serverGoneForGood();
    void tls_data();
    void tls();
    void proxyFromEnvironment_data();
    void proxyFromEnvironment();
    void proxyIsUsedAndLoopbackBypassesIt();
    void unusableProxyFailsLoudly();

private:
    EndpointConfig endpointFor(const QUrl &url, const QString &name = QStringLiteral("a")) const;
    RunOutput run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs = 20000,
                  const std::function<void(Engine &)> &whileRunning = {});
    static ProjectConfig projectWith(const EndpointConfig &endpoint, int maxAttempts);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_Hostile::initTestCase()
{
    qputenv(KeyVariable, CanaryKey);
    // Proxies are read from the environment: the suite must not depend on the machine's.
    for (const char *name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
        qunsetenv(name);
    }
}

void tst_Hostile::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void tst_Hostile::cleanup()
{
    qunsetenv("http_proxy");
    qunsetenv("no_proxy");
}

EndpointConfig tst_Hostile::endpointFor(const QUrl &url, const QString &name) const
{
    EndpointConfig e = EndpointConfig::fromUrl(url, 0);
    e.name = name;
    e.model = QStringLiteral("test-model");
    e.apiKeyEnv = QString::fromLatin1(KeyVariable);
    e.timeoutS = 5;
    return e;
}

ProjectConfig tst_Hostile::projectWith(const EndpointConfig &endpoint, int maxAttempts)
{
    ProjectConfig project;
    project.endpoints = {endpoint};
    project.limits.retry.maxAttempts = maxAttempts;
    project.limits.retry.baseDelayMs = 1;
    project.limits.retry.maxDelayMs = 5;
    return project;
}

RunOutput tst_Hostile::run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs,
                           const std::function<void(Engine &)> &whileRunning)
{
    RunOutput out;
    RunOptions options;
    options.requestsPath = m_dir->filePath(QStringLiteral("requests.jsonl"));
    options.outPath = m_dir->filePath(QStringLiteral("results.jsonl"));
    options.tickMs = 50;
    if (!Test::writeJsonl(options.requestsPath, lines)) {
        qWarning("cannot write the input");
        return out;
    }
    Engine engine(project, options);
    QSignalSpy finished(&engine, &Engine::finished);
    const auto started = engine.start();
    if (!started) {
        qWarning("%s", qPrintable(started.error().message));
        return out;
    }
    if (whileRunning) {
        whileRunning(engine);
    }
    if (finished.isEmpty() && !finished.wait(timeoutMs)) {
        qWarning("run did not finish");
        engine.abort();
        return out;
    }
    out.finished = true;
    out.summary = finished.first().first().value<MetricsSnapshot>();
    out.results = Test::readJsonl(options.outPath);
    out.errors = Test::readJsonl(engine.errorsPath());
    // No record, whatever it says, may carry the key.
    for (const QString &path : {options.outPath, engine.errorsPath()}) {
        QFile file(path);
        if (file.open(QIODevice::ReadOnly) && file.readAll().contains(CanaryKey)) {
            qWarning("the API key leaked into %s", qPrintable(path));
            out.finished = false;
        }
    }
    return out;
}

void tst_Hostile::connectionRefused()
{
    quint16 deadPort = 0;
    {
        Simulator probe;
        const auto port = probe.listen();
        QVERIFY(port);
        deadPort = *port;
    } // closed: nothing listens there now
    const QUrl url(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(deadPort));
    const QList<json> lines = {Test::promptLine(QStringLiteral("r1"), QStringLiteral("one")),
                               Test::promptLine(QStringLiteral("r2"), QStringLiteral("two"))};
    const RunOutput out = run(projectWith(endpointFor(url), 3), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 0);
    QCOMPARE(out.errors.size(), 2);
    for (const json &e : out.errors) {
        QCOMPARE(text(e.at("error_class")), QStringLiteral("transport"));
        QCOMPARE(text(e.at("error")),
                 QStringLiteral("transport: Connection refused (gave up after 3 attempts)"));
        QCOMPARE(e.at("attempts").get<int>(), 3);
        QVERIFY(e.at("status").is_null());
    }
}

void tst_Hostile::resetBeforeAnyByte()
{
    Simulator sim;
    QVERIFY(sim.listen());
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("always"), QStringLiteral("@sim(reset=1)")),
        Test::promptLine(QStringLiteral("once"), QStringLiteral("@sim(reset=1,times=1)"))};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 2), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(text(out.results.first().at("custom_id")), QStringLiteral("once"));
    QCOMPARE(out.errors.size(), 1);
    const json &e = out.errors.first();
    QCOMPARE(text(e.at("custom_id")), QStringLiteral("always"));
    QCOMPARE(text(e.at("error_class")), QStringLiteral("transport"));
    QCOMPARE(text(e.at("error")), QStringLiteral("transport: Connection closed (gave up after 2 attempts)"));
    QCOMPARE(e.at("attempts").get<int>(), 2);
    // Qt re-sends a request once on its own when the connection closes before any reply byte, so one
    // attempt of ours can be two resets at the server; never more than that.
    QVERIFY(sim.stats().resets >= 3);
    QVERIFY(sim.stats().resets <= 6);
    QCOMPARE(sim.stats().ok, 1);
}

void tst_Hostile::brokenReplies_data()
{
    QTest::addColumn<QString>("directive"); // without `times`
    QTest::addColumn<QString>("errorClass");
    QTest::addColumn<QString>("message"); // of the attempt that gave up, before " (gave up ...)"
    QTest::addColumn<int>("status");

    QTest::newRow("truncated 2xx body") << QStringLiteral("truncate=1") << QStringLiteral("transport")
                                        << QStringLiteral("HTTP 200 with a truncated body") << 200;
    QTest::newRow("reset mid-body") << QStringLiteral("reset_mid_body=1") << QStringLiteral("transport")
                                    << QStringLiteral("HTTP 200 with a truncated body") << 200;
    QTest::newRow("2xx not JSON") << QStringLiteral("body=garbage") << QStringLiteral("transport")
                                  << QStringLiteral("HTTP 200 whose body is not a JSON object") << 200;
    QTest::newRow("500") << QStringLiteral("status=500") << QStringLiteral("server")
                         << QStringLiteral("HTTP 500: Simulated server error") << 500;
    QTest::newRow("502 not JSON") << QStringLiteral("status=502,body=garbage") << QStringLiteral("server")
                                  << QStringLiteral("HTTP 502") << 502;
    QTest::newRow("504 truncated") << QStringLiteral("status=504,truncate=1") << QStringLiteral("server")
                                   << QStringLiteral("HTTP 504") << 504;
}

void tst_Hostile::brokenReplies()
{
    QFETCH(QString, directive);
    QFETCH(QString, errorClass);
    QFETCH(QString, message);
    QFETCH(int, status);

    Simulator sim;
    QVERIFY(sim.listen());
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("once"), QStringLiteral("@sim(%1,times=1)").arg(directive)),
        Test::promptLine(QStringLiteral("always"), QStringLiteral("@sim(%1)").arg(directive)),
        Test::promptLine(QStringLiteral("fine"), QStringLiteral("no fault here"))};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 3), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));

    QCOMPARE(out.results.size(), 2);
    const json *once = recordFor(out.results, QStringLiteral("once"));
    QVERIFY(once);
    QCOMPARE(once->at("attempts").get<int>(), 2); // retried once, then whole
    QVERIFY(once->at("response").at("body").contains("choices"));
    const json *fine = recordFor(out.results, QStringLiteral("fine"));
    QVERIFY(fine);
    QCOMPARE(fine->at("attempts").get<int>(), 1);

    QCOMPARE(out.errors.size(), 1);
    const json &e = out.errors.first();
    QCOMPARE(text(e.at("custom_id")), QStringLiteral("always"));
    QCOMPARE(text(e.at("error_class")), errorClass);
    QCOMPARE(text(e.at("error")), message + QStringLiteral(" (gave up after 3 attempts)"));
    QCOMPARE(e.at("status").get<int>(), status);
    QCOMPARE(e.at("attempts").get<int>(), 3);
    QCOMPARE(sim.stats().requests, 6);
    QCOMPARE(sim.stats().ok, 2); // nothing broken was counted as served
}

void tst_Hostile::dripHitsTheTotalDeadline()
{
    // One byte every 100 ms keeps Qt's idle timer from ever firing: only the total deadline ends it.
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.timeoutS = 1;
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("once"), QStringLiteral("@sim(drip_ms=100,times=1)")),
        Test::promptLine(QStringLiteral("always"), QStringLiteral("@sim(drip_ms=100)"))};
    const RunOutput out = run(projectWith(e, 2), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(out.results.first().at("attempts").get<int>(), 2);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("custom_id")), QStringLiteral("always"));
    QCOMPARE(text(error.at("error_class")), QStringLiteral("timeout"));
    QCOMPARE(text(error.at("error")),
             QStringLiteral("timeout: no complete reply within the attempt deadline of 1 s (gave up after 2 "
                            "attempts)"));
    QCOMPARE(error.at("status").get<int>(), 200); // the headers came; the body never did

    // The retry of "once" left one deadline after its first send, not at Qt's idle backstop.
    const auto received = sim.received();
    QCOMPARE(received.size(), 4);
    QList<double> onceAt;
    for (const Simulator::Received &r : received) {
        if (r.text.contains(QStringLiteral("times=1"))) {
            onceAt.append(r.atMs);
        }
    }
    QCOMPARE(onceAt.size(), 2);
    const double gap = onceAt.at(1) - onceAt.at(0);
    QVERIFY2(gap >= 950 && gap < 1800, qPrintable(QStringLiteral("retried after %1 ms").arg(gap)));
    QCOMPARE(sim.stats().ok, 1);
}

void tst_Hostile::neverAnswered()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.timeoutS = 1;
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("once"), QStringLiteral("@sim(hang=1,times=1)")),
        Test::promptLine(QStringLiteral("always"), QStringLiteral("@sim(hang=1)"))};
    QElapsedTimer clock;
    clock.start();
    const RunOutput out = run(projectWith(e, 2), lines);
    QVERIFY(out.finished);
    QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(text(out.results.first().at("custom_id")), QStringLiteral("once"));
    QCOMPARE(out.results.first().at("attempts").get<int>(), 2);
    QCOMPARE(out.errors.size(), 1);
    QCOMPARE(text(out.errors.first().at("error_class")), QStringLiteral("timeout"));
    QCOMPARE(text(out.errors.first().at("error")),
             QStringLiteral("timeout: no complete reply within the attempt deadline of 1 s (gave up after 2 "
                            "attempts)"));
    QCOMPARE(sim.stats().hangs, 3);
    QCOMPARE(sim.stats().ok, 1);
    int unanswered = 0;
    for (const Simulator::Received &r : sim.received()) {
        unanswered += r.status == -1 ? 1 : 0;
    }
    QCOMPARE(unanswered, 3);
}

void tst_Hostile::shortDeadlinesDoNotWaitBehindLongOnes()
{
    // Transport alone: an attempt with a 3 s deadline is sent first, one with 0.5 s second. Both drip,
    // so only the deadlines can end them; the short one must not wait for the long one.
    Simulator sim;
    QVERIFY(sim.listen());
    EndpointConfig slow = endpointFor(sim.chatUrl(), QStringLiteral("slow"));
    slow.timeoutS = 3;
    EndpointConfig quick = endpointFor(sim.chatUrl(), QStringLiteral("quick"));
    quick.timeoutS = 0.5;
    QnamTransport transport(SteadyClock::instance());
    transport.setEndpoints({slow, quick}, {QByteArray(), QByteArray()});
    QList<AttemptResult> results;
    transport.setResultHandler([&results](AttemptResult &&r) { results.append(std::move(r)); });
    const quint64 slowTicket = transport.send(0, chatBody(QStringLiteral("@sim(drip_ms=100) slow")));
    const quint64 quickTicket = transport.send(1, chatBody(QStringLiteral("@sim(drip_ms=100) quick")));
    QTRY_COMPARE_WITH_TIMEOUT(results.size(), 1, 2500);
    const AttemptResult &first = results.first();
    QCOMPARE(first.ticket, quickTicket);
    QVERIFY(first.report.timedOut);
    QVERIFY(!first.report.cancelled);
    QVERIFY2(first.latencyMs >= 500 && first.latencyMs < 1000, qPrintable(QString::number(first.latencyMs)));
    QCOMPARE(Classifier::classify(first.report).message,
             QStringLiteral("timeout: no complete reply within the attempt deadline of 0.5 s"));

    // Cancelling the other one is a cancel, not a timeout.
    transport.abortAll();
    QTRY_COMPARE(results.size(), 2);
    QCOMPARE(results.at(1).ticket, slowTicket);
    QVERIFY(results.at(1).report.cancelled);
    QVERIFY(!results.at(1).report.timedOut);
    QCOMPARE(toString(Classifier::classify(results.at(1).report).cls), QStringLiteral("cancelled"));
    QCOMPARE(transport.totalInFlight(), 0);
}

void tst_Hostile::userStopIsNotATimeout()
{
    // Hung requests with a long deadline; a hard stop ends them as cancelled, at once.
    Simulator sim;
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.timeoutS = 30;
    QList<json> lines;
    for (int i = 0; i < 4; ++i) {
        lines.append(
            Test::promptLine(QStringLiteral("h%1").arg(i), QStringLiteral("@sim(hang=1) %1").arg(i)));
    }
    QElapsedTimer clock;
    clock.start();
    const RunOutput out = run(projectWith(e, 3), lines, 10000, [&sim](Engine &engine) {
        QTRY_COMPARE(sim.stats().hangs, 4);
        engine.abort();
    });
    QVERIFY(out.finished);
    QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.errors.size(), 4);
    for (const json &error : out.errors) {
        QCOMPARE(text(error.at("error_class")), QStringLiteral("cancelled"));
        QCOMPARE(text(error.at("error")), QStringLiteral("cancelled: the run was stopped"));
        QCOMPARE(error.at("attempts").get<int>(), 1);
    }
    QCOMPARE(out.summary.errorsByClass.value(QStringLiteral("timeout")), 0);
}

void tst_Hostile::gracefulStopDuringAHangEndsAtTheDeadline()
{
    // A graceful stop waits for requests in flight; a hung one ends at its deadline, as a timeout.
    Simulator sim;
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.timeoutS = 1;
    const QList<json> lines = {Test::promptLine(QStringLiteral("h"), QStringLiteral("@sim(hang=1)"))};
    const RunOutput out = run(projectWith(e, 3), lines, 10000, [&sim](Engine &engine) {
        QTRY_COMPARE(sim.stats().hangs, 1);
        engine.stop();
    });
    QVERIFY(out.finished);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("error_class")), QStringLiteral("timeout"));
    QCOMPARE(text(error.at("error")),
             QStringLiteral("timeout: no complete reply within the attempt deadline of 1 s (run stopped "
                            "before a retry)"));
    QCOMPARE(error.at("attempts").get<int>(), 1);
}

void tst_Hostile::redirectsAreNotFollowed_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("target"); // {port} = the first server's port, {other} = the other server's
    QTest::addColumn<QString>("origin");
    QTest::addColumn<bool>("crossOrigin");

    QTest::newRow("307 same origin") << 307 << QStringLiteral("http://127.0.0.1:{port}/v2/chat/completions")
                                     << QStringLiteral("http://127.0.0.1:{port}") << false;
    QTest::newRow("308 relative, same origin") << 308 << QStringLiteral("/moved/chat/completions")
                                               << QStringLiteral("http://127.0.0.1:{port}") << false;
    QTest::newRow("307 other port") << 307 << QStringLiteral("http://127.0.0.1:{other}/v1/chat/completions")
                                    << QStringLiteral("http://127.0.0.1:{other}") << true;
    QTest::newRow("302 other port, token in the query")
        << 302 << QStringLiteral("http://127.0.0.1:{other}/steal?token=hunter2")
        << QStringLiteral("http://127.0.0.1:{other}") << true;
    QTest::newRow("301 other host") << 301 << QStringLiteral("http://localhost:{other}/v1/chat/completions")
                                    << QStringLiteral("http://localhost:{other}") << true;
    QTest::newRow("303 other scheme") << 303 << QStringLiteral("https://127.0.0.1:{port}/v1/chat/completions")
                                      << QStringLiteral("https://127.0.0.1:{port}") << true;
}

void tst_Hostile::redirectsAreNotFollowed()
{
    QFETCH(int, status);
    QFETCH(QString, target);
    QFETCH(QString, origin);
    QFETCH(bool, crossOrigin);

    Simulator sim;
    Simulator other; // where a followed redirect (and the key with it) would land
    sim.setRecording(true);
    other.setRecording(true);
    QVERIFY(sim.listen());
    QVERIFY(other.listen());
    const auto ports = [&](QString s) {
        return s.replace(QLatin1String("{port}"), QString::number(sim.port()))
            .replace(QLatin1String("{other}"), QString::number(other.port()));
    };
    const QString location = ports(target);
    const QList<json> lines = {Test::promptLine(
        QStringLiteral("moved"), QStringLiteral("@sim(redirect=%1,status=%2)").arg(location).arg(status))};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 5), lines);
    QVERIFY(out.finished); // (also: the key is in no record)
    QCOMPARE(out.results.size(), 0);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("error_class")), QStringLiteral("client"));
    QCOMPARE(error.at("status").get<int>(), status);
    QCOMPARE(error.at("attempts").get<int>(), 1); // never retried
    const QString expectedOrigin = ports(origin);
    QCOMPARE(text(error.at("error")),
             QStringLiteral("HTTP %1: unexpected redirect to %2, %3 (not followed)")
                 .arg(status)
                 .arg(expectedOrigin,
                      crossOrigin ? QStringLiteral("another origin") : QStringLiteral("the same origin")));
    QVERIFY(!text(error.at("error")).contains(QStringLiteral("hunter2")));

    // The first server saw the key; the other one saw nothing at all.
    QCOMPARE(sim.received().size(), 1);
    QCOMPARE(sim.received().first().authorization, QStringLiteral("present"));
    QCOMPARE(sim.stats().redirects, 1);
    QCOMPARE(other.stats().connections, 0);
    QVERIFY(other.received().isEmpty());
}

void tst_Hostile::serverErrorBurst()
{
    // Two 5xx in a row for some lines (500, 502, 504): retried to success (within the retry budget,
    // which allows 10 retries at once); a line that keeps failing gives up after max_attempts with its
    // last error.
    Simulator sim;
    QVERIFY(sim.listen());
    QList<json> lines;
    const QStringList statuses = {QStringLiteral("500"), QStringLiteral("502"), QStringLiteral("504")};
    for (int i = 0; i < 24; ++i) {
        const QString prompt =
            i % 8 == 0 ? QStringLiteral("@sim(status=%1,times=2) burst %2").arg(statuses.at(i / 8)).arg(i)
                       : QStringLiteral("calm %1").arg(i);
        lines.append(Test::promptLine(QStringLiteral("b%1").arg(i), prompt));
    }
    lines.append(Test::promptLine(QStringLiteral("down"), QStringLiteral("@sim(status=500)")));
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 3), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 24);
    for (const json &r : out.results) {
        const bool burst = text(r.at("custom_id")).mid(1).toInt() % 8 == 0;
        QCOMPARE(r.at("attempts").get<int>(), burst ? 3 : 1);
    }
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("custom_id")), QStringLiteral("down"));
    QCOMPARE(text(error.at("error_class")), QStringLiteral("server"));
    QCOMPARE(text(error.at("error")),
             QStringLiteral("HTTP 500: Simulated server error (gave up after 3 attempts)"));
    QCOMPARE(sim.stats().serverErrors, 3 * 2 + 3);
    QCOMPARE(sim.stats().ok, 24);
}

void tst_Hostile::overloaded529()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.messagesUrl());
    QVERIFY(e.provider == Provider::Anthropic);
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("once"), QStringLiteral("@sim(status=529,times=1)")),
        Test::promptLine(QStringLiteral("always"), QStringLiteral("@sim(status=529)"))};
    const RunOutput out = run(projectWith(e, 2), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(text(out.results.first().at("custom_id")), QStringLiteral("once"));
    QCOMPARE(out.results.first().at("attempts").get<int>(), 2);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("error_class")), QStringLiteral("overloaded"));
    QCOMPARE(text(error.at("error")), QStringLiteral("HTTP 529: Overloaded (gave up after 2 attempts)"));
    QCOMPARE(error.at("status").get<int>(), 529);
    // An overloaded endpoint pauses before it is sent anything again.
    const auto received = sim.received();
    QCOMPARE(received.size(), 4);
    const double gap = received.at(2).atMs - received.at(1).atMs;
    QVERIFY2(gap >= EndpointLimiter::OverloadPauseMs * 0.95, qPrintable(QString::number(gap)));
}

void tst_Hostile::rateLimited_data()
{
    QTest::addColumn<QString>("headers");
    QTest::addColumn<double>("minGapMs");

    QTest::newRow("Retry-After") << QStringLiteral("retry_after=1") << 1000.0;
    QTest::newRow("retry-after-ms") << QStringLiteral("retry_after_ms=400") << 400.0;
    QTest::newRow("no headers") << QString() << double(EndpointLimiter::FirstPauseMs);
}

void tst_Hostile::rateLimited()
{
    QFETCH(QString, headers);
    QFETCH(double, minGapMs);

    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    const QString directive = headers.isEmpty() ? QStringLiteral("@sim(status=429,times=1)")
                                                : QStringLiteral("@sim(status=429,times=1,%1)").arg(headers);
    const QList<json> lines = {Test::promptLine(QStringLiteral("x"), directive)};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 3), lines);
    QVERIFY(out.finished);
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(out.errors.size(), 0);
    QCOMPARE(out.results.first().at("attempts").get<int>(), 2);
    QCOMPARE(out.summary.rateLimited, 1);
    const auto received = sim.received();
    QCOMPARE(received.size(), 2);
    QCOMPARE(received.at(0).status, 429);
    const double gap = received.at(1).atMs - received.at(0).atMs;
    // (5 % slack: the engine's wake timer is a coarse timer.)
    QVERIFY2(gap >= minGapMs * 0.95 && gap < minGapMs + 1500, qPrintable(QString::number(gap)));
}

void tst_Hostile::rateLimitedGivesUp()
{
    Simulator sim;
    QVERIFY(sim.listen());
    const QList<json> lines = {Test::promptLine(QStringLiteral("x"), QStringLiteral("@sim(status=429)"))};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 3), lines);
    QVERIFY(out.finished);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("error_class")), QStringLiteral("rate_limited"));
    QCOMPARE(text(error.at("error")),
             QStringLiteral("HTTP 429: Rate limit reached (simulated) (gave up after 3 "
                            "attempts)"));
    QCOMPARE(error.at("attempts").get<int>(), 3);
    QCOMPARE(sim.stats().rateLimited, 3);
}

void tst_Hostile::insufficientQuota()
{
    Simulator sim;
    QVERIFY(sim.listen());
    const QList<json> lines = {
        Test::promptLine(QStringLiteral("q"), QStringLiteral("@sim(status=429,code=insufficient_quota)"))};
    const RunOutput out = run(projectWith(endpointFor(sim.chatUrl()), 5), lines);
    QVERIFY(out.finished);
    QCOMPARE(out.results.size(), 0);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("error_class")), QStringLiteral("quota"));
    QCOMPARE(text(error.at("error")),
             QStringLiteral("HTTP 429: You exceeded your current quota (simulated)"));
    QCOMPARE(error.at("attempts").get<int>(), 1); // never retried against an exhausted quota
    QCOMPARE(error.at("status").get<int>(), 429);
    QCOMPARE(sim.stats().requests, 1);
}

void tst_Hostile::serverDiesAndComesBack()
{
    // The server goes away mid-run (listening socket and open connections) and comes back on the same
    // port 600 ms later. Requests in flight and those sent meanwhile wait for it (holding their slots),
    // and every line ends exactly once, as a result.
    SimulatorConfig config;
    config.latencyMs = 10;
    Simulator sim(config);
    QVERIFY(sim.listen());
    const quint16 port = sim.port();
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.maxInFlight = 4;
    ProjectConfig project = projectWith(e, 5);
    QList<json> lines;
    for (int i = 0; i < 150; ++i) {
        lines.append(Test::promptLine(QStringLiteral("d%1").arg(i), QStringLiteral("line %1").arg(i)));
    }
    bool relistened = false;
    std::optional<MetricsSnapshot> duringOutage;
    const RunOutput out = run(project, lines, 30000, [&](Engine &engine) {
        QTRY_VERIFY(engine.snapshot().succeeded >= 30);
        sim.close(); // the listening socket and every open connection, with replies in progress
        QTimer::singleShot(600, &sim, [&] {
            duringOutage = engine.snapshot();
            relistened = bool(sim.listen(port));
        });
    });
    QVERIFY(out.finished);
    QVERIFY(relistened);
    QVERIFY(duringOutage);
    QCOMPARE(duringOutage->failed, 0);
    QVERIFY(duringOutage->succeeded < 150);
    QCOMPARE(duringOutage->endpoints.at(0).inFlight, 4); // every slot waiting for the server
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 150);
    QCOMPARE(out.errors.size(), 0);
    for (const json &r : out.results) {
        QVERIFY(r.at("attempts").get<int>() <= 2); // a reply cut by the close is sent once more at most
    }
}

void tst_Hostile::serverGoneForGood()
{
    // The server answers once, then is gone for good: the attempts that find it gone try to connect
    // again within their deadline, then end with a precise error; nothing waits forever.
    SimulatorConfig config;
    config.latencyMs = 300;
    Simulator sim(config);
    QVERIFY(sim.listen());
    EndpointConfig e = endpointFor(sim.chatUrl());
    e.maxInFlight = 1;
    e.timeoutS = 1;
    const QList<json> lines = {Test::promptLine(QStringLiteral("first"), QStringLiteral("answered")),
                               Test::promptLine(QStringLiteral("second"), QStringLiteral("never answered"))};
    QElapsedTimer clock;
    clock.start();
    const RunOutput out = run(projectWith(e, 2), lines, 10000, [&sim](Engine &engine) {
        QTRY_COMPARE(engine.snapshot().succeeded, 1);
        sim.close();
    });
    QVERIFY(out.finished);
    QVERIFY2(clock.elapsed() < 4000, qPrintable(QString::number(clock.elapsed())));
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(out.errors.size(), 1);
    const json &error = out.errors.first();
    QCOMPARE(text(error.at("custom_id")), QStringLiteral("second"));
    QCOMPARE(text(error.at("error_class")), QStringLiteral("transport"));
    const QRegularExpression expected(QStringLiteral(
        "^transport: Connection refused \\(the server answered earlier in the run; still refused "
        "after [1-9][0-9]* more tries\\) \\(gave up after 2 "
        "attempts\\)$"));
    QVERIFY2(expected.match(text(error.at("error"))).hasMatch(), qPrintable(text(error.at("error"))));
    QCOMPARE(error.at("attempts").get<int>(), 2);
}

void tst_Hostile::tls_data()
{
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<bool>("insecure");
    QTest::addColumn<QString>("error"); // empty: success

    const QString refused =
        QStringLiteral("TLS: the server's certificate is not trusted: The certificate is "
                       "self-signed, and untrusted (set the endpoint's ca_file to trust its "
                       "CA)");
    QTest::newRow("verified by default: refused") << QString() << false << refused;
    QTest::newRow("ca_file trusts it") << QStringLiteral("sim-tls.crt") << false << QString();
    QTest::newRow("ca_file of another CA: refused") << QStringLiteral("other-ca.crt") << false << refused;
    QTest::newRow("tls_insecure") << QString() << true << QString();
}

void tst_Hostile::tls()
{
    QFETCH(QString, caFile);
    QFETCH(bool, insecure);
    QFETCH(QString, error);

    Simulator sim;
    QVERIFY(sim.setTls(DataDir + QStringLiteral("/sim-tls.crt"), DataDir + QStringLiteral("/sim-tls.key")));
    QVERIFY(sim.listen());
    QCOMPARE(sim.chatUrl().scheme(), QStringLiteral("https"));
    EndpointConfig e = endpointFor(sim.chatUrl());
    if (!caFile.isEmpty()) {
        e.caFile = DataDir + QLatin1Char('/') + caFile;
    }
    e.tlsInsecure = insecure;
    const QList<json> lines = {Test::promptLine(QStringLiteral("t1"), QStringLiteral("over TLS 1")),
                               Test::promptLine(QStringLiteral("t2"), QStringLiteral("over TLS 2"))};
    const RunOutput out = run(projectWith(e, 4), lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    if (error.isEmpty()) {
        QCOMPARE(out.results.size(), 2);
        QCOMPARE(sim.stats().ok, 2);
        QCOMPARE(sim.stats().tlsFailures, 0);
        return;
    }
    QCOMPARE(out.errors.size(), 2);
    for (const json &record : out.errors) {
        QCOMPARE(text(record.at("error_class")), QStringLiteral("transport"));
        QCOMPARE(text(record.at("error")), error);
        QCOMPARE(record.at("attempts").get<int>(), 1); // the same certificate would be refused again
    }
    QCOMPARE(sim.stats().requests, 0); // no request (and no key) went over the refused connection
    QTRY_VERIFY(sim.stats().tlsFailures >= 1);
}

void tst_Hostile::proxyFromEnvironment_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QStringList>("environment"); // NAME=value
    QTest::addColumn<QString>("expected");        // "none" or "http host:port" / "socks5 host:port"

    const QString api = QStringLiteral("https://api.example.com/v1/chat/completions");
    const QString plain = QStringLiteral("http://api.example.com/v1/chat/completions");
    QTest::newRow("nothing set") << api << QStringList() << QStringLiteral("none");
    QTest::newRow("https_proxy") << api << QStringList{QStringLiteral("https_proxy=http://proxy.corp:3128")}
                                 << QStringLiteral("http proxy.corp:3128");
    QTest::newRow("HTTPS_PROXY, no scheme, default port")
        << api << QStringList{QStringLiteral("HTTPS_PROXY=proxy.corp")}
        << QStringLiteral("http proxy.corp:80");
    QTest::newRow("http_proxy is not used for https")
        << api << QStringList{QStringLiteral("http_proxy=http://p:1")} << QStringLiteral("none");
    QTest::newRow("http_proxy for http")
        << plain << QStringList{QStringLiteral("http_proxy=http://p:8080")} << QStringLiteral("http p:8080");
    QTest::newRow("HTTP_PROXY is ignored (httpoxy)")
        << plain << QStringList{QStringLiteral("HTTP_PROXY=http://p:8080")} << QStringLiteral("none");
    QTest::newRow("all_proxy socks5")
        << api << QStringList{QStringLiteral("all_proxy=socks5://s:1081")} << QStringLiteral("socks5 s:1081");
    QTest::newRow("https_proxy wins over all_proxy")
        << api
        << QStringList{QStringLiteral("all_proxy=socks5://s"), QStringLiteral("https_proxy=http://h:1")}
        << QStringLiteral("http h:1");
    QTest::newRow("no_proxy domain") << api
                                     << QStringList{QStringLiteral("https_proxy=http://p:1"),
                                                    QStringLiteral("no_proxy=foo.org, example.com")}
                                     << QStringLiteral("none");
    QTest::newRow("no_proxy leading dot and port")
        << api
        << QStringList{QStringLiteral("https_proxy=http://p:1"), QStringLiteral("NO_PROXY=.example.com:443")}
        << QStringLiteral("none");
    QTest::newRow("no_proxy is not a substring match")
        << api << QStringList{QStringLiteral("https_proxy=http://p:1"), QStringLiteral("no_proxy=ample.com")}
        << QStringLiteral("http p:1");
    QTest::newRow("no_proxy star") << api
                                   << QStringList{QStringLiteral("https_proxy=http://p:1"),
                                                  QStringLiteral("no_proxy=*")}
                                   << QStringLiteral("none");
    QTest::newRow("loopback address never proxied")
        << QStringLiteral("http://127.0.0.1:8001/v1/chat/completions")
        << QStringList{QStringLiteral("http_proxy=http://p:1")} << QStringLiteral("none");
    QTest::newRow("localhost never proxied")
        << QStringLiteral("https://localhost:8443/v1/messages")
        << QStringList{QStringLiteral("https_proxy=http://p:1")} << QStringLiteral("none");
    QTest::newRow("::1 never proxied")
        << QStringLiteral("http://[::1]:9000/v1/messages")
        << QStringList{QStringLiteral("http_proxy=http://p:1")} << QStringLiteral("none");
    QTest::newRow("https:// proxy is refused, password not shown")
        << api << QStringList{QStringLiteral("https_proxy=https://user:secret@p:1")}
        << QStringLiteral("error proxy: https_proxy=https://p:1 cannot be used: only http:// and socks5:// "
                          "proxies are supported (no_proxy can exempt a host)");
    QTest::newRow("not a URL") << plain << QStringList{QStringLiteral("http_proxy=http://:secret@/")}
                               << QStringLiteral(
                                      "error proxy: http_proxy is not a proxy URL (http://host:port or "
                                      "socks5://host:port)");
}

void tst_Hostile::proxyFromEnvironment()
{
    QFETCH(QString, url);
    QFETCH(QStringList, environment);
    QFETCH(QString, expected);

    QProcessEnvironment env;
    for (const QString &item : environment) {
        const qsizetype eq = item.indexOf(QLatin1Char('='));
        env.insert(item.left(eq), item.mid(eq + 1));
    }
    const auto result = ConnectionSettings::proxyFor(QUrl(url), env);
    if (!result) {
        QCOMPARE(QStringLiteral("error ") + result.error().message, expected);
        return;
    }
    const QNetworkProxy proxy = *result;
    QString got = QStringLiteral("none");
    if (proxy.type() == QNetworkProxy::HttpProxy) {
        got = QStringLiteral("http %1:%2").arg(proxy.hostName()).arg(proxy.port());
    } else if (proxy.type() == QNetworkProxy::Socks5Proxy) {
        got = QStringLiteral("socks5 %1:%2").arg(proxy.hostName()).arg(proxy.port());
    } else if (proxy.type() != QNetworkProxy::NoProxy) {
        got = QStringLiteral("type %1").arg(int(proxy.type()));
    }
    QCOMPARE(got, expected);
}

void tst_Hostile::proxyIsUsedAndLoopbackBypassesIt()
{
    // A simulator as the HTTP proxy: it gets the absolute-form request for a host that does not exist.
    Simulator proxy;
    proxy.setRecording(true);
    QVERIFY(proxy.listen());
    Simulator direct;
    QVERIFY(direct.listen());
    qputenv("http_proxy", QStringLiteral("http://127.0.0.1:%1").arg(proxy.port()).toLatin1());

    ProjectConfig project;
    project.endpoints = {
        endpointFor(QUrl(QStringLiteral("http://sluice-proxy-test.invalid/v1/chat/completions")),
                    QStringLiteral("via-proxy")),
        endpointFor(direct.chatUrl(), QStringLiteral("loopback"))};
    project.limits.retry.maxAttempts = 1;
    QList<json> lines;
    for (int i = 0; i < 10; ++i) {
        lines.append(Test::promptLine(QStringLiteral("p%1").arg(i), QStringLiteral("proxied? %1").arg(i)));
    }
    const RunOutput out = run(project, lines);
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.errors.size(), 0);
    QCOMPARE(out.results.size(), 10);
    QCOMPARE(proxy.stats().ok, 5);
    QCOMPARE(direct.stats().ok, 5); // loopback went straight to the server, not through the proxy
    for (const Simulator::Received &r : proxy.received()) {
        QCOMPARE(r.path, QStringLiteral("http://sluice-proxy-test.invalid/v1/chat/completions"));
    }
}

void tst_Hostile::unusableProxyFailsLoudly()
{
    // An https:// proxy (Qt 6.4 cannot speak to one) is not silently skipped: going direct could
    // bypass a proxy the network requires. Every line gets the precise reason, without retries.
    qputenv("https_proxy", QByteArrayLiteral("https://user:secret@127.0.0.1:9"));
    ProjectConfig project = projectWith(
        endpointFor(QUrl(QStringLiteral("https://sluice-proxy-test.invalid/v1/chat/completions"))), 5);
    const QList<json> lines = {Test::promptLine(QStringLiteral("x1"), QStringLiteral("one")),
                               Test::promptLine(QStringLiteral("x2"), QStringLiteral("two"))};
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("cannot be used")));
    const RunOutput out = run(project, lines);
    qunsetenv("https_proxy");
    QVERIFY(out.finished);
    QVERIFY2(exactlyOnce(idsOf(lines), out).isEmpty(), qPrintable(exactlyOnce(idsOf(lines), out)));
    QCOMPARE(out.errors.size(), 2);
    for (const json &error : out.errors) {
        QCOMPARE(text(error.at("error_class")), QStringLiteral("transport"));
        QCOMPARE(text(error.at("error")),
                 QStringLiteral("proxy: https_proxy=https://127.0.0.1:9 cannot be used: only http:// and "
                                "socks5:// proxies are supported (no_proxy can exempt a host)"));
        QCOMPARE(error.at("attempts").get<int>(), 1);
        QVERIFY(!QString::fromStdString(error.dump()).contains(QLatin1String("secret")));
    }
}

QTEST_GUILESS_MAIN(tst_Hostile)
#include "tst_hostile.moc"
