// sluice-cli as a user runs it: the real binary, real simulators over loopback, real files.

#include "runfixture.h"
#include "sim/simulator.h"

#include <QDirIterator>
#include <QElapsedTimer>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
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

const QString Canary = QStringLiteral("sk-canary-7f3a9c1e5b2d");
const QString CanaryEnv = QStringLiteral("SLUICE_TEST_CANARY_KEY");

/// Where the canary key (or a distinctive part of it) shows up: the run's stdout and stderr and every
/// file under `dir`, however deep. Empty when nowhere.
QStringList canarySightings(const QString &dir, const QString &out, const QString &err)
{
    const QList<QByteArray> needles{Canary.toUtf8(), QByteArrayLiteral("7f3a9c1e")};
    QStringList found;
    for (const QByteArray &needle : needles) {
        if (out.toUtf8().contains(needle))
            found << QStringLiteral("stdout");
        if (err.toUtf8().contains(needle))
            found << QStringLiteral("stderr");
    }
    QDirIterator it(dir, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    int files = 0;
    while (it.hasNext() && files < 1000) {
        const QString file = it.next();
        ++files;
        QFile f(file);
        if (!f.open(QIODevice::ReadOnly)) {
            found << QStringLiteral("unreadable ") + file;
            continue;
        }
        const QByteArray content = f.readAll();
        for (const QByteArray &needle : needles) {
            if (content.contains(needle))
                found << file;
        }
    }
    return found;
}

QProcessEnvironment canaryEnvironment()
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(CanaryEnv, Canary);
    return env;
}

/// An HTTP server that answers every request 401 with an OpenAI-style error repeating the credentials
/// it was sent, as some proxies do: a server Sluice must not trust with what it writes.
class EchoingAuthServer
{
public:
    bool listen() { return m_server.listen(QHostAddress::LocalHost); }
    QUrl chatUrl() const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(m_server.serverPort()));
    }
    int requests() const { return m_requests; }

    EchoingAuthServer()
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, &m_server, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                QObject::connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
                QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, socket] { handle(socket); });
            }
        });
    }

private:
    void handle(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        const qsizetype end = buffer.indexOf("\r\n\r\n");
        if (end < 0 || buffer.size() > 1024 * 1024)
            return;
        QByteArray credentials;
        for (const QByteArray &line : buffer.left(end).split('\n')) {
            const QByteArray lower = line.toLower();
            if (lower.startsWith("authorization:") || lower.startsWith("x-api-key:"))
                credentials = line.mid(line.indexOf(':') + 1).trimmed();
        }
        m_buffers.remove(socket);
        ++m_requests;
        const json body = {{"error",
                            {{"message", "Incorrect API key provided: " + credentials.toStdString()},
                             {"type", "invalid_request_error"},
                             {"code", "invalid_api_key"}}}};
        const QByteArray payload = QByteArray::fromStdString(body.dump());
        socket->write("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: " +
                      QByteArray::number(payload.size()) + "\r\n\r\n" + payload);
        socket->disconnectFromHost();
    }

    QTcpServer m_server;
    QHash<QTcpSocket *, QByteArray> m_buffers;
    int m_requests = 0;
};

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
    void secretsNeverReachOutputsOn401();
    void secretsNeverReachOutputsWhenKilled();
    void secretsNeverReachOutputsOnBadProject_data();
    void secretsNeverReachOutputsOnBadProject();
    void secretsEchoedByServerNeverReachOutputs();
    void hostileInputEndToEnd();
    void notJsonlRefusedUpFront_data();
    void notJsonlRefusedUpFront();
    void emptyRequestsFile();
    void hostileProjectFiles_data();
    void hostileProjectFiles();
    void interruptStopsGracefully();
    void simulateDemo();
    void simulateCommandServes();
    void simulateStreamFlags();

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
    // The allocator the build chose is the one malloc really reaches (not merely linked).
    const QString allocatorLine = version.out.section(QLatin1Char('\n'), 1, 1);
    // The connect cache says whether it is in use: on for the Qt it was built with.
    const QString cacheLine = version.out.section(QLatin1Char('\n'), 2, 2);
    QVERIFY2(cacheLine == QStringLiteral("connect cache: on (Qt %1)").arg(QString::fromLatin1(qVersion())) ||
                 cacheLine == QStringLiteral("connect cache: not built"),
             qPrintable(version.out));
    QVERIFY2(allocatorLine.startsWith(QStringLiteral("memory allocator: ")), qPrintable(version.out));
    if (QLatin1String(SLUICE_ALLOCATOR_NAME) == QLatin1String("mimalloc")) {
        QVERIFY2(allocatorLine.contains(QStringLiteral("mimalloc 2.")), qPrintable(allocatorLine));
        QVERIFY2(!allocatorLine.contains(QStringLiteral("not in use")), qPrintable(allocatorLine));
    } else {
        QCOMPARE(allocatorLine, QStringLiteral("memory allocator: system malloc"));
    }
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
    QTest::newRow("bad chunks per reply")
        << QStringList{QStringLiteral("simulate"), QStringLiteral("--chunks-per-reply"),
                       QStringLiteral("lots")}
        << QString() << QStringLiteral("--chunks-per-reply: \"lots\" is not a number in [0, 100000]");
    QTest::newRow("negative first token")
        << QStringList{QStringLiteral("simulate"), QStringLiteral("--first-token-ms"), QStringLiteral("-5")}
        << QString() << QStringLiteral("--first-token-ms: \"-5\" is not a number");
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
    SimulatorConfig config;
    config.requireKey = Canary;
    Simulator sim(config);
    QVERIFY(sim.listen());
    const json project = {{"endpoints",
                           {{{"name", "keyed"},
                             {"url", sim.chatUrl().toString().toStdString()},
                             {"api_key_env", CanaryEnv.toStdString()}}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    QList<json> lines;
    for (int i = 0; i < 10; ++i) {
        lines.append(Test::promptLine(QStringLiteral("k%1").arg(i), QStringLiteral("hello %1").arg(i)));
    }
    lines.append(Test::promptLine(QStringLiteral("bad"), QStringLiteral("@sim(status=400)")));
    lines.append(Test::promptLine(QStringLiteral("retried"), QStringLiteral("@sim(status=500,times=1)")));
    lines.append(json("{broken"));
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
         QStringLiteral("--requests"), path(QStringLiteral("in.jsonl")), QStringLiteral("--out"),
         path(QStringLiteral("out.jsonl")), QStringLiteral("--errors"), path(QStringLiteral("err.jsonl")),
         QStringLiteral("--summary"), path(QStringLiteral("summary.json")), QStringLiteral("--history"),
         path(QStringLiteral("history.csv")), QStringLiteral("--progress-interval"), QStringLiteral("0.05")},
        canaryEnvironment());
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(sim.stats().ok, 11); // the key was sent: the simulator demands it
    for (const char *name : {"out.jsonl", "err.jsonl", "summary.json", "history.csv"}) {
        QVERIFY2(QFile::exists(path(QLatin1String(name))), name);
    }
    QCOMPARE(Test::readJsonl(path(QStringLiteral("err.jsonl"))).size(), 2);
    const QStringList sightings = canarySightings(m_dir->path(), run.out, run.err);
    QVERIFY2(sightings.isEmpty(), qPrintable(sightings.join(QStringLiteral(", "))));
}

void tst_Cli::secretsNeverReachOutputsOn401()
{
    // The server wants another key: every request ends in a 401 client error.
    SimulatorConfig config;
    config.requireKey = QStringLiteral("sk-the-right-one");
    Simulator sim(config);
    QVERIFY(sim.listen());
    const json project = {{"endpoints",
                           {{{"name", "wrong-key"},
                             {"url", sim.chatUrl().toString().toStdString()},
                             {"api_key_env", CanaryEnv.toStdString()}}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    QVERIFY(!writeLines(20).isEmpty());
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
         QStringLiteral("--requests"), path(QStringLiteral("requests.jsonl")), QStringLiteral("--out"),
         path(QStringLiteral("out.jsonl")), QStringLiteral("--summary"), path(QStringLiteral("summary.json")),
         QStringLiteral("--history"), path(QStringLiteral("history.csv")),
         QStringLiteral("--progress-interval"), QStringLiteral("0.05")},
        canaryEnvironment());
    QCOMPARE(run.exitCode, 1);
    const QList<json> errors = Test::readJsonl(path(QStringLiteral("errors.jsonl")));
    QCOMPARE(errors.size(), 20);
    QCOMPARE(errors.first().at("status").get<int>(), 401);
    QCOMPARE(text(errors.first().at("error_class")), QStringLiteral("client"));
    QVERIFY(sim.stats().requests >= 20);
    const QStringList sightings = canarySightings(m_dir->path(), run.out, run.err);
    QVERIFY2(sightings.isEmpty(), qPrintable(sightings.join(QStringLiteral(", "))));
}

void tst_Cli::secretsNeverReachOutputsWhenKilled()
{
    SimulatorConfig config;
    config.requireKey = Canary;
    config.latencyMs = 200;
    Simulator sim(config);
    QVERIFY(sim.listen());
    const json project = {{"endpoints",
                           {{{"name", "keyed"},
                             {"url", sim.chatUrl().toString().toStdString()},
                             {"api_key_env", CanaryEnv.toStdString()}}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    QVERIFY(!writeLines(2000).isEmpty());
    QProcess process;
    process.setProcessEnvironment(canaryEnvironment());
    process.start(QStringLiteral(SLUICE_CLI_PATH),
                  {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
                   QStringLiteral("--requests"), path(QStringLiteral("requests.jsonl")),
                   QStringLiteral("--out"), path(QStringLiteral("out.jsonl")), QStringLiteral("--summary"),
                   path(QStringLiteral("summary.json")), QStringLiteral("--history"),
                   path(QStringLiteral("history.csv")), QStringLiteral("--progress-interval"),
                   QStringLiteral("0.05")});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(sim.stats().ok >= 64, 20000);
    ::kill(pid_t(process.processId()), SIGTERM); // graceful stop: waits for requests in flight
    QSignalSpy done(&process, &QProcess::finished);
    QTRY_VERIFY_WITH_TIMEOUT(!done.isEmpty(), 20000);
    QCOMPARE(process.exitCode(), 130);
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    const QString err = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(err.contains(QStringLiteral("Stopping")), qPrintable(err));
    QVERIFY(Test::readJsonl(path(QStringLiteral("out.jsonl"))).size() >= 64);
    const QStringList sightings = canarySightings(m_dir->path(), out, err);
    QVERIFY2(sightings.isEmpty(), qPrintable(sightings.join(QStringLiteral(", "))));
}

void tst_Cli::secretsNeverReachOutputsOnBadProject_data()
{
    QTest::addColumn<QByteArray>("project");
    QTest::addColumn<QString>("message");

    const QByteArray url = "\"url\": \"http://127.0.0.1:9/v1/chat/completions\", \"api_key_env\": \"" +
                           CanaryEnv.toUtf8() + "\"";
    QTest::newRow("wrong type") << QByteArray("{\"endpoints\": [{" + url + ", \"weight\": \"heavy\"}]}")
                                << QStringLiteral("endpoints[0].weight");
    QTest::newRow("unknown key") << QByteArray("{\"endpoints\": [{" + url + ", \"rpn\": 5}]}")
                                 << QStringLiteral("endpoints[0].rpn: unknown key");
    QTest::newRow("syntax error") << QByteArray("{\"endpoints\": [{" + url + ",}]}") << QStringLiteral(":1:");
    // The key itself pasted where its variable's name belongs.
    QTest::newRow("key instead of its variable")
        << QByteArray(
               "{\"endpoints\": [{\"url\": \"http://127.0.0.1:9/v1/chat/completions\", \"api_key\": \"" +
               Canary.toUtf8() + "\"}]}")
        << QStringLiteral("endpoints[0].api_key");
}

void tst_Cli::secretsNeverReachOutputsOnBadProject()
{
    QFETCH(QByteArray, project);
    QFETCH(QString, message);

    QFile file(path(QStringLiteral("project.json")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(project);
    file.close();
    QVERIFY(!writeLines(3).isEmpty());
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
         QStringLiteral("--requests"), path(QStringLiteral("requests.jsonl")), QStringLiteral("--out"),
         path(QStringLiteral("out.jsonl")), QStringLiteral("--summary"), path(QStringLiteral("summary.json")),
         QStringLiteral("--history"), path(QStringLiteral("history.csv"))},
        canaryEnvironment());
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(message), qPrintable(run.err));
    // The project file itself holds the key in the last row; everything else must not.
    QVERIFY(file.remove());
    const QStringList sightings = canarySightings(m_dir->path(), run.out, run.err);
    QVERIFY2(sightings.isEmpty(), qPrintable(sightings.join(QStringLiteral(", "))));
}

void tst_Cli::secretsEchoedByServerNeverReachOutputs()
{
    // A server (or proxy) that repeats the credentials it got in its error message: Sluice writes the
    // error message into the errors file, so it must take its own keys out of what it writes.
    EchoingAuthServer server;
    QVERIFY(server.listen());
    const json project = {{"endpoints",
                           {{{"name", "echo"},
                             {"url", server.chatUrl().toString().toStdString()},
                             {"api_key_env", CanaryEnv.toStdString()}}}}};
    QVERIFY(Test::writeJsonl(path(QStringLiteral("project.json")), {project}));
    QVERIFY(!writeLines(5).isEmpty());
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
         QStringLiteral("--requests"), path(QStringLiteral("requests.jsonl")), QStringLiteral("--out"),
         path(QStringLiteral("out.jsonl")), QStringLiteral("--summary"), path(QStringLiteral("summary.json")),
         QStringLiteral("--progress-interval"), QStringLiteral("0.05")},
        canaryEnvironment());
    QCOMPARE(run.exitCode, 1);
    QVERIFY(server.requests() >= 5);
    const QList<json> errors = Test::readJsonl(path(QStringLiteral("errors.jsonl")));
    QCOMPARE(errors.size(), 5);
    QVERIFY2(
        text(errors.first().at("error")).startsWith(QStringLiteral("HTTP 401: Incorrect API key provided")),
        errors.first().dump().c_str());
    const QStringList sightings = canarySightings(m_dir->path(), run.out, run.err);
    // The echoed key is replaced in what the engine writes.
    QVERIFY2(text(errors.first().at("error")).contains(QStringLiteral("[REDACTED]")),
             errors.first().dump().c_str());
    QVERIFY2(sightings.isEmpty(), qPrintable(sightings.join(QStringLiteral(", "))));
}

void tst_Cli::hostileInputEndToEnd()
{
    // Every kind of hostile line between valid ones, through the real binary: the valid lines run, each
    // bad one is an error record with its file, line and precise reason, and each line ends exactly once.
    struct Line
    {
        QByteArray bytes;   ///< without its line ending
        QByteArray ending;  ///< "\n", "\r\n" or "" (last line)
        QString id;         ///< expected custom_id of the record; empty: blank line, no record
        QString errorClass; ///< empty: a result
        QString message;    ///< after "hostile.jsonl:N: "
    };
    const QString shapes = QStringLiteral(
        "unknown request shape: expected one of {custom_id, method, url, body} (OpenAI Batch), "
        "{custom_id, params} (Anthropic batch), {messages, ...} (chat body), {input: \"text\"} (prompt); ");
    const QString invalid = QStringLiteral("invalid_input");
    constexpr qint64 HugeBytes = 100 * 1024 * 1024;
    const QList<Line> lines{
        {"\xEF\xBB\xBF{\"custom_id\":\"ok-prompt\",\"input\":\"hello\"}",
         "\r\n",
         QStringLiteral("ok-prompt"),
         {},
         {}},
        {R"({"custom_id":"ok-openai","method":"POST","url":"/v1/chat/completions",)"
         R"("body":{"messages":[{"role":"user","content":"hi"}]}})",
         "\n",
         QStringLiteral("ok-openai"),
         {},
         {}},
        {R"({"custom_id":"ok-anthropic","params":{"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}})",
         "\r\n",
         QStringLiteral("ok-anthropic"),
         {},
         {}},
        {R"({"model":"m","messages":[{"role":"user","content":"chat body"}],"metadata":{"k":1}})",
         "\n",
         QStringLiteral("line-4"),
         {},
         {}},
        {"", "\n", {}, {}, {}},
        {"  \t\r", "\n", {}, {}, {}},
        {R"({"custom_id": "bad-json",)", "\n", QStringLiteral("line-7"), invalid,
         QStringLiteral("invalid JSON: unexpected end of line at column 26 (truncated JSON?)")},
        {"[1,2,3]", "\r\n", QStringLiteral("line-8"), invalid,
         QStringLiteral("line is a JSON array, expected an object")},
        {R"({"foo":1})", "\n", QStringLiteral("line-9"), invalid, shapes + QStringLiteral("got keys: foo")},
        {QByteArray(), "\n", QStringLiteral("line-10"), invalid,
         QStringLiteral("line is %1 bytes, over the limit of 8388608 bytes").arg(HugeBytes)},
        {"{\"custom_id\":\"bad-utf8\",\"input\":\"a\xff"
         "b\"}",
         "\n", QStringLiteral("line-11"), invalid,
         QStringLiteral("invalid JSON: invalid UTF-8 at column 35")},
        {R"({"custom_id":"deep","messages":)" + QByteArray(100000, '[') + QByteArray(100000, ']') + "}", "\n",
         QStringLiteral("line-12"), invalid, QStringLiteral("nesting deeper than 64 levels")},
        {R"({"custom_id":"big-number","input":"x","temperature":1e400})", "\n", QStringLiteral("line-13"),
         invalid, QStringLiteral("invalid JSON: number out of range at column 53 (1e400)")},
        {R"({"custom_id":"ok-prompt","input":"again"})", "\n", QStringLiteral("ok-prompt"),
         QStringLiteral("duplicate_id"),
         QStringLiteral("duplicate custom_id \"ok-prompt\" (first seen on line 1)")},
        {R"({"custom_id":42,"input":"x"})", "\n", QStringLiteral("line-15"), invalid,
         QStringLiteral("custom_id must be a string, got a number")},
        {QByteArray("{\"input\":\"x\"}\0", 14), "\n", QStringLiteral("line-16"), invalid,
         QStringLiteral("invalid JSON: NUL byte at column 14")},
        {R"({"input\u0000":"x"})", "\n", QStringLiteral("line-17"), invalid,
         shapes + QStringLiteral("got keys: input\\u0000")},
        {R"({"custom_id":"ok-huge-int","input":"big int","seed":123456789012345678901234567890})",
         "\n",
         QStringLiteral("ok-huge-int"),
         {},
         {}},
        {R"({"custom_id":"ok-last","input":"no newline at the end"})", "", QStringLiteral("ok-last"), {}, {}},
    };

    const QString requests = path(QStringLiteral("hostile.jsonl"));
    {
        QFile file(requests);
        QVERIFY(file.open(QIODevice::WriteOnly));
        for (const Line &line : lines) {
            if (line.id == QLatin1String("line-10")) { // 100 MB of valid JSON, written in 1 MiB pieces
                const QByteArray head = R"({"custom_id":"huge","input":")";
                QVERIFY(file.write(head) == head.size());
                const QByteArray piece(1024 * 1024, 'h');
                qint64 left = HugeBytes - head.size() - 2;
                while (left > 0) {
                    const qint64 n = std::min<qint64>(left, piece.size());
                    QVERIFY(file.write(piece.constData(), n) == n);
                    left -= n;
                }
                QVERIFY(file.write("\"}") == 2);
            } else {
                QVERIFY(file.write(line.bytes) == line.bytes.size());
            }
            QVERIFY(file.write(line.ending) == line.ending.size());
        }
    }

    QElapsedTimer timer;
    timer.start();
    const CliRun run = runCli(
        {QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--latency-ms"),
         QStringLiteral("0"), QStringLiteral("--jitter-ms"), QStringLiteral("0"),
         QStringLiteral("--requests"), requests, QStringLiteral("--out"), path(QStringLiteral("out.jsonl")),
         QStringLiteral("--summary"), path(QStringLiteral("summary.json")), QStringLiteral("--quiet")});
    QCOMPARE(run.exitCode, 1);
    QVERIFY2(timer.elapsed() < 10000, qPrintable(QString::number(timer.elapsed())));

    // Records by line number: each line exactly once, in results or in errors.
    QHash<qint64, json> results;
    QHash<qint64, json> errors;
    for (const json &r : Test::readJsonl(path(QStringLiteral("out.jsonl")))) {
        QVERIFY(r.is_object());
        const qint64 line = r.at("line").get<qint64>();
        QVERIFY2(!results.contains(line), qPrintable(QString::number(line)));
        results.insert(line, r);
    }
    for (const json &e : Test::readJsonl(path(QStringLiteral("errors.jsonl")))) {
        QVERIFY(e.is_object());
        const qint64 line = e.at("line").get<qint64>();
        QVERIFY2(!errors.contains(line) && !results.contains(line), qPrintable(QString::number(line)));
        errors.insert(line, e);
    }
    qint64 expectedResults = 0;
    qint64 expectedErrors = 0;
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const Line &line = lines.at(i);
        const qint64 number = i + 1;
        const QString where = QStringLiteral("line %1").arg(number);
        if (line.id.isEmpty()) {
            QVERIFY2(!results.contains(number) && !errors.contains(number), qPrintable(where));
        } else if (line.errorClass.isEmpty()) {
            ++expectedResults;
            QVERIFY2(results.contains(number), qPrintable(where));
            QCOMPARE(text(results.value(number).at("custom_id")), line.id);
            QCOMPARE(results.value(number).at("response").at("status_code").get<int>(), 200);
        } else {
            ++expectedErrors;
            QVERIFY2(errors.contains(number), qPrintable(where));
            const json &e = errors.value(number);
            QCOMPARE(text(e.at("custom_id")), line.id);
            QCOMPARE(text(e.at("error_class")), line.errorClass);
            QCOMPARE(text(e.at("error")), QStringLiteral("hostile.jsonl:%1: ").arg(number) + line.message);
            QVERIFY2(e.at("input").dump().size() < 20000, qPrintable(where)); // the 100 MB line is cut
        }
    }
    QCOMPARE(qint64(results.size()), expectedResults);
    QCOMPARE(qint64(errors.size()), expectedErrors);

    QFile file(path(QStringLiteral("summary.json")));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const json summary = json::parse(file.readAll().toStdString());
    QCOMPARE(summary.at("succeeded").get<qint64>(), expectedResults);
    QCOMPARE(summary.at("failed").get<qint64>(), expectedErrors);
    QCOMPARE(summary.at("errors_by_class").at("duplicate_id").get<qint64>(), qint64(1));
    QCOMPARE(summary.at("errors_by_class").at("invalid_input").get<qint64>(), expectedErrors - 1);
}

void tst_Cli::notJsonlRefusedUpFront_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("reason"); // a distinctive part of the message

    QByteArray pretty = "[\n";
    for (int i = 0; i < 2500; ++i) {
        pretty +=
            "  {\n    \"custom_id\": \"r" + QByteArray::number(i) + "\",\n    \"input\": \"hello\"\n  },\n";
    }
    pretty += "  {\"input\": \"last\"}\n]\n";
    QTest::newRow("pretty-printed JSON, 10,000 lines")
        << pretty << QStringLiteral("a pretty-printed JSON document?");
    QByteArray csv = "custom_id,prompt\n";
    for (int i = 0; i < 1000; ++i)
        csv += "r" + QByteArray::number(i) + ",\"say \"\"hi\"\"\"\n";
    QTest::newRow("CSV") << csv << QStringLiteral("a CSV file?");
    QByteArray binary;
    quint32 x = 12345;
    for (int i = 0; i < 200000; ++i) {
        x = x * 1103515245u + 12345u;
        binary += char(x >> 24);
    }
    QTest::newRow("binary") << binary << QStringLiteral("a binary file, or UTF-16 text?");
    QByteArray utf16 = "\xFF\xFE";
    for (const char c : QByteArray("{\"input\":\"x\"}\n{\"input\":\"y\"}\n"))
        utf16 += QByteArray(1, c) + '\0';
    QTest::newRow("UTF-16") << utf16 << QStringLiteral("it is UTF-16 text");
}

void tst_Cli::notJsonlRefusedUpFront()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, reason);

    const QString requests = path(QStringLiteral("requests.jsonl"));
    {
        QFile file(requests);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(file.write(content) == content.size());
    }
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--requests"), requests,
                QStringLiteral("--out"), path(QStringLiteral("out.jsonl"))});
    QCOMPARE(run.exitCode, 2);
    // One clear message, not one per line; nothing written.
    QVERIFY2(run.err.startsWith(QStringLiteral("sluice-cli: ") + requests +
                                QStringLiteral(": does not look like JSONL: ")),
             qPrintable(run.err));
    QVERIFY2(run.err.contains(reason), qPrintable(run.err));
    QVERIFY2(run.err.count(QLatin1Char('\n')) <= 2, qPrintable(run.err));
    QVERIFY(!QFile::exists(path(QStringLiteral("out.jsonl"))));
    QVERIFY(!QFile::exists(path(QStringLiteral("errors.jsonl"))));
}

void tst_Cli::emptyRequestsFile()
{
    // Nothing to do is not an error: exit 0, empty outputs, a summary saying 0 lines.
    const QString requests = path(QStringLiteral("empty.jsonl"));
    {
        QFile file(requests);
        QVERIFY(file.open(QIODevice::WriteOnly));
    }
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--requests"), requests,
                QStringLiteral("--out"), path(QStringLiteral("out.jsonl"))});
    QCOMPARE(run.exitCode, 0);
    QVERIFY2(run.err.contains(QStringLiteral("0 succeeded, 0 failed")), qPrintable(run.err));
    QVERIFY(QFile::exists(path(QStringLiteral("out.jsonl"))));
    QCOMPARE(Test::readJsonl(path(QStringLiteral("out.jsonl"))).size(), 0);
    QCOMPARE(Test::readJsonl(path(QStringLiteral("errors.jsonl"))).size(), 0);
}

void tst_Cli::hostileProjectFiles_data()
{
    // Project files that are wrong in ways a JSON editor would not show: each a clear message naming the
    // file (and line:column for syntax, the key path for values), exit 2, no crash. Wrong types and
    // unknown keys one by one are in tst_projectconfig.
    QTest::addColumn<QByteArray>("project");
    QTest::addColumn<QString>("message");

    const QByteArray url = R"("url": "http://127.0.0.1:9/v1/chat/completions")";
    QTest::newRow("number out of range") << QByteArray(R"({"endpoints": [{)" + url + R"(, "rpm": 1e400}]})")
                                         << QStringLiteral("project.json:1:");
    QTest::newRow("whole number too big")
        << QByteArray(R"({"endpoints": [{)" + url + R"(, "max_in_flight": 99999999999999999999}]})")
        << QStringLiteral(
               "project.json: endpoints[0].max_in_flight: expected a whole number, got the number 1e+20");
    QTest::newRow("invalid UTF-8") << QByteArray("{\"endpoints\": [{" + url + ", \"name\": \"a\xff\"}]}")
                                   << QStringLiteral("project.json:1:76: invalid JSON in project file");
    QTest::newRow("UTF-16") << QByteArray("\xFF\xFE{\0}\0", 6)
                            << QStringLiteral("project.json:1:1: invalid JSON in project file");
    QByteArray binary;
    for (int i = 0; i < 2560; ++i)
        binary += char(i % 256);
    QTest::newRow("binary") << binary << QStringLiteral("project.json:1:1: invalid JSON in project file");
    QTest::newRow("100,000 levels deep")
        << QByteArray(R"({"endpoints": )" + QByteArray(100000, '[') + QByteArray(100000, ']') + "}")
        << QStringLiteral("project.json: endpoints[0]: expected an object, got an array");
    QTest::newRow("endpoints a string")
        << QByteArray(R"({"endpoints": "http://127.0.0.1:9/v1/chat/completions"})")
        << QStringLiteral("project.json: endpoints: expected an array of endpoint "
                          "objects, got the string");
    QTest::newRow("empty") << QByteArray()
                           << QStringLiteral("project.json:1:1: invalid JSON in project file");
}

void tst_Cli::hostileProjectFiles()
{
    QFETCH(QByteArray, project);
    QFETCH(QString, message);

    {
        QFile file(path(QStringLiteral("project.json")));
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(file.write(project) == project.size());
    }
    QVERIFY(!writeLines(2).isEmpty());
    const CliRun run =
        runCli({QStringLiteral("run"), QStringLiteral("--project"), path(QStringLiteral("project.json")),
                QStringLiteral("--requests"), path(QStringLiteral("requests.jsonl")), QStringLiteral("--out"),
                path(QStringLiteral("out.jsonl"))});
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(message), qPrintable(run.err));
    QVERIFY(!QFile::exists(path(QStringLiteral("out.jsonl"))));
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

void tst_Cli::simulateStreamFlags()
{
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH),
                  {QStringLiteral("simulate"), QStringLiteral("--port"), QStringLiteral("0"),
                   QStringLiteral("--first-token-ms"), QStringLiteral("150"),
                   QStringLiteral("--chunk-interval-ms"), QStringLiteral("10"),
                   QStringLiteral("--chunks-per-reply"), QStringLiteral("7")});
    QVERIFY(process.waitForStarted());
    QString err;
    const QRegularExpression listening(QStringLiteral("listening on http://127\\.0\\.0\\.1:(\\d+)"));
    QTRY_VERIFY_WITH_TIMEOUT(
        (err += QString::fromUtf8(process.readAllStandardError()), listening.match(err).hasMatch()), 10000);
    QVERIFY2(
        err.contains(QStringLiteral("first token after 150 ms, a chunk every 10 ms, 7 chunks per reply")),
        qPrintable(err));
    const int port = listening.match(err).captured(1).toInt();
    QNetworkAccessManager nam;
    QNetworkRequest request(QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(port)));
    request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    QElapsedTimer timer;
    timer.start();
    QNetworkReply *reply = nam.post(
        request,
        QByteArrayLiteral("{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"));
    QSignalSpy finished(reply, &QNetworkReply::finished);
    QVERIFY(finished.wait(10000));
    const qint64 elapsed = timer.elapsed();
    QCOMPARE(reply->error(), QNetworkReply::NoError);
    QCOMPARE(reply->header(QNetworkRequest::ContentTypeHeader).toString(),
             QStringLiteral("text/event-stream"));
    const QByteArray body = reply->readAll();
    reply->deleteLater();
    // Seven content chunks, besides the role chunk (whose delta has an empty "content").
    QCOMPARE(body.count("\"delta\":{\"content\":\"") - body.count("\"delta\":{\"content\":\"\","), 7);
    QVERIFY(body.endsWith("data: [DONE]\n\n"));
    QVERIFY2(elapsed >= 150 + 6 * 10 - 1, qPrintable(QString::number(elapsed)));
    process.terminate();
    QVERIFY(process.waitForFinished(10000));
    QCOMPARE(process.exitCode(), 0);
    QVERIFY(QString::fromUtf8(process.readAllStandardError())
                .contains(QStringLiteral("1 streams (1 completed, 0 broken on purpose)")));
}

QTEST_GUILESS_MAIN(tst_Cli)
#include "tst_cli.moc"
