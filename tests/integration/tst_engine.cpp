// The engine against the real simulator over loopback HTTP, nothing faked: a few end-to-end smoke tests.
// The scheduling behaviour itself (weights, retries, limiter reactions, ejection, quota, pause/resume,
// stop) is tested sleep-free on the fake transport in tests/core/tst_scheduler.cpp.

#include "engine/engine.h"
#include "runfixture.h"
#include "sim/simulator.h"
#include "testprinters.h"

#include <QElapsedTimer>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct RunOutput
{
    MetricsSnapshot summary;
    QList<json> results;
    QList<json> errors;
};

QString text(const json &value)
{
    return QString::fromStdString(value.get<std::string>());
}

} // namespace

class tst_Engine : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void everyLineExactlyOnce();
    void resetsAndTimeoutsAreRetried();
    void anthropicEndpointGetsMessagesShape();
    void gracefulStopRecordsInFlight();
    void missingKeyVariableIsAConfigError();
    void adaptsToTheServersLimit_data();
    void adaptsToTheServersLimit();
    void deadEndpointTrafficMovesToTheLiveOne();
    void historyCsvHasEverySecond();

private:
    EndpointConfig endpointFor(const Simulator &sim, const QString &name, double weight = 1) const;
    RunOutput run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs = 30000,
                  const std::function<void(Engine &)> &whileRunning = {});

    std::unique_ptr<QTemporaryDir> m_dir;
    double m_giveUpMs = 60000; ///< RunOptions::unreachableGiveUpMs of run()
};

void tst_Engine::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_giveUpMs = 60000;
}

EndpointConfig tst_Engine::endpointFor(const Simulator &sim, const QString &name, double weight) const
{
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = name;
    e.weight = weight;
    e.model = QStringLiteral("test-model");
    e.timeoutS = 10;
    return e;
}

RunOutput tst_Engine::run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs,
                          const std::function<void(Engine &)> &whileRunning)
{
    RunOutput out;
    RunOptions options;
    options.requestsPath = m_dir->filePath(QStringLiteral("requests.jsonl"));
    options.outPath = m_dir->filePath(QStringLiteral("results.jsonl"));
    options.tickMs = 50;
    options.unreachableGiveUpMs = m_giveUpMs;
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
        return out;
    }
    out.summary = finished.first().first().value<MetricsSnapshot>();
    out.results = Test::readJsonl(options.outPath);
    out.errors = Test::readJsonl(engine.errorsPath());
    return out;
}

void tst_Engine::everyLineExactlyOnce()
{
    SimulatorConfig healthy;
    healthy.latencyMs = 2;
    healthy.jitterMs = 5;
    SimulatorConfig flaky = healthy;
    flaky.errorRate = 0.10;
    Simulator a(healthy);
    Simulator b(flaky);
    QVERIFY(a.listen());
    QVERIFY(b.listen());

    ProjectConfig project;
    project.endpoints = {endpointFor(a, QStringLiteral("a")), endpointFor(b, QStringLiteral("b"))};
    project.limits.retry.baseDelayMs = 5;
    project.limits.retry.maxDelayMs = 50;
    project.limits.retry.maxAttempts = 8;

    QList<json> lines;
    const int n = 2000;
    for (int i = 1; i <= n; ++i) {
        switch (i % 4) {
        case 0:
            lines.append(
                json{{"custom_id", "r" + std::to_string(i)},
                     {"method", "POST"},
                     {"url", "/v1/chat/completions"},
                     {"body", {{"messages", {{{"role", "user"}, {"content", "hi " + std::to_string(i)}}}}}}});
            break;
        case 1:
            lines.append(json{{"input", "prompt " + std::to_string(i)}});
            break;
        case 2:
            lines.append(json{{"messages", {{{"role", "user"}, {"content", "chat " + std::to_string(i)}}}},
                              {"metadata", {{"k", i}}}});
            break;
        default:
            lines.append(
                json{{"custom_id", "r" + std::to_string(i)},
                     {"params", {{"max_tokens", 5}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}}});
        }
    }
    lines[9] = json("{not json");
    lines[19] = json("");               // blank: skipped, no record
    lines[29] = json(json::array({1})); // not an object
    lines[39] = {{"custom_id", "r4"}, {"input", "duplicate id"}};

    const RunOutput out = run(project, lines, 60000);
    QSet<qint64> seenLines;
    for (const QList<json> *file : {&out.results, &out.errors}) {
        for (const json &record : *file) {
            QVERIFY(!record.is_discarded());
            const qint64 line = record.at("line").get<qint64>();
            QVERIFY2(!seenLines.contains(line), qPrintable(QStringLiteral("line %1 twice").arg(line)));
            seenLines.insert(line);
        }
    }
    QCOMPARE(seenLines.size(), n - 1); // every non-blank line once
    QVERIFY(!seenLines.contains(20));
    QCOMPARE(out.errors.size(), 3);
    QCOMPARE(out.results.size(), n - 4);
    QCOMPARE(out.summary.succeeded, qint64(n - 4));
    QCOMPARE(out.summary.failed, qint64(3));
    QCOMPARE(out.summary.errorsByClass.value(QStringLiteral("invalid_input")), 2);
    QCOMPARE(out.summary.errorsByClass.value(QStringLiteral("duplicate_id")), 1);
    QVERIFY(out.summary.retries > 0); // the 10 % of 500s on b were retried...
    QVERIFY(out.summary.endpoints.at(1).errors > 0);
    for (const json &r : out.results) { // ...to success
        QCOMPARE(r.at("response").at("status_code").get<int>(), 200);
        QVERIFY(r.at("error").is_null());
        QVERIFY(r.at("response").at("body").contains("choices"));
        const qint64 line = r.at("line").get<qint64>();
        if (!lines.at(line - 1).contains("custom_id")) {
            QCOMPARE(text(r.at("custom_id")), QStringLiteral("line-%1").arg(line));
        }
    }
    QCOMPARE(a.stats().ok + b.stats().ok, qint64(n - 4)); // nothing paid for twice
}

void tst_Engine::resetsAndTimeoutsAreRetried()
{
    Simulator sim;
    QVERIFY(sim.listen());
    ProjectConfig project;
    EndpointConfig e = endpointFor(sim, QStringLiteral("a"));
    e.timeoutS = 0.3;
    project.endpoints = {e};
    project.limits.retry.baseDelayMs = 1;
    // A reset after part of the reply reaches the engine; Qt sends a request again on its own
    // (uncounted, up to twice) only after a reset before any reply byte, so those two are absorbed.
    const RunOutput out =
        run(project,
            {Test::promptLine(QStringLiteral("mid-body"), QStringLiteral("@sim(reset_mid_body=1,times=1)")),
             Test::promptLine(QStringLiteral("slow"), QStringLiteral("@sim(delay_ms=3000,times=1)")),
             Test::promptLine(QStringLiteral("early"), QStringLiteral("@sim(reset=1,times=2)"))});
    QCOMPARE(out.errors.size(), 0);
    QCOMPARE(out.results.size(), 3);
    QHash<QString, int> attempts;
    for (const json &r : out.results) {
        attempts.insert(text(r.at("custom_id")), r.at("attempts").get<int>());
    }
    QCOMPARE(attempts.value(QStringLiteral("mid-body")), 2);
    QCOMPARE(attempts.value(QStringLiteral("slow")), 2);
    QVERIFY(attempts.value(QStringLiteral("early")) >= 1 && attempts.value(QStringLiteral("early")) <= 2);
    QCOMPARE(sim.stats().resets, 3);
}

void tst_Engine::anthropicEndpointGetsMessagesShape()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    ProjectConfig project;
    EndpointConfig e = EndpointConfig::fromUrl(sim.messagesUrl(), 0);
    QVERIFY(e.provider == Provider::Anthropic);
    e.model = QStringLiteral("claude-test");
    project.endpoints = {e};
    const RunOutput out = run(project, {json{{"messages",
                                              {{{"role", "system"}, {"content", "be brief"}},
                                               {{"role", "user"}, {"content", "hello anthropic"}}}}}});
    QCOMPARE(out.results.size(), 1);
    const json &body = out.results.first().at("response").at("body");
    QCOMPARE(text(body.at("type")), QStringLiteral("message"));
    QCOMPARE(text(body.at("model")), QStringLiteral("claude-test"));
    QVERIFY(body.at("usage").at("input_tokens").get<int>() > 0);
    QCOMPARE(sim.received().first().path, QStringLiteral("/v1/messages"));
    QCOMPARE(out.summary.outputTokens, body.at("usage").at("output_tokens").get<qint64>());
}

void tst_Engine::gracefulStopRecordsInFlight()
{
    SimulatorConfig slow;
    slow.latencyMs = 200;
    Simulator sim(slow);
    QVERIFY(sim.listen());
    ProjectConfig project;
    project.endpoints = {endpointFor(sim, QStringLiteral("a"))};
    project.endpoints[0].maxInFlight = 8;
    QList<json> lines;
    for (int i = 0; i < 500; ++i) {
        lines.append(json{{"input", "s" + std::to_string(i)}});
    }
    const RunOutput out = run(project, lines, 30000, [](Engine &engine) {
        QTRY_VERIFY(engine.snapshot().succeeded >= 8);
        engine.stop();
        QVERIFY(engine.state() == RunState::Stopping);
    });
    QVERIFY(out.summary.state == RunState::Finished);
    QVERIFY(out.summary.notStarted > 0);
    QCOMPARE(out.results.size() + out.errors.size(), out.summary.done());
    QCOMPARE(qint64(out.results.size()), sim.stats().ok); // every answered request was recorded
    QCOMPARE(out.summary.done() + out.summary.notStarted, 500);
}

void tst_Engine::missingKeyVariableIsAConfigError()
{
    ProjectConfig project;
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.apiKeyEnv = QStringLiteral("SLUICE_TEST_SURELY_UNSET_KEY");
    project.endpoints = {e};
    RunOptions options;
    options.requestsPath = m_dir->filePath(QStringLiteral("in.jsonl"));
    options.outPath = m_dir->filePath(QStringLiteral("out.jsonl"));
    QVERIFY(Test::writeJsonl(options.requestsPath, {json{{"input", "x"}}}));
    Engine engine(project, options);
    const auto started = engine.start();
    QVERIFY(!started);
    QVERIFY(started.error().message.contains(QStringLiteral("SLUICE_TEST_SURELY_UNSET_KEY")));
    QVERIFY(!QFile::exists(options.outPath)); // nothing written
}

void tst_Engine::adaptsToTheServersLimit_data()
{
    QTest::addColumn<bool>("headers");
    QTest::newRow("rate-limit headers") << true;
    QTest::newRow("429s only") << false;
}

void tst_Engine::adaptsToTheServersLimit()
{
    // The operator configured 120/s; the server allows 40/s (burst 4). Nothing may be lost, and the
    // limiter must settle under the real limit instead of storming it.
    QFETCH(bool, headers);
    SimulatorConfig limited;
    limited.rps = 40;
    limited.burst = 4;
    limited.latencyMs = 20;
    limited.rateLimitHeaders = headers;
    Simulator sim(limited);
    QVERIFY(sim.listen());
    ProjectConfig project;
    EndpointConfig e = endpointFor(sim, QStringLiteral("a"));
    e.rpm = 7200;
    project.endpoints = {e};
    project.limits.retry.maxAttempts = 10;
    QList<json> lines;
    for (int i = 0; i < 120; ++i) {
        lines.append(json{{"input", "a" + std::to_string(i)}});
    }
    const RunOutput out = run(project, lines, 60000);
    QCOMPARE(out.results.size(), 120);
    QCOMPARE(out.errors.size(), 0);
    const double share429 = double(out.summary.rateLimited) / double(out.summary.issued);
    qInfo("429s: %lld of %lld attempts (%.1f %%), %.1f s", out.summary.rateLimited, out.summary.issued,
          share429 * 100, out.summary.elapsedMs / 1000);
    QVERIFY2(share429 <= (headers ? 0.01 : 0.10), qPrintable(QString::number(share429)));
    QCOMPARE(sim.stats().ok, 120); // nothing paid for twice
}

void tst_Engine::deadEndpointTrafficMovesToTheLiveOne()
{
    Simulator live;
    QVERIFY(live.listen());
    quint16 deadPort = 0;
    {
        Simulator gone; // a port that was just free: nothing listens there any more
        deadPort = gone.listen().value();
    }
    ProjectConfig project;
    EndpointConfig dead = endpointFor(live, QStringLiteral("dead"));
    dead.url.setPort(deadPort);
    dead.maxInFlight = 16;
    project.endpoints = {dead, endpointFor(live, QStringLiteral("live"))};
    QList<json> lines;
    for (int i = 0; i < 600; ++i) {
        lines.append(json{{"input", "d" + std::to_string(i)}});
    }
    const RunOutput out = run(project, lines, 60000);
    // Nothing lost to the dead endpoint: its failures are retried on the live one.
    QCOMPARE(out.errors.size(), 0);
    QCOMPARE(out.results.size(), 600);
    QCOMPARE(live.stats().ok, 600);
    const EndpointStats &d = out.summary.endpoints.at(0);
    QVERIFY2(d.sent <= 16 + 10, qPrintable(QString::number(d.sent))); // the first window, then probes
    QCOMPARE(d.ok, 0);
}

void tst_Engine::historyCsvHasEverySecond()
{
    Simulator sim;
    QVERIFY(sim.listen());
    ProjectConfig project;
    EndpointConfig e = endpointFor(sim, QStringLiteral("a"));
    e.rpm = 3000; // 50/s
    project.endpoints = {e};
    QList<json> lines;
    for (int i = 0; i < 120; ++i) {
        lines.append(json{{"input", "h" + std::to_string(i)}});
    }
    RunOptions options;
    options.requestsPath = m_dir->filePath(QStringLiteral("requests.jsonl"));
    options.outPath = m_dir->filePath(QStringLiteral("results.jsonl"));
    QVERIFY(Test::writeJsonl(options.requestsPath, lines));
    Engine engine(project, options);
    QSignalSpy finished(&engine, &Engine::finished);
    QVERIFY(engine.start());
    QVERIFY(finished.wait(30000));
    const QString csvPath = m_dir->filePath(QStringLiteral("history.csv"));
    QVERIFY(Metrics::writeHistoryCsv(csvPath, engine.history()));
    QFile csv(csvPath);
    QVERIFY(csv.open(QIODevice::ReadOnly));
    const QList<QByteArray> rows = csv.readAll().trimmed().split('\n');
    QCOMPARE(rows.first(),
             QByteArray("second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                        "output_tokens,p50_ms,p90_ms,p99_ms,streams,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,"
                        "itl_p50_ms,itl_p99_ms,stream_output_tokens_per_s,cost_usd,spent_usd"));
    qint64 issued = 0;
    qint64 succeeded = 0;
    for (qsizetype i = 1; i < rows.size(); ++i) {
        const QList<QByteArray> cells = rows.at(i).split(',');
        QCOMPARE(cells.size(), 21);
        QCOMPARE(cells.at(0).toLongLong(), i - 1);
        issued += cells.at(1).toLongLong();
        succeeded += cells.at(3).toLongLong();
        QVERIFY(cells.at(1).toLongLong() <= 52); // smoothed: never more than the rate in a second
        // Latency percentiles of the second's successes, ordered; none in a second without successes.
        const double p50 = cells.at(9).toDouble(), p90 = cells.at(10).toDouble(),
                     p99 = cells.at(11).toDouble();
        QVERIFY2(cells.at(3).toLongLong() > 0 ? p50 > 0 && p50 <= p90 && p90 <= p99 : p99 == 0,
                 rows.at(i).constData());
    }
    QCOMPARE(issued, 120);
    QCOMPARE(succeeded, 120);
    QVERIFY(rows.size() >= 3); // the ramp and the limit make it last over two seconds
}

QTEST_GUILESS_MAIN(tst_Engine)
#include "tst_engine.moc"
