#include "metrics/latencyhistogram.h"

#include <QTest>

using namespace Sluice;

class tst_LatencyHistogram : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void emptyIsZero();
    void quantilesWithinBucketWidth_data();
    void quantilesWithinBucketWidth();
    void mergeAddsCounts();
    void extremesAreClamped();
};

void tst_LatencyHistogram::emptyIsZero()
{
    LatencyHistogram h;
    QCOMPARE(h.count(), 0);
    QCOMPARE(h.quantile(0.5), 0.0);
}

void tst_LatencyHistogram::quantilesWithinBucketWidth_data()
{
    QTest::addColumn<double>("q");
    QTest::addColumn<double>("expected");
    // Values 1..1000 ms, one each: the q-quantile is q * 1000.
    QTest::newRow("p50") << 0.50 << 500.0;
    QTest::newRow("p90") << 0.90 << 900.0;
    QTest::newRow("p99") << 0.99 << 990.0;
    QTest::newRow("max") << 1.0 << 1000.0;
}

void tst_LatencyHistogram::quantilesWithinBucketWidth()
{
    QFETCH(double, q);
    QFETCH(double, expected);
    LatencyHistogram h;
    for (int ms = 1; ms <= 1000; ++ms) {
        h.add(ms);
    }
    QCOMPARE(h.count(), 1000);
    const double got = h.quantile(q);
    QVERIFY2(got >= expected && got <= expected * 1.041, qPrintable(QString::number(got)));
}

void tst_LatencyHistogram::mergeAddsCounts()
{
    LatencyHistogram fast;
    LatencyHistogram slow;
    for (int i = 0; i < 90; ++i) {
        fast.add(10);
    }
    for (int i = 0; i < 10; ++i) {
        slow.add(2000);
    }
    fast.merge(slow);
    QCOMPARE(fast.count(), 100);
    QVERIFY(fast.quantile(0.5) < 11);
    QVERIFY(fast.quantile(0.95) > 1900);
}

void tst_LatencyHistogram::extremesAreClamped()
{
    LatencyHistogram h;
    h.add(-5);
    h.add(0);
    h.add(1e12);
    QCOMPARE(h.count(), 3);
    QVERIFY(h.quantile(0.1) <= 0.1);
    QVERIFY(h.quantile(1.0) > 1e6);
}

QTEST_APPLESS_MAIN(tst_LatencyHistogram)
#include "tst_latencyhistogram.moc"
