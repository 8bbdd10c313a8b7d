// Streamed batch runs (issue 17) against the real simulator over loopback HTTP: the result lines of a
// streamed run have the shape of an unstreamed one (both dialects, text and tool calls), mid-stream
// faults end exactly once (retried, or failed; never a partial success), the stall timeout, and the
// time to first token against the simulator's first-token delay.

#include "engine/engine.h"
#include "runfixture.h"
#include "sim/simulator.h"
#include "testprinters.h"

#include <QElapsedTimer>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <functional>
#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct RunOutput
{
    MetricsSnapshot summary;
    QList<json> results;
    QList<json> errors;
    double wallMs = 0;
};

QString dumped(const json &value)
{
    return QString::fromStdString(value.dump());
}

QString text(const json &value)
{
    return QString::fromStdString(value.get<std::string>());
}

/// The keys of every object in `value`, as paths ("/response/body/choices/0/message/content"), with
/// the type of each leaf: the shape of a record, whatever its values.
void shape(const json &value, const std::string &path, QStringList &out)
{
    if (value.is_object()) {
        for (auto it = value.begin(); it != value.end(); ++it) {
            shape(it.value(), path + "/" + it.key(), out);
        }
    } else if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            shape(value[i], path + "/" + std::to_string(i), out);
        }
    } else {
        out << QString::fromStdString(path);
    }
}

QStringList shapeOf(const json &record)
{
    QStringList out;
    shape(record, "", out);
    out.sort();
    return out;
}

json line(const QString &id, const QString &message, bool tools)
{
    json body = {{"custom_id", id.toStdString()},
                 {"messages", {{{"role", "user"}, {"content", message.toStdString()}}}},
                 {"max_tokens", 200}};
    if (tools) {
        const json parameters = {{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}};
        const json function = {{"name", "lookup"}, {"description", "look it up"}, {"parameters", parameters}};
        body["tools"] = json::array({json{{"type", "function"}, {"function", function}}});
    }
    return body;
}

} // namespace

class tst_Streaming : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void resultsHaveTheUnstreamedShape_data();
    void resultsHaveTheUnstreamedShape();
    void midStreamFaultsEndExactlyOnce_data();
    void midStreamFaultsEndExactlyOnce();
    void stallTimeoutIsNotTheDeadline();
    void ttftFollowsTheFirstTokenDelay();

private:
    EndpointConfig endpointFor(const Simulator &sim, Provider provider) const;
    RunOutput run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs = 60000);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_Streaming::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

EndpointConfig tst_Streaming::endpointFor(const Simulator &sim, Provider provider) const
{
    EndpointConfig e =
        EndpointConfig::fromUrl(provider == Provider::Anthropic ? sim.messagesUrl() : sim.chatUrl(), 0);
    e.name = QStringLiteral("sim");
    e.model = QStringLiteral("test-model");
    e.timeoutS = 20;
    return e;
}

RunOutput tst_Streaming::run(const ProjectConfig &project, const QList<json> &lines, int timeoutMs)
{
    RunOutput out;
    RunOptions options;
    options.requestsPath = m_dir->filePath(QStringLiteral("requests.jsonl"));
    options.outPath = m_dir->filePath(QStringLiteral("results.jsonl"));
    options.overwrite = true;
    options.tickMs = 50;
    if (!Test::writeJsonl(options.requestsPath, lines)) {
        qWarning("cannot write the input");
        return out;
    }
    Engine engine(project, options);
    QSignalSpy finished(&engine, &Engine::finished);
    QElapsedTimer wall;
    wall.start();
    const auto started = engine.start();
    if (!started) {
        qWarning("%s", qPrintable(started.error().message));
        return out;
    }
    if (!finished.wait(timeoutMs)) {
        qWarning("run did not finish");
        return out;
    }
    out.wallMs = double(wall.elapsed());
    out.summary = finished.first().first().value<MetricsSnapshot>();
    out.results = Test::readJsonl(options.outPath);
    out.errors = Test::readJsonl(engine.errorsPath());
    return out;
}

void tst_Streaming::resultsHaveTheUnstreamedShape_data()
{
    QTest::addColumn<int>("provider");
    QTest::addColumn<bool>("tools");
    QTest::newRow("openai text") << int(Provider::OpenAI) << false;
    QTest::newRow("openai tool calls") << int(Provider::OpenAI) << true;
    QTest::newRow("anthropic text") << int(Provider::Anthropic) << false;
    QTest::newRow("anthropic tool use") << int(Provider::Anthropic) << true;
}

void tst_Streaming::resultsHaveTheUnstreamedShape()
{
    QFETCH(int, provider);
    QFETCH(bool, tools);
    SimulatorConfig config;
    config.chunksPerReply = 6;
    config.firstTokenMs = 20;
    config.chunkIntervalMs = 3;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    QList<json> lines;
    for (int i = 0; i < 20; ++i) {
        lines.append(line(QStringLiteral("r%1").arg(i),
                          QStringLiteral("question number %1 about tides").arg(i), tools));
    }
    QHash<QString, json> byMode[2];
    for (const bool stream : {false, true}) {
        ProjectConfig project;
        EndpointConfig e = endpointFor(sim, Provider(provider));
        e.stream = stream;
        project.endpoints = {e};
        const RunOutput out = run(project, lines);
        QCOMPARE(out.results.size(), 20);
        QCOMPARE(out.errors.size(), 0);
        QCOMPARE(out.summary.streams, stream ? qint64(20) : qint64(0));
        for (const json &r : out.results) {
            byMode[stream ? 1 : 0].insert(text(r.at("custom_id")), r);
        }
    }
    QCOMPARE(sim.stats().streamsStarted, qint64(20));
    QCOMPARE(sim.stats().streamsCompleted, qint64(20));
    for (auto it = byMode[0].cbegin(); it != byMode[0].cend(); ++it) {
        const json &plain = it.value();
        const json &streamed = byMode[1].value(it.key());
        // The same record shape: every key and every leaf of the reply, nothing more, nothing less.
        QCOMPARE(shapeOf(streamed), shapeOf(plain));
        const json &a = plain.at("response").at("body");
        const json &b = streamed.at("response").at("body");
        if (Provider(provider) == Provider::Anthropic) {
            QCOMPARE(dumped(b.at("stop_reason")), dumped(a.at("stop_reason")));
            QCOMPARE(dumped(b.at("usage")), dumped(a.at("usage")));
            QCOMPARE(b.at("content").size(), a.at("content").size());
            const json &blockA = a.at("content").at(0);
            const json &blockB = b.at("content").at(0);
            QCOMPARE(dumped(blockB.at("type")), dumped(blockA.at("type")));
            QCOMPARE(dumped(blockB.value("text", json())), dumped(blockA.value("text", json())));
            QCOMPARE(dumped(blockB.value("input", json())), dumped(blockA.value("input", json())));
            QCOMPARE(dumped(blockB.value("name", json())), dumped(blockA.value("name", json())));
            QCOMPARE(text(b.at("stop_reason")),
                     tools ? QStringLiteral("tool_use") : QStringLiteral("end_turn"));
        } else {
            const json &ca = a.at("choices").at(0);
            const json &cb = b.at("choices").at(0);
            QCOMPARE(dumped(cb.at("finish_reason")), dumped(ca.at("finish_reason")));
            QCOMPARE(dumped(b.at("usage")), dumped(a.at("usage")));
            QCOMPARE(dumped(cb.at("message").at("content")), dumped(ca.at("message").at("content")));
            if (tools) {
                QCOMPARE(dumped(cb.at("message").at("tool_calls").at(0).at("function")),
                         dumped(ca.at("message").at("tool_calls").at(0).at("function")));
                QCOMPARE(text(cb.at("finish_reason")), QStringLiteral("tool_calls"));
            }
        }
        QVERIFY(plain.at("ttft_ms").is_null());
        QVERIFY(plain.at("output_tokens_per_s").is_null());
        QVERIFY2(streamed.at("ttft_ms").get<double>() >= 20, streamed.dump().c_str());
        QVERIFY2(streamed.at("output_tokens_per_s").get<double>() > 0, streamed.dump().c_str());
    }
}

void tst_Streaming::midStreamFaultsEndExactlyOnce_data()
{
    QTest::addColumn<QString>("directive");
    QTest::addColumn<int>("maxAttempts");
    QTest::addColumn<int>("attempts");    // of each line
    QTest::addColumn<QString>("failure"); // error_class (OpenAI/Anthropic when they differ); empty: results
    QTest::addColumn<QString>("message");
    QTest::newRow("cut once, retried") << "cut_after=2,times=1" << 3 << 2 << QString() << QString();
    QTest::newRow("cut before any content") << "cut_after=0,times=1" << 3 << 2 << QString() << QString();
    QTest::newRow("error event once, retried") << "error_after=1,times=1" << 3 << 2 << QString() << QString();
    QTest::newRow("stall once, retried")
        << "stall_ms=3000,stall_after=1,times=1" << 3 << 2 << QString() << QString();
    QTest::newRow("always cut") << "cut_after=3" << 2 << 2 << "transport"
                                << "stream cut after 3 content events";
    QTest::newRow("always an error event") << "error_after=2" << 2 << 2 << "server/overloaded"
                                           << "stream error event";
    QTest::newRow("always stalls") << "stall_ms=3000,stall_after=2" << 2 << 2 << "timeout"
                                   << "stalled";
}

void tst_Streaming::midStreamFaultsEndExactlyOnce()
{
    QFETCH(QString, directive);
    QFETCH(int, maxAttempts);
    QFETCH(int, attempts);
    QFETCH(QString, failure);
    QFETCH(QString, message);
    SimulatorConfig config;
    config.chunksPerReply = 5;
    config.chunkIntervalMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    for (const Provider provider : {Provider::OpenAI, Provider::Anthropic}) {
        ProjectConfig project;
        EndpointConfig e = endpointFor(sim, provider);
        e.stream = true;
        e.stallTimeoutS = 0.5;
        project.endpoints = {e};
        project.limits.retry.maxAttempts = maxAttempts;
        project.limits.retry.baseDelayMs = 10;
        project.limits.retry.maxDelayMs = 20;
        QList<json> lines;
        // Four lines: five different requests failing in a row would eject the endpoint (another story).
        for (int i = 1; i <= 4; ++i) {
            lines.append(line(QStringLiteral("f%1").arg(i),
                              QStringLiteral("%1 line %2 @sim(%3)").arg(int(provider)).arg(i).arg(directive),
                              i % 2 == 0));
        }
        const RunOutput out = run(project, lines);
        QSet<int> seen;
        for (const QList<json> *file : {&out.results, &out.errors}) {
            for (const json &record : *file) {
                QVERIFY2(!seen.contains(record.at("line").get<int>()), "a line twice");
                seen.insert(record.at("line").get<int>());
                QCOMPARE(record.at("attempts").get<int>(), attempts);
            }
        }
        QCOMPARE(seen.size(), 4);
        QCOMPARE(out.results.size(), failure.isEmpty() ? 4 : 0);
        for (const json &r : out.results) {
            QVERIFY(r.at("ttft_ms").is_number());
        }
        const QStringList classes = failure.split(QLatin1Char('/'));
        const QString expectedClass = classes.value(provider == Provider::Anthropic ? classes.size() - 1 : 0);
        for (const json &err : out.errors) {
            QCOMPARE(text(err.at("error_class")), expectedClass);
            QVERIFY2(text(err.at("error")).contains(message), err.dump().c_str());
        }
    }
}

void tst_Streaming::stallTimeoutIsNotTheDeadline()
{
    SimulatorConfig config;
    config.chunksPerReply = 10;
    config.chunkIntervalMs = 150; // 1.5 s a stream, never 300 ms without a chunk
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    ProjectConfig project;
    EndpointConfig e = endpointFor(sim, Provider::OpenAI);
    e.stream = true;
    e.stallTimeoutS = 0.4;
    e.timeoutS = 30;
    project.endpoints = {e};
    project.limits.retry.maxAttempts = 1;
    // Steady streams longer than the stall timeout complete; one that pauses 5 s fails at 0.4 s of
    // silence, long before its 30 s deadline.
    const RunOutput out = run(
        project,
        {line(QStringLiteral("steady"), QStringLiteral("steady"), false),
         line(QStringLiteral("stalls"), QStringLiteral("stalls @sim(stall_ms=5000,stall_after=1)"), false)});
    QCOMPARE(out.results.size(), 1);
    QCOMPARE(text(out.results.first().at("custom_id")), QStringLiteral("steady"));
    QVERIFY(out.results.first().at("latency_ms").get<double>() >= 1300);
    QCOMPARE(out.errors.size(), 1);
    QCOMPARE(text(out.errors.first().at("error_class")), QStringLiteral("timeout"));
    QVERIFY2(text(out.errors.first().at("error")).contains(QLatin1String("stalled (nothing for 0.4 s")),
             out.errors.first().dump().c_str());
    // The run (the steady stream, 1.5 s) was over long before the 5 s pause would have ended.
    QVERIFY2(out.wallMs < 4500, qPrintable(QString::number(out.wallMs)));
}

void tst_Streaming::ttftFollowsTheFirstTokenDelay()
{
    SimulatorConfig config;
    config.firstTokenMs = 150;
    config.chunkIntervalMs = 20;
    config.chunksPerReply = 8;
    Simulator sim(config);
    QVERIFY(sim.listen().ok());
    ProjectConfig project;
    EndpointConfig e = endpointFor(sim, Provider::Anthropic);
    e.stream = true;
    project.endpoints = {e};
    QList<json> lines;
    for (int i = 0; i < 30; ++i) {
        lines.append(line(QStringLiteral("t%1").arg(i), QStringLiteral("timing %1").arg(i), false));
    }
    const RunOutput out = run(project, lines);
    QCOMPARE(out.results.size(), 30);
    for (const json &r : out.results) {
        const double ttft = r.at("ttft_ms").get<double>();
        QVERIFY2(ttft >= 150 && ttft < 150 + 400, qPrintable(QString::number(ttft)));
        QVERIFY(r.at("latency_ms").get<double>() >= ttft + 7 * 20 - 5);
    }
    QVERIFY2(out.summary.ttftP50Ms >= 150 && out.summary.ttftP50Ms < 400,
             qPrintable(QString::number(out.summary.ttftP50Ms)));
    QVERIFY2(out.summary.itlP50Ms >= 15 && out.summary.itlP50Ms < 60,
             qPrintable(QString::number(out.summary.itlP50Ms)));
    QCOMPARE(out.summary.streams, qint64(30));
    QCOMPARE(out.summary.endpoints.at(0).streams, qint64(30));
}

QTEST_GUILESS_MAIN(tst_Streaming)
#include "tst_streaming.moc"
