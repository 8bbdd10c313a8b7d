#include "manualclock.h"
#include "retry/retrypolicy.h"

#include <QTest>

using namespace Sluice;

class tst_RetryPolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void backoffSequence_data();
    void backoffSequence();
    void retryAfterIsHonoured_data();
    void retryAfterIsHonoured();
};

void tst_RetryPolicy::backoffSequence_data()
{
    QTest::addColumn<double>("random");
    QTest::addColumn<QList<double>>("expected"); // waits after attempts 1..6
    // base 500 ms, cap 4000 ms: ceilings 500, 1000, 2000, 4000, 4000, 4000
    QTest::newRow("top of the range") << 0.999999 << QList<double>{500, 1000, 2000, 4000, 4000, 4000};
    QTest::newRow("half") << 0.5 << QList<double>{250, 500, 1000, 2000, 2000, 2000};
    QTest::newRow("zero: full jitter can retry at once") << 0.0 << QList<double>{0, 0, 0, 0, 0, 0};
}

void tst_RetryPolicy::backoffSequence()
{
    QFETCH(double, random);
    QFETCH(QList<double>, expected);
    Test::ScriptedRandom rng({random});
    RetryPolicy policy(RetryConfig{10, 500, 4000, 600000}, &rng);
    for (int attempt = 1; attempt <= expected.size(); ++attempt) {
        QVERIFY2(std::abs(policy.backoffMs(attempt) - expected.at(attempt - 1)) < 0.01,
                 qPrintable(QStringLiteral("attempt %1").arg(attempt)));
    }
}

void tst_RetryPolicy::retryAfterIsHonoured_data()
{
    QTest::addColumn<double>("retryAfterMs");
    QTest::addColumn<double>("minMs");
    QTest::addColumn<double>("maxMs");
    QTest::newRow("longer than backoff: waits at least Retry-After, ≤ 10 % more")
        << 3000.0 << 3000.0 << 3300.0;
    QTest::newRow("shorter than backoff: backoff wins") << 10.0 << 50.0 << 50.0;
    QTest::newRow("absurd Retry-After is capped") << 1e9 << 600000.0 << 660000.0;
}

void tst_RetryPolicy::retryAfterIsHonoured()
{
    QFETCH(double, retryAfterMs);
    QFETCH(double, minMs);
    QFETCH(double, maxMs);
    Test::ScriptedRandom rng({0.5, 0.999});
    RetryPolicy policy(RetryConfig{5, 100, 1000, 600000}, &rng);
    const double delay = policy.delayMs(1, retryAfterMs);
    QVERIFY2(delay >= minMs && delay <= maxMs, qPrintable(QString::number(delay)));
}

QTEST_APPLESS_MAIN(tst_RetryPolicy)
#include "tst_retrypolicy.moc"
