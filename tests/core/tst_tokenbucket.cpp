#include "limit/tokenbucket.h"
#include "manualclock.h"

#include <QTest>

using namespace Sluice;

class tst_TokenBucket : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void startsFullWithSmallCapacity();
    void refillsContinuously();
    void neverExceedsRateOverAnyWindow_data();
    void neverExceedsRateOverAnyWindow();
    void msUntilPredictsAvailability();
    void unlimitedAlwaysAllows();
    void reconfigureKeepsEarnedTokens();
    void oversizedTakeLeavesDebt();
    void refundIsCapped();
};

void tst_TokenBucket::startsFullWithSmallCapacity()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 10, 2);
    QVERIFY(bucket.tryTake());
    QVERIFY(bucket.tryTake());
    QVERIFY(!bucket.tryTake());
}

void tst_TokenBucket::refillsContinuously()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 10, 1); // one token per 100 ms
    QVERIFY(bucket.tryTake());
    clock.advance(99);
    QVERIFY(!bucket.tryTake());
    clock.advance(1);
    QVERIFY(bucket.tryTake());
    QVERIFY(!bucket.tryTake());
}

void tst_TokenBucket::neverExceedsRateOverAnyWindow_data()
{
    QTest::addColumn<double>("rate");
    QTest::addColumn<double>("capacity");
    QTest::addColumn<double>("stepMs");
    QTest::newRow("10/s, polled every ms") << 10.0 << 1.1 << 1.0;
    QTest::newRow("100/s, polled every 7 ms") << 100.0 << 2.0 << 7.0;
    QTest::newRow("5000/s, 10 ms burst, polled every 3 ms") << 5000.0 << 51.0 << 3.0;
}

void tst_TokenBucket::neverExceedsRateOverAnyWindow()
{
    QFETCH(double, rate);
    QFETCH(double, capacity);
    QFETCH(double, stepMs);
    Test::ManualClock clock;
    TokenBucket bucket(&clock, rate, capacity);
    QList<double> sent;
    const double start = clock.nowMs();
    while (clock.nowMs() - start < 5000) {
        while (bucket.tryTake()) {
            sent.append(clock.nowMs());
        }
        clock.advance(stepMs);
    }
    // Sliding 1 s windows: never more than rate + capacity; the whole run reaches the rate.
    qsizetype left = 0;
    for (qsizetype right = 0; right < sent.size(); ++right) {
        while (sent.at(right) - sent.at(left) >= 1000) {
            ++left;
        }
        QVERIFY2(double(right - left + 1) <= rate + capacity,
                 qPrintable(QStringLiteral("%1 in a 1 s window").arg(right - left + 1)));
    }
    QVERIFY(double(sent.size()) >= rate * 5 * 0.98);
    QVERIFY(double(sent.size()) <= rate * 5 + capacity);
}

void tst_TokenBucket::msUntilPredictsAvailability()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 4, 1); // 250 ms per token
    QCOMPARE(bucket.msUntil(), 0.0);
    QVERIFY(bucket.tryTake());
    QCOMPARE(bucket.msUntil(), 250.0);
    clock.advance(100);
    QCOMPARE(bucket.msUntil(), 150.0);
    clock.advance(150);
    QCOMPARE(bucket.msUntil(), 0.0);
}

void tst_TokenBucket::unlimitedAlwaysAllows()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 0, 1);
    QVERIFY(bucket.isUnlimited());
    for (int i = 0; i < 10000; ++i) {
        QVERIFY(bucket.tryTake());
    }
    QCOMPARE(bucket.msUntil(), 0.0);
}

void tst_TokenBucket::reconfigureKeepsEarnedTokens()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 10, 5);
    for (int i = 0; i < 5; ++i) {
        QVERIFY(bucket.tryTake());
    }
    clock.advance(200); // 2 tokens earned at 10/s
    bucket.reconfigure(1, 5);
    QVERIFY(bucket.tryTake());
    QVERIFY(bucket.tryTake());
    QVERIFY(!bucket.tryTake());
    QCOMPARE(bucket.msUntil(), 1000.0); // now at the new, slower rate
    bucket.reconfigure(1, 1);
    clock.advance(10000);
    QCOMPARE(bucket.available(), 1.0); // clamped to the new capacity
}

void tst_TokenBucket::oversizedTakeLeavesDebt()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 10, 2);
    QVERIFY(bucket.tryTake(5)); // larger than the bucket: allowed when full, leaves a debt of 3
    QCOMPARE(bucket.available(), -3.0);
    QVERIFY(!bucket.tryTake());
    QCOMPARE(bucket.msUntil(), 400.0);
}

void tst_TokenBucket::refundIsCapped()
{
    Test::ManualClock clock;
    TokenBucket bucket(&clock, 10, 3);
    QVERIFY(bucket.tryTake(2));
    bucket.refund(5);
    QCOMPARE(bucket.available(), 3.0);
}

QTEST_APPLESS_MAIN(tst_TokenBucket)
#include "tst_tokenbucket.moc"
