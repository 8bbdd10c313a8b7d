#include "limit/ratelimiter.h"
#include "manualclock.h"

#include <QTest>

using namespace Sluice;

class tst_RateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void globalRpsBindsAllEndpoints();
    void globalTokensAreReservedAndSettled();
    void endpointBlocksOnlyItself();
    void readyTimesForTheScheduler();
};

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

void tst_RateLimiter::globalTokensAreReservedAndSettled()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(1);
    limiter.setGlobalTpm(6000); // 100 tokens/s
    QVERIFY(limiter.globalHasRoom(500));
    const auto ticket = limiter.acquire(0, 500); // a debt of ~499 tokens: ~5 s at 100/s
    QVERIFY(!limiter.globalHasRoom(10));
    QVERIFY(limiter.globalReadyAtMs(10) > clock.nowMs() + 4900);
    // The reply used only 100 tokens: 400 come back at once.
    EndpointLimiter::Feedback f;
    f.ticket = ticket;
    f.usedTokens = 100;
    limiter.onReply(0, f);
    QVERIFY(limiter.globalReadyAtMs(10) < clock.nowMs() + 1100);
    // A failure uses nothing: the whole reservation comes back.
    clock.advance(2000);
    const auto second = limiter.acquire(0, 300);
    EndpointLimiter::Feedback failed;
    failed.cls = ErrorClass::Server;
    failed.ticket = second;
    limiter.onReply(0, failed);
    QVERIFY(limiter.globalHasRoom(1));
}

void tst_RateLimiter::endpointBlocksOnlyItself()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(2);
    limiter.configureEndpoint(0, 60, 0); // 1/s (0.5/s while ramping)
    QCOMPARE(limiter.check(0), RateLimiter::Block::None);
    limiter.acquire(0);
    QCOMPARE(limiter.check(0), RateLimiter::Block::Endpoint);
    QCOMPARE(limiter.check(1), RateLimiter::Block::None);
}

void tst_RateLimiter::readyTimesForTheScheduler()
{
    Test::ManualClock clock;
    RateLimiter limiter(&clock);
    limiter.setEndpointCount(1);
    limiter.setGlobalRate(4); // one per 250 ms
    const double now = clock.nowMs();
    QCOMPARE(limiter.globalReadyAtMs(), now);
    limiter.acquire(0);
    QCOMPARE(limiter.globalReadyAtMs(), now + 250 - 10); // capacity is 1 + 10 ms worth
    QCOMPARE(limiter.endpointReadyAtMs(0), now);         // the endpoint itself is unlimited
}

QTEST_APPLESS_MAIN(tst_RateLimiter)
#include "tst_ratelimiter.moc"
