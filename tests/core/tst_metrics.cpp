#include "metrics/metrics.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using Sluice::ErrorClass;
using Sluice::Metrics;
using Sluice::MetricsSnapshot;

class tst_Metrics : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void latencyPercentilesPerSecond();
    void historyCsvHasLatencyColumns();
    void currentRateDecaysWhenTrafficStops();
    void attemptErrorsByClassAndLatencySums();
};

void tst_Metrics::currentRateDecaysWhenTrafficStops()
{
    Metrics m;
    m.reset(1, 0.0);
    // Second 0: 50 requests finish; then nothing more.
    for (int i = 0; i < 50; ++i) {
        m.recordFinal(ErrorClass::None, 10.0 * i);
    }
    MetricsSnapshot busy;
    m.fill(busy, 1500.0);
    QCOMPARE(busy.currentRps, 50.0);
    // One whole idle second later the gauge says so (it used to keep 50 for as long as nothing happened).
    MetricsSnapshot idle;
    m.fill(idle, 2500.0);
    QCOMPARE(idle.currentRps, 0.0);
    m.fill(idle, 600000.0);
    QCOMPARE(idle.currentRps, 0.0);
    // The recent seconds shown in charts cover the idle ones too, as zeros, up to the last whole second.
    QCOMPARE(idle.recent.size(), 60);
    QCOMPARE(idle.recent.last().second, qint64(599));
    QCOMPARE(idle.recent.last().finished, qint64(0));
    QCOMPARE(idle.averageRps, 50.0 / 600.0);
}

void tst_Metrics::latencyPercentilesPerSecond()
{
    Metrics m;
    m.reset(1, 1000.0);
    // Second 0: 100 successes of 1..100 ms. Second 1: none (only a 429). Second 2: ten of 500 ms.
    for (int i = 1; i <= 100; ++i) {
        m.recordAttempt(0, ErrorClass::None, double(i), 0, 0, 1000.0 + i);
    }
    m.recordAttempt(0, ErrorClass::RateLimited, 3.0, 0, 0, 2500.0);
    for (int i = 0; i < 10; ++i) {
        m.recordAttempt(0, ErrorClass::None, 500.0, 0, 0, 3100.0 + i);
    }
    // A failure's latency counts for nothing.
    m.recordAttempt(0, ErrorClass::Server, 9000.0, 0, 0, 3200.0);

    const std::vector<Sluice::SecondSample> &h = m.history();
    QCOMPARE(h.size(), std::size_t(3));
    // The histogram has 4 % wide buckets: percentiles are exact to within one bucket.
    QVERIFY2(std::abs(h[0].p50Ms - 50) <= 2.5, qPrintable(QString::number(h[0].p50Ms)));
    QVERIFY2(std::abs(h[0].p90Ms - 90) <= 4, qPrintable(QString::number(h[0].p90Ms)));
    QVERIFY2(std::abs(h[0].p99Ms - 99) <= 4.5, qPrintable(QString::number(h[0].p99Ms)));
    QCOMPARE(h[1].p50Ms, 0.0);
    QCOMPARE(h[1].exceptions, 1);
    // The open second is brought up to date whenever it is read.
    QVERIFY2(std::abs(h[2].p50Ms - 500) <= 20, qPrintable(QString::number(h[2].p50Ms)));
    QVERIFY2(std::abs(h[2].p99Ms - 500) <= 20, qPrintable(QString::number(h[2].p99Ms)));

    m.recordAttempt(0, ErrorClass::None, 2000.0, 0, 0, 3300.0);
    m.recordAttempt(0, ErrorClass::None, 2000.0, 0, 0, 3301.0);
    QVERIFY2(m.history()[2].p99Ms > 1900, qPrintable(QString::number(m.history()[2].p99Ms)));

    // Snapshots carry the whole seconds with their percentiles.
    MetricsSnapshot snap;
    m.fill(snap, 4500.0);
    QCOMPARE(snap.recent.size(), 3);
    QCOMPARE(snap.recent.at(0).p50Ms, h[0].p50Ms);
    QCOMPARE(snap.recent.at(2).p99Ms, m.history()[2].p99Ms);
}

void tst_Metrics::historyCsvHasLatencyColumns()
{
    Metrics m;
    m.reset(1, 0.0);
    m.recordIssued(0, 10.0, false);
    m.recordAttempt(0, ErrorClass::None, 42.0, 7, 3, 20.0);
    m.recordFinal(ErrorClass::None, 20.0);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("h.csv"));
    QVERIFY(Metrics::writeHistoryCsv(path, m.history()).ok());
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QCOMPARE(lines.at(0),
             QByteArray("second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                        "output_tokens,p50_ms,p90_ms,p99_ms,streams,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,"
                        "itl_p50_ms,itl_p99_ms,stream_output_tokens_per_s,cost_usd,spent_usd"));
    const QList<QByteArray> row = lines.at(1).split(',');
    QCOMPARE(row.size(), 21);
    QCOMPARE(row.mid(0, 9), (QList<QByteArray>{"0", "1", "1", "1", "0", "0", "0", "7", "3"}));
    for (int i = 9; i < 12; ++i) {
        // the histogram answers to within one 4 % bucket
        QVERIFY2(std::abs(row.at(i).toDouble() - 42.0) <= 42.0 * 0.045, row.at(i).constData());
    }
}

void tst_Metrics::attemptErrorsByClassAndLatencySums()
{
    Metrics m;
    m.reset(2, 0.0);
    m.recordAttempt(0, ErrorClass::None, 100.0, 0, 0, 10.0);
    m.recordAttempt(0, ErrorClass::None, 300.0, 0, 0, 20.0);
    m.recordAttempt(1, ErrorClass::None, 50.0, 0, 0, 30.0);
    m.recordAttempt(1, ErrorClass::Server, 9000.0, 0, 0, 40.0);
    m.recordAttempt(1, ErrorClass::Server, 10.0, 0, 0, 50.0);
    m.recordAttempt(0, ErrorClass::RateLimited, 1.0, 0, 0, 60.0);
    m.recordAttempt(0, ErrorClass::Timeout, 1.0, 0, 0, 70.0);
    m.recordAttempt(0, ErrorClass::Cancelled, 1.0, 0, 0, 80.0); // the operator's doing: not an error
    MetricsSnapshot snap;
    m.fill(snap, 1500.0);
    QCOMPARE(snap.attemptErrorsByClass.size(), 3);
    QCOMPARE(snap.attemptErrorsByClass.value(QStringLiteral("server")), 2);
    QCOMPARE(snap.attemptErrorsByClass.value(QStringLiteral("rate_limited")), 1);
    QCOMPARE(snap.attemptErrorsByClass.value(QStringLiteral("timeout")), 1);
    QCOMPARE(snap.endpoints.at(0).latencySumMs, 400.0);
    QCOMPARE(snap.endpoints.at(1).latencySumMs, 50.0);
    // The histogram's buckets: three successes, in increasing order, each within its 4 % bucket.
    QCOMPARE(snap.latencyBuckets.size(), std::size_t(3));
    qint64 total = 0;
    for (const auto &[upperMs, count] : snap.latencyBuckets) {
        total += count;
    }
    QCOMPARE(total, 3);
    QVERIFY(snap.latencyBuckets[0].first >= 50.0 && snap.latencyBuckets[0].first < 52.1);
    QVERIFY(snap.latencyBuckets[2].first >= 300.0 && snap.latencyBuckets[2].first < 312.1);
}

QTEST_GUILESS_MAIN(tst_Metrics)
#include "tst_metrics.moc"
