// Limits shared through Redis, and `--shard K/N`: a real redis-server on a free loopback port, real
// sluice-cli processes, a real simulator enforcing its own rate limit.

#include "redisserver.h"
#include "runfixture.h"
#include "shared/redisclient.h"
#include "shared/sharedlimits.h"
#include "sim/simulatorhost.h"
#include "util/clock.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <map>
#include <memory>
#include <optional>

using namespace Sluice;
using json = nlohmann::json;

namespace {

/// Evaluates `script` and returns its integer array (empty on any error).
std::vector<qint64> evalSync(RedisClient &redis, const QByteArray &script, const QList<QByteArray> &keys,
                             const QList<QByteArray> &args)
{
    std::optional<std::vector<qint64>> out;
    QList<QByteArray> command{QByteArrayLiteral("EVAL"), script, QByteArray::number(keys.size())};
    command << keys << args;
    const bool sent = redis.send(command, [&out](const Result<RedisValue> &r) {
        std::vector<qint64> v;
        if (r && !r->isError()) {
            for (const RedisValue &e : r->elements) {
                v.push_back(e.toInteger(-999));
            }
            if (r->type == RedisValue::Type::Integer) {
                v.push_back(r->integer);
            }
        } else if (r) {
            qWarning("script error: %s", r->text.constData());
        }
        out = v;
    });
    if (!sent) {
        return {};
    }
    QElapsedTimer t;
    t.start();
    while (!out && t.elapsed() < 5000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    }
    return out.value_or(std::vector<qint64>{});
}

QList<QByteArray> leaseKeys(const QByteArray &prefix)
{
    return {prefix + ":req", prefix + ":tok", prefix + ":cooldown", prefix + ":procs"};
}

/// ARGV of the lease script: rps, tps, lease ms, horizon ms, process, ttl ms, want, refund, grant.
QList<QByteArray> leaseArgs(double rps, double tps, const QByteArray &process, double refund = 0,
                            bool grant = true, double want = 0)
{
    return {QByteArray::number(rps),
            QByteArray::number(tps),
            QByteArrayLiteral("100"),
            QByteArrayLiteral("250"),
            process,
            QByteArrayLiteral("2000"),
            QByteArray::number(want),
            QByteArray::number(refund),
            grant ? QByteArrayLiteral("1") : QByteArrayLiteral("0")};
}

QString describe(const std::vector<qint64> &v)
{
    QStringList parts;
    for (qint64 x : v) {
        parts << QString::number(x);
    }
    return QStringLiteral("{") + parts.join(QStringLiteral(", ")) + QStringLiteral("}");
}

/// A whole JSON file (the --summary), or an empty object.
json readJson(const QString &path)
{
    json value = Test::readJsonFile(path);
    return value.is_object() ? value : json::object();
}

struct Worker
{
    std::unique_ptr<QProcess> process;
    QString out, errors, summary;
};

} // namespace

class tst_SharedLimits : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void leaseScriptArithmetic();
    void clientReconnectsAndLimitsPause();
    void hungRedisFailsOpen();
    void shardsCoverEveryLineOnce();
    void twoProcessesShareOneLimit();
    void redisKilledMidRun_data();
    void redisKilledMidRun();

private:
    QString path(const QString &name) const { return m_dir->filePath(name); }
    QString writeRequests(int count, bool withBlankAndBad = false);
    QString writeProject(quint16 simPort, double rpm, const QString &redisUrl, const QString &onDown);
    Worker startWorker(const QString &tag, const QString &project, const QString &requests,
                       const QString &shard);
    static bool waitAll(std::vector<Worker> &workers, int timeoutMs);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_SharedLimits::init()
{
    if (Test::RedisServer::executable().isEmpty()) {
        QSKIP("redis-server is not installed (packaging/install-deps.sh installs it)");
    }
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

QString tst_SharedLimits::writeRequests(int count, bool withBlankAndBad)
{
    QList<json> lines;
    for (int i = 1; i <= count; ++i) {
        if (withBlankAndBad && i % 17 == 0) {
            lines.append(json(std::string())); // blank line: no record anywhere
        } else if (withBlankAndBad && i % 23 == 0) {
            lines.append(json(std::string("{not json"))); // bad line: an error record
        } else {
            lines.append(json{{"custom_id", QStringLiteral("c%1").arg(i).toStdString()},
                              {"input", QStringLiteral("hello %1").arg(i).toStdString()}});
        }
    }
    const QString file = path(QStringLiteral("requests.jsonl"));
    return Test::writeJsonl(file, lines) ? file : QString();
}

QString tst_SharedLimits::writeProject(quint16 simPort, double rpm, const QString &redisUrl,
                                       const QString &onDown)
{
    const json project = {
        {"endpoints",
         json::array(
             {{{"name", "sim"},
               {"url", QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(simPort).toStdString()},
               {"rpm", rpm},
               {"max_in_flight", 64},
               {"timeout_s", 30}}})},
        {"limits", {{"max_attempts", 20}, {"backoff_base_ms", 100}, {"backoff_max_ms", 2000}}},
        {"shared",
         {{"redis", redisUrl.toStdString()},
          {"namespace", QStringLiteral("test-%1").arg(QCoreApplication::applicationPid()).toStdString()},
          {"on_redis_down", onDown.toStdString()}}}};
    const QString file = path(QStringLiteral("project.json"));
    return Test::writeJsonl(file, {project}) ? file : QString();
}

Worker tst_SharedLimits::startWorker(const QString &tag, const QString &project, const QString &requests,
                                     const QString &shard)
{
    Worker w;
    w.out = path(tag + QStringLiteral(".out.jsonl"));
    w.errors = path(tag + QStringLiteral(".errors.jsonl"));
    w.summary = path(tag + QStringLiteral(".summary.json"));
    w.process = std::make_unique<QProcess>();
    w.process->setProcessChannelMode(QProcess::MergedChannels);
    QStringList args{QStringLiteral("run"),
                     QStringLiteral("--project"),
                     project,
                     QStringLiteral("--requests"),
                     requests,
                     QStringLiteral("--out"),
                     w.out,
                     QStringLiteral("--errors"),
                     w.errors,
                     QStringLiteral("--summary"),
                     w.summary,
                     QStringLiteral("--progress-interval"),
                     QStringLiteral("1")};
    if (!shard.isEmpty()) {
        args << QStringLiteral("--shard") << shard;
    }
    w.process->start(QStringLiteral(SLUICE_CLI_PATH), args);
    return w;
}

bool tst_SharedLimits::waitAll(std::vector<Worker> &workers, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    for (Worker &w : workers) {
        while (w.process->state() != QProcess::NotRunning && t.elapsed() < timeoutMs) {
            QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
            w.process->waitForFinished(50);
        }
        if (w.process->state() != QProcess::NotRunning) {
            for (Worker &k : workers) {
                k.process->kill();
                k.process->waitForFinished(5000);
            }
            return false;
        }
    }
    return true;
}

void tst_SharedLimits::leaseScriptArithmetic()
{
    Test::RedisServer server;
    QVERIFY2(server.start(), "redis-server did not start");
    RedisClient redis;
    QSignalSpy connected(&redis, &RedisClient::connected);
    redis.open(QStringLiteral("127.0.0.1"), server.port());
    QVERIFY(connected.wait(5000));
    const QByteArray lease = SharedLimits::leaseScript();

    // 100 req/s, one process: 100 ms of slots (10, 10 ms apart) starting now.
    QElapsedTimer sinceFirst;
    sinceFirst.start();
    auto v = evalSync(redis, lease, leaseKeys("t:e"), leaseArgs(100, 0, "p1"));
    QVERIFY2(v.size() == 8, qPrintable(describe(v)));
    QCOMPARE(v[0], 10);
    QCOMPARE(v[1], 0);
    QCOMPARE(v[2], 10000);
    QCOMPARE(v[6], 1);
    // The next block starts where the first ends (about 100 ms from now), then 200 ms...
    // (The start is relative to Redis's clock when it answers: the time between the calls comes off.)
    v = evalSync(redis, lease, leaseKeys("t:e"), leaseArgs(100, 0, "p1"));
    qint64 elapsedUs = sinceFirst.nsecsElapsed() / 1000;
    QVERIFY2(v.size() == 8 && v[0] == 10 && v[1] >= 100000 - elapsedUs - 1000 && v[1] <= 100000,
             qPrintable(describe(v)));
    v = evalSync(redis, lease, leaseKeys("t:e"), leaseArgs(100, 0, "p1"));
    elapsedUs = sinceFirst.nsecsElapsed() / 1000;
    QVERIFY2(v.size() == 8 && v[0] == 10 && v[1] >= 200000 - elapsedUs - 1000 && v[1] <= 200000,
             qPrintable(describe(v)));
    // ... and with 300 ms leased ahead (more than the 250 ms horizon) the answer is "ask again later".
    v = evalSync(redis, lease, leaseKeys("t:e"), leaseArgs(100, 0, "p1"));
    QVERIFY2(v.size() == 8 && v[0] == 0 && v[7] > 0 && v[7] <= 50, qPrintable(describe(v)));

    // A second process halves the lease: each holds about 50 ms of the future.
    v = evalSync(redis, lease, leaseKeys("t:f"), leaseArgs(100, 0, "p1"));
    v = evalSync(redis, lease, leaseKeys("t:f"), leaseArgs(100, 0, "p2"));
    QVERIFY2(v.size() == 8 && v[6] == 2 && v[0] == 5, qPrintable(describe(v)));

    // Tokens: 1000/s, want 0 -> 100 ms worth; a refund of 100 moves the next grant 100 ms earlier.
    sinceFirst.restart();
    v = evalSync(redis, lease, leaseKeys("t:g"), leaseArgs(0, 1000, "p1"));
    QVERIFY2(v.size() == 8 && v[0] == 0 && v[3] == 100 && v[4] == 0, qPrintable(describe(v)));
    v = evalSync(redis, lease, leaseKeys("t:g"), leaseArgs(0, 1000, "p1"));
    elapsedUs = sinceFirst.nsecsElapsed() / 1000;
    QVERIFY2(v.size() == 8 && v[3] == 100 && v[4] >= 100000 - elapsedUs - 1000 && v[4] <= 100000,
             qPrintable(describe(v)));
    v = evalSync(redis, lease, leaseKeys("t:g"), leaseArgs(0, 1000, "p1", 100, false));
    QVERIFY2(v.size() == 8 && v[3] == 0, qPrintable(describe(v)));
    v = evalSync(redis, lease, leaseKeys("t:g"), leaseArgs(0, 1000, "p1"));
    elapsedUs = sinceFirst.nsecsElapsed() / 1000;
    QVERIFY2(v.size() == 8 && v[3] == 100 && v[4] >= 100000 - elapsedUs - 1000 && v[4] <= 100000,
             qPrintable(describe(v)));
    // A request bigger than a lease gets what it needs.
    v = evalSync(redis, lease, leaseKeys("t:h"), leaseArgs(0, 1000, "p1", 0, true, 700));
    QVERIFY2(v.size() == 8 && v[3] == 700, qPrintable(describe(v)));

    // A cooldown (one process's 429) refuses every lease and says how long it lasts.
    sinceFirst.restart();
    v = evalSync(redis, SharedLimits::cooldownScript(), {"t:e2:cooldown"}, {"500"});
    QVERIFY2(v.size() == 1 && v[0] < 0, qPrintable(describe(v)));
    v = evalSync(redis, lease, leaseKeys("t:e2"), leaseArgs(100, 0, "p1"));
    QVERIFY2(v.size() == 8 && v[0] == 0 && v[5] >= 500 - sinceFirst.elapsed() - 1 && v[5] <= 500,
             qPrintable(describe(v)));
    // A shorter cooldown does not shorten it.
    v = evalSync(redis, SharedLimits::cooldownScript(), {"t:e2:cooldown"}, {"100"});
    v = evalSync(redis, lease, leaseKeys("t:e2"), leaseArgs(100, 0, "p1"));
    QVERIFY2(v.size() == 8 && (v[5] > 100 || sinceFirst.elapsed() > 400), qPrintable(describe(v)));
}

void tst_SharedLimits::clientReconnectsAndLimitsPause()
{
    Test::RedisServer server;
    QVERIFY2(server.start(), "redis-server did not start");
    SharedConfig config;
    config.redisUrl = server.url();
    config.nameSpace = QStringLiteral("reconnect");
    config.onRedisDown = SharedConfig::OnRedisDown::FailClosed;
    SharedLimits limits(config, {{QStringLiteral("e"), 6000, 0}}, SteadyClock::instance());
    limits.start();
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("connected"), 5000);
    // Permits come by lease: ask until one is granted.
    QTRY_VERIFY_WITH_TIMEOUT(limits.mayAcquire(0, 0), 5000);
    limits.onSend(0, 0);
    QVERIFY(limits.stats().leases >= 1);
    QCOMPARE(limits.stats().permitsUsed, 1);

    server.kill();
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("down (paused)"), 5000);
    QVERIFY(!limits.mayAcquire(0, 0));
    QVERIFY(qIsInf(limits.readyAtMs(0, 0)));

    QVERIFY2(server.start(), "redis-server did not restart");
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("connected"), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(limits.mayAcquire(0, 0), 5000);
    QVERIFY(limits.stats().downMs > 0);
    QVERIFY(limits.stats().reconnects >= 1);
    limits.stop();
}

void tst_SharedLimits::hungRedisFailsOpen()
{
    // A Redis that keeps its connections but answers nothing (SIGSTOP) is down after the command
    // timeout; fail_open then sends on local limits, and shared budgets come back with it.
    Test::RedisServer server;
    QVERIFY2(server.start(), "redis-server did not start");
    SharedConfig config;
    config.redisUrl = server.url();
    config.nameSpace = QStringLiteral("hung");
    config.onRedisDown = SharedConfig::OnRedisDown::FailOpen;
    SharedLimits limits(config, {{QStringLiteral("e"), 6000, 0}}, SteadyClock::instance());
    limits.start();
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("connected"), 5000);
    QVERIFY(::kill(pid_t(server.pid()), SIGSTOP) == 0);
    QTRY_VERIFY_WITH_TIMEOUT(!limits.mayAcquire(0, 0), 2000); // leased slots run out; the lease hangs
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("down (local 1/1)"), 5000);
    QVERIFY(limits.mayAcquire(0, 0));
    limits.onSend(0, 0);
    QCOMPARE(limits.stats().sentWhileDown, 1);
    QVERIFY(::kill(pid_t(server.pid()), SIGCONT) == 0);
    QTRY_COMPARE_WITH_TIMEOUT(limits.stats().state, QStringLiteral("connected"), 10000);
    limits.stop();
}

void tst_SharedLimits::shardsCoverEveryLineOnce()
{
    const QString requests = writeRequests(120, true);
    QVERIFY(!requests.isEmpty());
    constexpr int N = 3;
    std::map<qint64, int> seen; // line -> records over all shards
    for (int k = 1; k <= N; ++k) {
        QProcess p;
        const QString out = path(QStringLiteral("s%1.jsonl").arg(k));
        const QString err = path(QStringLiteral("s%1.errors.jsonl").arg(k));
        p.start(QStringLiteral(SLUICE_CLI_PATH),
                {QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--requests"), requests,
                 QStringLiteral("--out"), out, QStringLiteral("--errors"), err, QStringLiteral("--quiet"),
                 QStringLiteral("--shard"), QStringLiteral("%1/%2").arg(k).arg(N)});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 1); // the bad lines of this shard are errors
        for (const QString &file : {out, err}) {
            for (const json &record : Test::readJsonl(file)) {
                const qint64 line = record.value("line", qint64(0));
                QVERIFY2((line - 1) % N == k - 1,
                         qPrintable(QStringLiteral("shard %1 wrote line %2").arg(k).arg(line)));
                ++seen[line];
            }
        }
    }
    for (qint64 line = 1; line <= 120; ++line) {
        const int expected = line % 17 == 0 ? 0 : 1;
        QVERIFY2(seen[line] == expected,
                 qPrintable(QStringLiteral("line %1 has %2 records").arg(line).arg(seen[line])));
    }
    // A resume must name the same shard.
    QProcess resume;
    resume.start(QStringLiteral(SLUICE_CLI_PATH),
                 {QStringLiteral("run"), QStringLiteral("--simulate"), QStringLiteral("--requests"), requests,
                  QStringLiteral("--out"), path(QStringLiteral("s1.jsonl")), QStringLiteral("--errors"),
                  path(QStringLiteral("s1.errors.jsonl")), QStringLiteral("--resume"),
                  QStringLiteral("--shard"), QStringLiteral("2/3")});
    QVERIFY(resume.waitForFinished(30000));
    QCOMPARE(resume.exitCode(), 2);
    const QString message = QString::fromUtf8(resume.readAllStandardError());
    QVERIFY2(message.contains(QStringLiteral("shard 1/3")) && message.contains(QStringLiteral("shard 2/3")),
             qPrintable(message));
}

void tst_SharedLimits::twoProcessesShareOneLimit()
{
    Test::RedisServer server;
    QVERIFY2(server.start(), "redis-server did not start");
    constexpr double L = 60; // the simulator's limit, req/s, for both processes together
    constexpr int Lines = 600;
    SimulatorConfig sim;
    sim.rps = L;
    sim.latencyMs = 20;
    sim.jitterMs = 20;
    sim.rateLimitHeaders = false; // a silent limiter: only the shared budget keeps us under it
    SimulatorHost host(sim);
    const auto port = host.listen(0);
    QVERIFY(port);
    // Each process alone is allowed the whole limit: only sharing keeps the sum at L.
    const QString project = writeProject(*port, L * 60, server.url(), QStringLiteral("fail_closed"));
    const QString requests = writeRequests(Lines);

    QElapsedTimer wall;
    wall.start();
    std::vector<Worker> workers;
    workers.push_back(startWorker(QStringLiteral("w1"), project, requests, QStringLiteral("1/2")));
    workers.push_back(startWorker(QStringLiteral("w2"), project, requests, QStringLiteral("2/2")));
    QVERIFY2(waitAll(workers, 60000), "the workers did not finish in 60 s");
    const double seconds = double(wall.elapsed()) / 1000.0;

    std::map<QString, int> ids;
    qint64 permitsUsed = 0;
    for (Worker &w : workers) {
        QVERIFY2(w.process->exitCode() == 0, w.process->readAll().constData());
        permitsUsed += readJson(w.summary).value("shared", json::object()).value("permits_used", qint64(0));
        for (const json &r : Test::readJsonl(w.out)) {
            ++ids[QString::fromStdString(r.value("custom_id", std::string()))];
        }
        QVERIFY(Test::readJsonl(w.errors).isEmpty());
    }
    QCOMPARE(int(ids.size()), Lines);
    for (const auto &[id, n] : ids) {
        QVERIFY2(n == 1, qPrintable(id));
    }
    const Simulator::Stats stats = host.stats();
    const double share429 = double(stats.rateLimited) / double(std::max<qint64>(1, stats.requests));
    const double goodput = double(stats.ok) / seconds;
    const json summary1 = readJson(workers[0].summary);
    const json shared = summary1.value("shared", json::object());
    qInfo(
        "two processes, L = %.0f/s: %lld requests, %lld ok, %lld 429 (%.2f %%), %.1f s wall, goodput %.1f/s "
        "(%.0f %% of L); shared %s",
        L, stats.requests, stats.ok, stats.rateLimited, share429 * 100, seconds, goodput, 100 * goodput / L,
        shared.dump().c_str());
    QVERIFY2(share429 <= 0.01, qPrintable(QStringLiteral("429 share %1").arg(share429)));
    // Wall time includes starting both processes and the last replies: goodput is measured against it.
    QVERIFY2(goodput >= 0.9 * L, qPrintable(QStringLiteral("goodput %1/s of %2").arg(goodput).arg(L)));
    QCOMPARE(shared.value("max_processes", 0), 2);
    // Every attempt the simulator saw was paced by a shared slot: nothing bypassed the shared budget.
    QCOMPARE(permitsUsed, stats.requests);
    QCOMPARE(shared.value("state", std::string()), std::string("connected"));
}

void tst_SharedLimits::redisKilledMidRun_data()
{
    QTest::addColumn<QString>("mode");
    QTest::newRow("fail_closed") << QStringLiteral("fail_closed");
    QTest::newRow("fail_open") << QStringLiteral("fail_open");
}

void tst_SharedLimits::redisKilledMidRun()
{
    QFETCH(QString, mode);
    Test::RedisServer server;
    QVERIFY2(server.start(), "redis-server did not start");
    constexpr double L = 50;
    constexpr int Lines = 400;
    SimulatorConfig sim;
    sim.rps = L;
    sim.latencyMs = 20;
    sim.rateLimitHeaders = false;
    SimulatorHost host(sim);
    const auto port = host.listen(0);
    QVERIFY(port);
    const QString project = writeProject(*port, L * 60, server.url(), mode);
    const QString requests = writeRequests(Lines);

    std::vector<Worker> workers;
    workers.push_back(startWorker(QStringLiteral("w1"), project, requests, QStringLiteral("1/2")));
    workers.push_back(startWorker(QStringLiteral("w2"), project, requests, QStringLiteral("2/2")));
    // Let them run on shared limits, then crash Redis for 2 s, then bring it back.
    QTest::qWait(2500);
    const qint64 okBefore = host.stats().ok;
    server.kill();
    QTest::qWait(2000);
    const qint64 okDuring = host.stats().ok - okBefore;
    QVERIFY2(server.start(), "redis-server did not restart");
    QVERIFY2(waitAll(workers, 60000), "the workers did not finish in 60 s");

    std::map<QString, int> ids;
    qint64 sentWhileDown = 0;
    double downS = 0;
    for (Worker &w : workers) {
        const QByteArray log = w.process->readAll();
        QVERIFY2(w.process->exitCode() == 0, log.constData());
        QVERIFY2(log.contains("Redis unreachable"), log.constData());
        for (const json &r : Test::readJsonl(w.out)) {
            ++ids[QString::fromStdString(r.value("custom_id", std::string()))];
        }
        QVERIFY(Test::readJsonl(w.errors).isEmpty());
        const json shared = readJson(w.summary).value("shared", json::object());
        sentWhileDown += shared.value("sent_while_down", qint64(-1));
        downS = std::max(downS, shared.value("down_s", 0.0));
        QCOMPARE(shared.value("state", std::string()), std::string("connected"));
    }
    QCOMPARE(int(ids.size()), Lines); // nothing lost
    for (const auto &[id, n] : ids) {
        QVERIFY2(n == 1, qPrintable(id)); // nothing duplicated
    }
    const Simulator::Stats stats = host.stats();
    qInfo("%s: ok during the outage %lld, sent while down %lld, down %.1f s, 429s %lld of %lld",
          qPrintable(mode), okDuring, sentWhileDown, downS, stats.rateLimited, stats.requests);
    QVERIFY2(downS >= 1.0, qPrintable(QString::number(downS)));
    if (mode == QLatin1String("fail_closed")) {
        QCOMPARE(sentWhileDown, 0);
        // Replies to requests sent before the crash may still arrive in its first moments.
        QVERIFY2(okDuring <= 10, qPrintable(QString::number(okDuring)));
    } else {
        // Local limits at 1/2 each: about L in total while Redis is away.
        QVERIFY2(sentWhileDown >= qint64(L * 2 * 0.5), qPrintable(QString::number(sentWhileDown)));
        QVERIFY2(okDuring >= qint64(L * 2 * 0.5), qPrintable(QString::number(okDuring)));
    }
    QVERIFY2(double(stats.rateLimited) <= 0.02 * double(stats.requests),
             qPrintable(QStringLiteral("%1 429s").arg(stats.rateLimited)));
}

QTEST_GUILESS_MAIN(tst_SharedLimits)
#include "tst_sharedlimits.moc"
