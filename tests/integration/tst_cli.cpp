// sluice-cli as a user runs it: the real binary, real simulators over loopback, real files.

#include "runfixture.h"
#include "sim/simulator.h"

#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct CliRun
{
    int exitCode = -1;
    QString out;
    QString err;
};

QString text(const json &value)
{
    return QString::fromStdString(value.get<std::string>());
}

} // namespace

class tst_Cli : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void helpAndVersion();
    void requesterStyleFlags();
    void someFailuresExitOneWithSummary();
    void usageErrors_data();
    void usageErrors();
    void projectFileWithWeights();
    void secretsNeverReachOutputs();
    void interruptStopsGracefully();
    void simulateDemo();
    void simulateCommandServes();

private:
    CliRun runCli(const QStringList &args,
                  const QProcessEnvironment &env = QProcessEnvironment::systemEnvironment(),
                  int timeoutMs = 60000);
    QString path(const QString &name) const { return m_dir->filePath(name); }
    QString writeLines(int count, const QString &prefix = QStringLiteral("p"));

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_Cli::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

CliRun tst_Cli::runCli(const QStringList &args, const QProcessEnvironment &env, int timeoutMs)
{
    CliRun run;
    QProcess process;
    process.setProcessEnvironment(env);
    process.start(QStringLiteral(SLUICE_CLI_PATH), args);
    if (!process.waitForStarted()) {
        return run;
    }
    // Spin the event loop while waiting: the simulators live on this thread.
    QSignalSpy done(&process, &QProcess::finished);
    if (!done.wait(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = QString::fromUtf8(process.readAllStandardOutput());
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}

QString tst_Cli::writeLines(int count, const QString &prefix)
{
    QList<json> lines;
    for (int i = 0; i < count; ++i) {
        lines.append(json{{"input", QString(prefix + QString::number(i)).toStdString()}});
    }
    const QString file = path(QStringLiteral("requests.jsonl"));
    return Test::writeJsonl(file, lines) ? file : QString();
}

void tst_Cli::helpAndVersion()
{
    const CliRun help = runCli({QStringLiteral("--help")});
    QCOMPARE(help.exitCode, 0);
    for (const char *flag : {"--requests",
                             "--requests_filepath",
                             "--project",
                             "--out",
                             "--save_filepath",
                             "--errors",
                             "--summary",
                             "--rps",
                             "--max_requests_per_second",
                             "--max-attempts",
                             "--max_attempts",
                             "--endpoint",
                             "--model",
                             "--simulate",
                             "--port",
                             "--latency-ms",
                             "--jitter-ms",
                             "--burst",
                             "--error-rate",
                             "--reset-rate",
                             "Exit status"}) {
        QVERIFY2(help.out.contains(QLatin1String(flag)), flag);
    }
    const CliRun version = runCli({QStringLiteral("--version")});
    QCOMPARE(version.exitCode, 0);
    QVERIFY(version.out.startsWith(QStringLiteral("sluice-cli 0.")));
}

void tst_Cli::requesterStyleFlags()
{
    Simulator sim;
    sim.setRecording(true);
    QVERIFY(sim.listen());
    const QString requests = writeLines(300);
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--requests_filepath"), requests,
                QStringLiteral("--save_filepath"), path(QStringLiteral("save.jsonl")),
                QStringLiteral("--max_requests_per_second"), QStringLiteral("400"),
                QStringLiteral("--max_attempts"), QStringLiteral("3"), QStringLiteral("--endpoint"),
                sim.chatUrl().toString(), QStringLiteral("--model"), QStringLiteral("flag-model"),
                QStringLiteral("--progress-interval"), QStringLiteral("0.1")});
    QCOMPARE(run.exitCode, 0);
    const QList<json> results = Test::readJsonl(path(QStringLiteral("save.jsonl")));
    QCOMPARE(results.size(), 300);
    QCOMPARE(text(results.first().at("response").at("body").at("model")), QStringLiteral("flag-model"));
    QVERIFY(QFile::exists(path(QStringLiteral("errors.jsonl")))); // beside --save_filepath, empty
    QCOMPARE(Test::readJsonl(path(QStringLiteral("errors.jsonl"))).size(), 0);
    QVERIFY2(run.err.contains(QStringLiteral("req/s")), qPrintable(run.err)); // periodic progress lines
    QVERIFY(run.err.contains(QStringLiteral("300 succeeded, 0 failed")));
    QCOMPARE(sim.stats().requests, 300);
}

void tst_Cli::someFailuresExitOneWithSummary()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QList<json> lines;
    for (int i = 0; i < 20; ++i) {
        lines.append(Test::promptLine(QStringLiteral("ok-%1").arg(i), QStringLiteral("fine %1").arg(i)));
    }
    lines.append(Test::promptLine(QStringLiteral("rejected"), QStringLiteral("@sim(status=400)")));
    lines.append(json("{broken"));
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--requests"), path(QStringLiteral("in.jsonl")),
         QStringLiteral("--out"), path(QStringLiteral("out.jsonl")), QStringLiteral("--errors"),
         path(QStringLiteral("err.jsonl")), QStringLiteral("--summary"), path(QStringLiteral("summary.json")),
         QStringLiteral("--endpoint"), sim.chatUrl().toString(), QStringLiteral("--quiet")});
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(Test::readJsonl(path(QStringLiteral("out.jsonl"))).size(), 20);
    const QList<json> errors = Test::readJsonl(path(QStringLiteral("err.jsonl")));
    QCOMPARE(errors.size(), 2);
    QFile file(path(QStringLiteral("summary.json")));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const json summary = json::parse(file.readAll().toStdString());
    QCOMPARE(summary.at("succeeded").get<int>(), 20);
    QCOMPARE(summary.at("failed").get<int>(), 2);
    QCOMPARE(summary.at("errors_by_class").at("client").get<int>(), 1);
    QCOMPARE(summary.at("errors_by_class").at("invalid_input").get<int>(), 1);
    const json &endpoint = summary.at("endpoints").at(0);
    QCOMPARE(text(endpoint.at("name")), QStringLiteral("endpoint-1"));
    QCOMPARE(endpoint.at("sent").get<int>(), 21);
    QCOMPARE(endpoint.at("ok").get<int>(), 20);
    QCOMPARE(endpoint.at("errors").get<int>(), 1);
    QCOMPARE(endpoint.at("rate_limited").get<int>(), 0);
    QVERIFY(endpoint.at("latency_ms").at("p50").get<double>() > 0);
    QVERIFY(endpoint.at("latency_ms").at("p99").get<double>() >=
            endpoint.at("latency_ms").at("p50").get<double>());
}

void tst_Cli::usageErrors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("project");
    QTest::addColumn<QString>("message");
    const QString url = QStringLiteral("http://127.0.0.1:9/v1/chat/completions");
    QTest::newRow("no command") << QStringList{QStringLiteral("--out"), QStringLiteral("x")} << QString()
                                << QStringLiteral("");
    QTest::newRow("unknown command") << QStringList{QStringLiteral("fly")} << QString()
                                     << QStringLiteral("unknown command \"fly\"");
    QTest::newRow("no requests") << QStringList{QStringLiteral("run"), QStringLiteral("--out"),
                                                QStringLiteral("o"), QStringLiteral("--endpoint"), url}
                                 << QString() << QStringLiteral("--requests FILE is required");
    QTest::newRow("no endpoints") << QStringList{QStringLiteral("run"), QStringLiteral("--requests"),
                                                 QStringLiteral("REQ"), QStringLiteral("--out"),
                                                 QStringLiteral("o")}
                                  << QString() << QStringLiteral("no endpoints");
    QTest::newRow("bad rps") << QStringList{QStringLiteral("run"),
                                            QStringLiteral("--requests"),
                                            QStringLiteral("REQ"),
                                            QStringLiteral("--out"),
                                            QStringLiteral("o"),
                                            QStringLiteral("--endpoint"),
                                            url,
                                            QStringLiteral("--rps"),
                                            QStringLiteral("fast")}
                             << QString() << QStringLiteral("--rps: \"fast\" is not a number");
    QTest::newRow("bad endpoint") << QStringList{QStringLiteral("run"),      QStringLiteral("--requests"),
                                                 QStringLiteral("REQ"),      QStringLiteral("--out"),
                                                 QStringLiteral("o"),        QStringLiteral("--endpoint"),
                                                 QStringLiteral("ftp://x/y")}
                                  << QString() << QStringLiteral("--endpoint: \"ftp://x/y\" is not an http");
    QTest::newRow("missing input file") << QStringList{QStringLiteral("run"),
                                                       QStringLiteral("--requests"),
                                                       QStringLiteral("/nonexistent/in.jsonl"),
                                                       QStringLiteral("--out"),
                                                       QStringLiteral("o"),
                                                       QStringLiteral("--endpoint"),
                                                       url}
                                        << QString() << QStringLiteral("/nonexistent/in.jsonl: cannot open");
    QTest::newRow("project typo")
        << QStringList{QStringLiteral("run"),   QStringLiteral("--requests"), QStringLiteral("REQ"),
                       QStringLiteral("--out"), QStringLiteral("o"),          QStringLiteral("--project"),
                       QStringLiteral("PRJ")}
        << QStringLiteral(
               "{\"endpoints\": [{\"url\": \"http://127.0.0.1:9/v1/chat/completions\", \"wieght\": 2}]}")
        << QStringLiteral("endpoints[0].wieght: unknown key (did you mean \"weight\"?)");
    QTest::newRow("project wrong type")
        << QStringList{QStringLiteral("run"),   QStringLiteral("--requests"), QStringLiteral("REQ"),
                       QStringLiteral("--out"), QStringLiteral("o"),          QStringLiteral("--project"),
                       QStringLiteral("PRJ")}
        << QStringLiteral(
               "{\"endpoints\": [{\"url\": \"http://127.0.0.1:9/v1/chat/completions\", \"rpm\": \"lots\"}]}")
        << QStringLiteral("endpoints[0].rpm: expected a number, got the string \"lots\"");
    QTest::newRow("project not json")
        << QStringList{QStringLiteral("run"),   QStringLiteral("--requests"), QStringLiteral("REQ"),
                       QStringLiteral("--out"), QStringLiteral("o"),          QStringLiteral("--project"),
                       QStringLiteral("PRJ")}
        << QStringLiteral("{\n  \"endpoints\": [\n    {\"url\": }\n]}") << QStringLiteral(":3:");
}

void tst_Cli::usageErrors()
{
    QFETCH(QStringList, args);
    QFETCH(QString, project);
    QFETCH(QString, message);
    const QString requests = writeLines(1);
    const QString projectPath = path(QStringLiteral("project.json"));
    if (!project.isEmpty()) {
        QFile file(projectPath);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(project.toUtf8());
    }
    for (QString &arg : args) {
        arg.replace(QStringLiteral("REQ"), requests).replace(QStringLiteral("PRJ"), projectPath);
        if (arg == QLatin1String("o")) {
            arg = path(QStringLiteral("o.jsonl"));
        }
    }
    const CliRun run = runCli(args);
    if (message.isEmpty()) { // no command: help, success
        QCOMPARE(run.exitCode, 0);
        QVERIFY(run.out.contains(QStringLiteral("Usage:")));
        return;
    }
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(message), qPrintable(run.err));
    QVERIFY(!QFile::exists(path(QStringLiteral("o.jsonl")))); // nothing written on a usage error
}

void tst_Cli::projectFileWithWeights()
{
    Simulator a;
    Simulator b;
    QVERIFY(a.listen());
    QVERIFY(b.listen());
    const json project = {{"endpoints",
                           {{{"name", "heavy"}, {"url", a.chatUrl().toString().toStdString()}, {"weight", 4}},
                            {{"name", "light"},
                             {"url", b.messagesUrl().toString().toStdString()},
                             {"weight", 1},
                             {"model", "claude-x"}}}},
                          {"limits", {{"rps", 1000}, {"max_attempts", 2}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    const QString requests = writeLines(1000);
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
                QStringLiteral("--requests"), requests, QStringLiteral("--out"),
                path(QStringLiteral("out.jsonl")), QStringLiteral("--quiet")});
    QCOMPARE(run.exitCode, 0);
    QCOMPARE(Test::readJsonl(path(QStringLiteral("out.jsonl"))).size(), 1000);
    QVERIFY2(std::abs(a.stats().requests - 800) <= 20, qPrintable(QString::number(a.stats().requests)));
    QCOMPARE(a.stats().requests + b.stats().requests, 1000);
    QVERIFY(run.err.contains(QStringLiteral("heavy")));
}

void tst_Cli::secretsNeverReachOutputs()
{
    const QString canary = QStringLiteral("sk-canary-7f3a9c1e5b2d");
    SimulatorConfig config;
    config.requireKey = canary;
    Simulator sim(config);
    QVERIFY(sim.listen());
    const json project = {{"endpoints",
                           {{{"name", "keyed"},
                             {"url", sim.chatUrl().toString().toStdString()},
                             {"api_key_env", "SLUICE_TEST_CANARY_KEY"}}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    QList<json> lines;
    for (int i = 0; i < 10; ++i) {
        lines.append(Test::promptLine(QStringLiteral("k%1").arg(i), QStringLiteral("hello %1").arg(i)));
    }
    lines.append(Test::promptLine(QStringLiteral("bad"), QStringLiteral("@sim(status=400)")));
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SLUICE_TEST_CANARY_KEY"), canary);
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
         QStringLiteral("--requests"), path(QStringLiteral("in.jsonl")), QStringLiteral("--out"),
         path(QStringLiteral("out.jsonl")), QStringLiteral("--summary"), path(QStringLiteral("summary.json")),
         QStringLiteral("--progress-interval"), QStringLiteral("0.05")},
        env);
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(sim.stats().ok, 10); // the key was sent: the simulator demands it
    QVERIFY(!run.out.contains(canary));
    QVERIFY(!run.err.contains(canary));
    const QStringList written = QDir(m_dir->path()).entryList(QDir::Files);
    QVERIFY(written.contains(QStringLiteral("errors.jsonl")));
    for (const QString &name : written) {
        QFile file(path(name));
        QVERIFY(file.open(QIODevice::ReadOnly));
        QVERIFY2(!file.readAll().contains(canary.toUtf8()), qPrintable(name));
    }
}

void tst_Cli::interruptStopsGracefully()
{
    SimulatorConfig slow;
    slow.latencyMs = 300;
    Simulator sim(slow);
    QVERIFY(sim.listen());
    const QString requests = writeLines(3000);
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH),
                  {QStringLiteral("run"), QStringLiteral("--requests"), requests, QStringLiteral("--out"),
                   path(QStringLiteral("out.jsonl")), QStringLiteral("--endpoint"), sim.chatUrl().toString(),
                   QStringLiteral("--summary"), path(QStringLiteral("summary.json"))});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(sim.stats().ok >= 64, 20000);
    ::kill(pid_t(process.processId()), SIGINT);
    QSignalSpy done(&process, &QProcess::finished);
    QVERIFY(done.wait(20000));
    QCOMPARE(process.exitCode(), 130);
    const QString err = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(err.contains(QStringLiteral("Stopping")), qPrintable(err));
    QVERIFY(err.contains(QStringLiteral("not started")));
    const qint64 written = Test::readJsonl(path(QStringLiteral("out.jsonl"))).size() +
                           Test::readJsonl(path(QStringLiteral("errors.jsonl"))).size();
    QCOMPARE(written, sim.stats().ok); // every answered request was recorded before exit
    QFile file(path(QStringLiteral("summary.json")));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const json summary = json::parse(file.readAll().toStdString());
    QCOMPARE(summary.at("succeeded").get<qint64>() + summary.at("not_started").get<qint64>(), 3000);
}

void tst_Cli::simulateDemo()
{
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--requests"),
                QStringLiteral(SLUICE_SOURCE_DIR "/resources/examples/demo.jsonl"), QStringLiteral("--out"),
                path(QStringLiteral("demo.jsonl")), QStringLiteral("--quiet")});
    QCOMPARE(run.exitCode, 0);
    const QList<json> results = Test::readJsonl(path(QStringLiteral("demo.jsonl")));
    QCOMPARE(results.size(), 2000);
    QSet<QString> endpoints;
    for (const json &r : results) {
        endpoints.insert(text(r.at("endpoint")));
    }
    QCOMPARE(endpoints, (QSet<QString>{QStringLiteral("sim-a"), QStringLiteral("sim-b")}));
}

void tst_Cli::simulateCommandServes()
{
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH),
                  {QStringLiteral("simulate"), QStringLiteral("--port"), QStringLiteral("0"),
                   QStringLiteral("--latency-ms"), QStringLiteral("5")});
    QVERIFY(process.waitForStarted());
    QString err;
    const QRegularExpression listening(QStringLiteral("listening on http://127\\.0\\.0\\.1:(\\d+)"));
    QTRY_VERIFY_WITH_TIMEOUT(
        (err += QString::fromUtf8(process.readAllStandardError()), listening.match(err).hasMatch()), 10000);
    const int port = listening.match(err).captured(1).toInt();
    QNetworkAccessManager nam;
    QNetworkRequest request(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    QNetworkReply *reply =
        nam.post(request, QByteArrayLiteral("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
    QSignalSpy finished(reply, &QNetworkReply::finished);
    QVERIFY(finished.wait(10000));
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 200);
    QVERIFY(reply->readAll().contains("Simulated reply"));
    reply->deleteLater();
    process.terminate(); // SIGTERM: clean exit with a served-count line
    QVERIFY(process.waitForFinished(10000));
    QCOMPARE(process.exitCode(), 0);
    QVERIFY(QString::fromUtf8(process.readAllStandardError()).contains(QStringLiteral("served 1 requests")));
}

QTEST_GUILESS_MAIN(tst_Cli)
#include "tst_cli.moc"
