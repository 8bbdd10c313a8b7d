#include "limit/ratelimiter.h"
#include "manualclock.h"

#include <QTest>

using namespace Sluice;

class tst_RateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void endpointRpmIsSmoothed();
    void globalRpsBindsAllEndpoints();
    void cooldownBlocksOnlyThatEndpoint();
    void laterCooldownWins();
    void readyTimesForTheScheduler();
    void liveRetuneTakesEffect();
    void reasonsAreReported();
};

void tst_RateLimiter::endpointRpmIsSmoothed()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(1);
    limiter.setEndpointRate(0, 600); // 10/s: one every 100 ms, never 600 at once
    int sent = 0;
    for (int ms = 0; ms < 1000; ++ms) {
        while (limiter.check(0) == RateLimiter::Block::None) {
            limiter.acquire(0);
            ++sent;
        }
        clock.advance(1);
    }
    QVERIFY2(sent >= 10 && sent <= 11, qPrintable(QString::number(sent)));
    while (limiter.check(0) == RateLimiter::Block::None) {
        limiter.acquire(0);
    }
    QCOMPARE(limiter.check(0), RateLimiter::Block::Endpoint);
}

void tst_RateLimiter::globalRpsBindsAllEndpoints()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(2);
    limiter.setGlobalRate(20);
    int sent = 0;
    for (int ms = 0; ms < 2000; ++ms) {
        for (int e = 0; e < 2; ++e) {
            if (limiter.check(e) == RateLimiter::Block::None) {
                limiter.acquire(e);
                ++sent;
            }
        }
        clock.advance(1);
    }
    QVERIFY2(sent >= 40 && sent <= 42, qPrintable(QString::number(sent)));
    while (limiter.check(0) == RateLimiter::Block::None) {
        limiter.acquire(0);
    }
    QVERIFY(!limiter.globalHasRoom());
    QCOMPARE(limiter.check(1), RateLimiter::Block::Global);
}

void tst_RateLimiter::cooldownBlocksOnlyThatEndpoint()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(2);
    limiter.coolDown(0, clock.nowMs() + 1500);
    QCOMPARE(limiter.check(0), RateLimiter::Block::CoolingDown);
    QCOMPARE(limiter.check(1), RateLimiter::Block::None);
    QVERIFY(limiter.isCoolingDown(0));
    QCOMPARE(limiter.effectiveRate(0), 0.0);
    clock.advance(1499);
    QCOMPARE(limiter.check(0), RateLimiter::Block::CoolingDown);
    clock.advance(1);
    QCOMPARE(limiter.check(0), RateLimiter::Block::None);
}

void tst_RateLimiter::laterCooldownWins()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(1);
    const double now = clock.nowMs();
    limiter.coolDown(0, now + 3000);
    limiter.coolDown(0, now + 1000); // an earlier end never shortens a cooldown
    QCOMPARE(limiter.cooldownUntilMs(0), now + 3000);
}

void tst_RateLimiter::readyTimesForTheScheduler()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(2);
    limiter.setEndpointRate(0, 60); // 1/s
    limiter.setGlobalRate(4);       // one per 250 ms
    const double now = clock.nowMs();
    QCOMPARE(limiter.endpointReadyAtMs(0), now);
    limiter.acquire(0);
    QCOMPARE(limiter.endpointReadyAtMs(0), now + 1000);
    QCOMPARE(limiter.globalReadyAtMs(), now + 250);
    limiter.coolDown(1, now + 5000);
    QCOMPARE(limiter.endpointReadyAtMs(1), now + 5000);
}

void tst_RateLimiter::liveRetuneTakesEffect()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(1);
    limiter.setEndpointRate(0, 60);
    limiter.acquire(0);
    QCOMPARE(limiter.check(0), RateLimiter::Block::Endpoint);
    limiter.setEndpointRate(0, 0); // back to unlimited
    QCOMPARE(limiter.check(0), RateLimiter::Block::None);
    limiter.setEndpointRate(0, 6000); // 100/s
    clock.advance(10);
    QCOMPARE(limiter.check(0), RateLimiter::Block::None);
    QCOMPARE(limiter.effectiveRate(0), 100.0);
}

void tst_RateLimiter::reasonsAreReported()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(2);
    QCOMPARE(limiter.limitReason(0), QStringLiteral("unlimited"));
    limiter.setEndpointRate(0, 120);
    QCOMPARE(limiter.limitReason(0), QStringLiteral("configured rpm"));
    limiter.setGlobalRate(1);
    QCOMPARE(limiter.limitReason(0), QStringLiteral("global rps"));
    QCOMPARE(limiter.effectiveRate(0), 1.0);
    limiter.coolDown(1, clock.nowMs() + 10);
    QCOMPARE(limiter.limitReason(1), QStringLiteral("429 cooldown"));
}

QTEST_APPLESS_MAIN(tst_RateLimiter)
#include "tst_ratelimiter.moc"
