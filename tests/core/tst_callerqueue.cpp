// The gateway's waiting room: priorities, FIFO, removal, give-back and its bound.

#include "gateway/callerqueue.h"
#include "gateway/prometheustext.h"

#include <QProcess>
#include <QStandardPaths>
#include <QTest>

using namespace Sluice;

namespace {

Request request(qint64 id)
{
    Request r;
    r.line = id;
    r.customId = QStringLiteral("gw-%1").arg(id);
    r.input = nlohmann::json{{"messages", nlohmann::json::array()}};
    return r;
}

/// Ids in the order next() hands them out, until it has nothing.
QList<qint64> drain(CallerQueue &queue)
{
    QList<qint64> ids;
    for (;;) {
        RequestSource::Item item = queue.next();
        if (item.kind != RequestSource::Item::Kind::Request) {
            return ids;
        }
        ids.append(item.request.line);
    }
}

} // namespace

class tst_CallerQueue : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void higherPriorityFirstFifoWithin();
    void boundedAndWakes();
    void forgottenAreSkippedAndUnwanted();
    void giveBackKeepsTheHeadOfItsPriority();
    void manyForgottenAreCompacted();
    void prometheusLabelsAreEscaped();
    void promtoolFindsNothing();
};

void tst_CallerQueue::higherPriorityFirstFifoWithin()
{
    CallerQueue queue(100);
    const int priorities[] = {5, 0, 9, 5, 0, 9, 5, 42, -3};
    for (qint64 id = 1; id <= 9; ++id) {
        QVERIFY(queue.push(request(id), priorities[id - 1]));
    }
    QCOMPARE(queue.size(), qint64(9));
    // 42 is clamped to 9 and -3 to 0.
    QCOMPARE(drain(queue), (QList<qint64>{3, 6, 8, 1, 4, 7, 2, 5, 9}));
    QCOMPARE(queue.size(), qint64(0));
    QCOMPARE(queue.next().kind, RequestSource::Item::Kind::None); // never End: a gateway has no end
}

void tst_CallerQueue::boundedAndWakes()
{
    CallerQueue queue(3);
    int wakes = 0;
    queue.setWakeHandler([&wakes] { ++wakes; });
    QVERIFY(queue.push(request(1), 5));
    QVERIFY(queue.push(request(2), 5));
    QVERIFY(queue.push(request(3), 5));
    QVERIFY(queue.isFull());
    QVERIFY(!queue.push(request(4), 9));
    QCOMPARE(wakes, 3);
    QVERIFY(!queue.isWanted(request(4)));
    QCOMPARE(queue.next().request.line, qint64(1));
    QVERIFY(queue.push(request(5), 5)); // room again
    QCOMPARE(queue.backlog(), qint64(3));
}

void tst_CallerQueue::forgottenAreSkippedAndUnwanted()
{
    CallerQueue queue(10);
    for (qint64 id = 1; id <= 4; ++id) {
        QVERIFY(queue.push(request(id), 5));
    }
    const RequestSource::Item first = queue.next();
    QCOMPARE(first.request.line, qint64(1));
    QVERIFY(queue.isWanted(first.request));  // held by the engine, still wanted
    QVERIFY(!queue.forget(1));               // not waiting here any more...
    QVERIFY(!queue.isWanted(first.request)); // ...but no longer wanted: the engine drops it
    QVERIFY(queue.isWaiting(3));
    QVERIFY(queue.forget(3));
    QVERIFY(!queue.isWaiting(3));
    QCOMPARE(queue.size(), qint64(2));
    QCOMPARE(drain(queue), (QList<qint64>{2, 4}));
}

void tst_CallerQueue::giveBackKeepsTheHeadOfItsPriority()
{
    CallerQueue queue(10);
    QVERIFY(queue.push(request(1), 5));
    QVERIFY(queue.push(request(2), 5));
    RequestSource::Item taken = queue.next();
    QCOMPARE(taken.request.line, qint64(1));
    QVERIFY(queue.push(request(3), 9)); // arrives while 1 waits in the engine
    QVERIFY(queue.giveBack(taken.request));
    QCOMPARE(queue.size(), qint64(3));
    QCOMPARE(drain(queue), (QList<qint64>{3, 1, 2}));
    // A forgotten request is not taken back.
    QVERIFY(queue.push(request(4), 5));
    RequestSource::Item gone = queue.next();
    queue.forget(4);
    QVERIFY(!queue.giveBack(gone.request));
    QCOMPARE(queue.size(), qint64(0));
}

void tst_CallerQueue::manyForgottenAreCompacted()
{
    CallerQueue queue(100000);
    for (qint64 id = 1; id <= 1000; ++id) {
        QVERIFY(queue.push(request(id), int(id % 10)));
    }
    for (qint64 id = 1; id <= 1000; ++id) {
        if (id % 100 != 0) {
            QVERIFY(queue.forget(id));
        }
    }
    QCOMPARE(queue.size(), qint64(10));
    QCOMPARE(drain(queue), (QList<qint64>{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000}));
}

void tst_CallerQueue::prometheusLabelsAreEscaped()
{
    QCOMPARE(PrometheusText::escapeLabel(QStringLiteral("a\"b\\c\nd")), QByteArray("a\\\"b\\\\c\\nd"));
    MetricsSnapshot s;
    EndpointStats e;
    e.name = QStringLiteral("we\"ird");
    e.sent = 7;
    s.endpoints.append(e);
    s.issued = 7;
    GatewayMetrics m;
    m.maxQueue = 10;
    const QByteArray text = PrometheusText::render(s, m);
    QVERIFY(text.contains("sluice_requests_issued_total 7\n"));
    QVERIFY(text.contains("sluice_endpoint_attempts_total{endpoint=\"we\\\"ird\",result=\"sent\"} 7\n"));
    QVERIFY(text.contains("sluice_queue_capacity 10\n"));
    QVERIFY(!text.contains("sluice_shared_")); // no "shared" block: no shared-limits metrics

    // With shared limits: Redis down, failing open.
    s.shared.enabled = true;
    s.shared.nameSpace = QStringLiteral("team-a");
    s.shared.state = QStringLiteral("down (local 1/2)");
    s.shared.processes = 2;
    s.shared.leases = 40;
    s.shared.leaseDenials = 3;
    s.shared.downMs = 2500;
    s.shared.sentWhileDown = 155;
    const QByteArray shared = PrometheusText::render(s, m);
    QVERIFY2(shared.contains("sluice_shared_redis_up{namespace=\"team-a\",state=\"down (local 1/2)\"} 0\n"),
             shared.constData());
    QVERIFY(shared.contains("sluice_shared_processes{namespace=\"team-a\"} 2\n"));
    QVERIFY(shared.contains("sluice_shared_leases_total{namespace=\"team-a\",result=\"granted\"} 37\n"));
    QVERIFY(shared.contains("sluice_shared_redis_down_seconds_total{namespace=\"team-a\"} 2.5\n"));
    QVERIFY(shared.contains("sluice_shared_sent_while_down_total{namespace=\"team-a\"} 155\n"));
}

void tst_CallerQueue::promtoolFindsNothing()
{
    // Everything /metrics can hold: endpoints, shared limits, caller keys, histograms with samples.
    MetricsSnapshot s;
    for (const char *name : {"a", "b"}) {
        EndpointStats e;
        e.name = QString::fromLatin1(name);
        e.sent = 3;
        s.endpoints.append(e);
    }
    s.errorsByClass.insert(QStringLiteral("server"), 2);
    s.shared.enabled = true;
    s.shared.nameSpace = QStringLiteral("ns");
    s.shared.state = QStringLiteral("connected");
    s.shared.leaseRttP50Ms = 0.4;
    GatewayMetrics m;
    m.maxQueue = 10;
    for (const double seconds : {0.001, 0.02, 0.3, 4.0, 500.0}) {
        m.callerDuration.observe(seconds);
        m.upstreamDuration[QStringLiteral("a")].observe(seconds);
    }
    m.keys.append({QStringLiteral("team-a"), 5, 1});
    m.authUnknown = 2;
    const QByteArray text = PrometheusText::render(s, m);
    QVERIFY(text.contains("sluice_gateway_request_duration_seconds_bucket{le=\"0.025\"} 2\n"));
    QVERIFY(text.contains("sluice_gateway_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
    QVERIFY(text.contains("sluice_gateway_request_duration_seconds_count 5\n"));
    QVERIFY(text.contains("sluice_endpoint_request_duration_seconds_bucket{endpoint=\"b\",le=\"+Inf\"} 0\n"));
    QVERIFY(text.contains("sluice_gateway_key_requests_total{key=\"team-a\",result=\"admitted\"} 5\n"));
    QVERIFY(!text.contains("_ms"));

    // The Prometheus linter (Debian package prometheus; packaging/install-deps.sh installs it).
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    QVERIFY2(!promtool.isEmpty(), "promtool is missing: run packaging/install-deps.sh");
    QProcess check;
    check.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY(check.waitForStarted());
    check.write(text);
    check.closeWriteChannel();
    QVERIFY(check.waitForFinished(30000));
    const QByteArray said = check.readAllStandardOutput() + check.readAllStandardError();
    QVERIFY2(check.exitCode() == 0 && said.trimmed().isEmpty(), said.constData());
}

QTEST_GUILESS_MAIN(tst_CallerQueue)
#include "tst_callerqueue.moc"
