// The team cost budget in Redis (core/shared/sharedcostbudget): a real redis-server on a free loopback
// port, the lease script's arithmetic, and two real sluice-cli processes debiting one budget against
// the project's simulator.

#include "redisserver.h"
#include "runfixture.h"
#include "shared/redisclient.h"
#include "shared/sharedcostbudget.h"
#include "sim/simulator.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>
#include <optional>

using namespace Sluice;
using json = nlohmann::json;

namespace {

/// Sends `command` and waits for its answer (spinning the event loop); nullopt on any error.
std::optional<RedisValue> call(RedisClient &redis, const QList<QByteArray> &command)
{
    std::optional<RedisValue> out;
    bool done = false;
    if (!redis.send(command, [&](const Result<RedisValue> &r) {
            if (r && !r->isError()) {
                out = *r;
            }
            done = true;
        })) {
        return std::nullopt;
    }
    QElapsedTimer t;
    t.start();
    while (!done && t.elapsed() < 5000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    }
    return out;
}

/// One lease: {granted, committed} in micro-dollars.
std::pair<qint64, qint64> lease(RedisClient &redis, const QByteArray &key, qint64 budget, qint64 need,
                                qint64 want, qint64 refund = 0, qint64 debt = 0)
{
    const auto r =
        call(redis, {QByteArrayLiteral("EVAL"), SharedCostBudget::leaseScript(), QByteArrayLiteral("1"), key,
                     QByteArray::number(budget), QByteArray::number(need), QByteArray::number(want),
                     QByteArray::number(refund), QByteArray::number(debt)});
    if (!r || r->elements.size() != 2) {
        return {-1, -1};
    }
    return {r->elements.at(0).toInteger(), r->elements.at(1).toInteger()};
}

} // namespace

class tst_TeamBudget : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void leaseScriptNeverGrantsPastTheBudget();
    void twoProcessesShareOneBudget();

private:
    bool connect(RedisClient &redis);

    Test::RedisServer m_redis;
    QTemporaryDir m_dir;
};

void tst_TeamBudget::initTestCase()
{
    if (Test::RedisServer::executable().isEmpty()) {
        QSKIP("redis-server is not installed (packaging/install-deps.sh installs it)");
    }
    QVERIFY(m_redis.start());
    QVERIFY(m_dir.isValid());
}

bool tst_TeamBudget::connect(RedisClient &redis)
{
    QSignalSpy up(&redis, &RedisClient::connected);
    redis.open(QStringLiteral("127.0.0.1"), m_redis.port());
    return up.wait(5000);
}

void tst_TeamBudget::leaseScriptNeverGrantsPastTheBudget()
{
    RedisClient redis;
    QVERIFY(connect(redis));
    const QByteArray key = "lease-test:cost:committed";
    // Budget 1000 micro-dollars. A lease grants what is wanted while it fits...
    QCOMPARE(lease(redis, key, 1000, 300, 600), std::make_pair(qint64(600), qint64(600)));
    // ...at most what is left when the need fits...
    QCOMPARE(lease(redis, key, 1000, 300, 600), std::make_pair(qint64(400), qint64(1000)));
    // ...and nothing when it does not.
    QCOMPARE(lease(redis, key, 1000, 1, 600), std::make_pair(qint64(0), qint64(1000)));
    // Given back (refund) it is leased again; spent beyond a reservation (debt) is charged.
    QCOMPARE(lease(redis, key, 1000, 100, 100, 250), std::make_pair(qint64(100), qint64(850)));
    QCOMPARE(lease(redis, key, 1000, 0, 0, 0, 40), std::make_pair(qint64(0), qint64(890)));
    QCOMPARE(lease(redis, key, 1000, 200, 200), std::make_pair(qint64(0), qint64(890)));
    QCOMPARE(lease(redis, key, 1000, 110, 200), std::make_pair(qint64(110), qint64(1000)));
    redis.close();
}

void tst_TeamBudget::twoProcessesShareOneBudget()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    config.jitterMs = 5;
    config.errorRate = 0.05;
    Simulator sim(config);
    const auto port = sim.listen(0);
    QVERIFY(port);
    const double budget = 0.03;
    const std::string nameSpace = "team-" + std::to_string(QCoreApplication::applicationPid());
    const json project = {
        {"endpoints",
         {{{"name", "sim"},
           {"url", "http://127.0.0.1:" + std::to_string(*port) + "/v1/chat/completions"},
           {"model", "house"},
           {"max_in_flight", 8},
           {"price", {{"input_per_mtok", 2.0}, {"output_per_mtok", 8.0}}}}}},
        {"limits",
         {{"max_attempts", 6}, {"backoff_base_ms", 10}, {"backoff_max_ms", 50}, {"max_cost_usd", budget}}},
        {"shared", {{"redis", m_redis.url().toStdString()}, {"namespace", nameSpace}}}};
    QFile projectFile(m_dir.filePath(QStringLiteral("project.json")));
    QVERIFY(projectFile.open(QIODevice::WriteOnly));
    projectFile.write(QByteArray::fromStdString(project.dump()));
    projectFile.close();

    // Each process alone would spend about $0.04 on its 300 lines: together they must stop at $0.03.
    const int n = 300;
    std::vector<std::unique_ptr<QProcess>> processes;
    for (int w = 0; w < 2; ++w) {
        QList<json> lines;
        for (int i = 1; i <= n; ++i) {
            lines.append(json{
                {"custom_id", "w" + std::to_string(w) + "-" + std::to_string(i)},
                {"messages", {{{"role", "user"}, {"content", "Tell me about sluice " + std::to_string(i)}}}},
                {"max_tokens", 200}});
        }
        const QString name = QStringLiteral("w%1").arg(w);
        QVERIFY(Test::writeJsonl(m_dir.filePath(name + QStringLiteral(".jsonl")), lines));
        auto process = std::make_unique<QProcess>();
        process->setProcessChannelMode(QProcess::ForwardedErrorChannel);
        process->start(QStringLiteral(SLUICE_CLI_PATH),
                       {QStringLiteral("run"), QStringLiteral("--project"), projectFile.fileName(),
                        QStringLiteral("--requests"), m_dir.filePath(name + QStringLiteral(".jsonl")),
                        QStringLiteral("--out"), m_dir.filePath(name + QStringLiteral("-out.jsonl")),
                        QStringLiteral("--errors"), m_dir.filePath(name + QStringLiteral("-errors.jsonl")),
                        QStringLiteral("--summary"), m_dir.filePath(name + QStringLiteral("-summary.json")),
                        QStringLiteral("--quiet")});
        QVERIFY(process->waitForStarted());
        processes.push_back(std::move(process));
    }
    for (auto &process : processes) {
        if (process->state() != QProcess::NotRunning) {
            QSignalSpy done(process.get(), &QProcess::finished); // the simulator lives on this thread
            QVERIFY(done.wait(120000));
        }
        QCOMPARE(process->exitCode(), 3);
    }
    double spent = 0;
    for (int w = 0; w < 2; ++w) {
        const QString name = QStringLiteral("w%1").arg(w);
        const json summary = Test::readJsonFile(m_dir.filePath(name + QStringLiteral("-summary.json")));
        QVERIFY(summary.is_object());
        const json cost = summary.at("cost_usd");
        QVERIFY(cost.at("budget_reached").get<bool>());
        spent += cost.at("spent").get<double>();
        const qint64 records = Test::readJsonl(m_dir.filePath(name + QStringLiteral("-out.jsonl"))).size() +
                               Test::readJsonl(m_dir.filePath(name + QStringLiteral("-errors.jsonl"))).size();
        QCOMPARE(records + summary.at("not_started").get<qint64>(), qint64(n));
        qInfo("process %d: spent $%.6f, %lld records, %lld not sent", w, cost.at("spent").get<double>(),
              records, summary.at("not_started").get<qint64>());
    }
    qInfo("team: spent $%.6f of $%.2f", spent, budget);
    QVERIFY2(spent <= budget + 1e-9, qPrintable(QString::number(spent, 'f', 9)));
    QVERIFY(spent > budget / 3); // they did spend it, not stop at once

    // Both gave back what they held: Redis's committed spend is what they spent (micro-dollars, each
    // debit rounded up).
    RedisClient redis;
    QVERIFY(connect(redis));
    const auto committed =
        call(redis, {QByteArrayLiteral("GET"), QByteArray::fromStdString(nameSpace) + ":cost:committed"});
    QVERIFY(committed);
    const double committedUsd = committed->text.toDouble() / 1e6;
    qInfo("Redis committed: $%.6f", committedUsd);
    QVERIFY2(committedUsd <= budget + 1e-9, committed->text.constData());
    QVERIFY2(committedUsd >= spent - 1e-6 && committedUsd <= spent + 0.001,
             qPrintable(QStringLiteral("%1 vs %2").arg(committedUsd).arg(spent)));
    redis.close();
}

QTEST_GUILESS_MAIN(tst_TeamBudget)
#include "tst_teambudget.moc"
