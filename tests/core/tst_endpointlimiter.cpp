#include "limit/endpointlimiter.h"
#include "limit/tokenbucket.h"
#include "manualclock.h"
#include "testprinters.h"

#include <QTest>

#include <deque>

using namespace Sluice;
using Block = EndpointLimiter::Block;
using State = EndpointLimiter::State;

namespace {

/// Sends whatever the limiter allows, 1 ms at a time, for `ms`; returns how many went.
int drive(EndpointLimiter &limiter, Test::ManualClock &clock, int ms, double tokens = 0)
{
    int sent = 0;
    for (int t = 0; t < ms; ++t) {
        while (limiter.check(tokens) == Block::None) {
            limiter.onSend(tokens);
            ++sent;
        }
        clock.advance(1);
    }
    return sent;
}

EndpointLimiter::Feedback reply(const EndpointLimiter::SendTicket &ticket, ErrorClass cls = ErrorClass::None)
{
    EndpointLimiter::Feedback f;
    f.ticket = ticket;
    f.cls = cls;
    return f;
}

} // namespace

class tst_EndpointLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void unlimitedByDefault();
    void rampsUpFromHalf();
    void idleRestartsTheRamp();
    void smoothedAfterRamp();
    void headerLimitCapsTheRate();
    void headerRemainingIsNeverExceeded();
    void rateLimitCutsPausesAndProbes();
    void rateLimitWithoutDiscoveryPausesOnly();
    void staleRateLimitsDoNotCutAgain();
    void failedProbeDoublesThePause();
    void failuresInARowEjectTheEndpoint();
    void onePoisonRequestNeverEjects();
    void answeredFailuresOfDifferentRequestsMeanFailing();
    void hungProbeDoesNotKeepTheEndpointShut();
    void cancelledProbeIsReplaced();
    void quotaIsProbedWhenAsked();
    void retryAfterSetsThePause();
    void overloadPausesWithoutCut();
    void quotaIsFinal();
    void tokensAreReservedAndSettled();
    void reconfigureTakesEffectAtOnce();
    void discoversAWrongLimit_data();
    void discoversAWrongLimit();
};

void tst_EndpointLimiter::unlimitedByDefault()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    for (int i = 0; i < 1000; ++i) {
        QCOMPARE(limiter.check(1000), Block::None);
        limiter.onSend(1000);
    }
    QCOMPARE(limiter.limitReason(), LimitReason::Unlimited);
    QCOMPARE(limiter.effectiveRps(), 0.0);
}

void tst_EndpointLimiter::rampsUpFromHalf()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0); // 100/s
    QCOMPARE(limiter.effectiveRps(), 50.0);
    QCOMPARE(limiter.limitReason(), LimitReason::RampUp);
    const int first = drive(limiter, clock, 1000);  // 50 → 75 /s: ~62
    const int second = drive(limiter, clock, 1000); // 75 → 100 /s: ~87
    const int third = drive(limiter, clock, 1000);  // full
    QVERIFY2(first >= 58 && first <= 67, qPrintable(QString::number(first)));
    QVERIFY2(second >= 83 && second <= 92, qPrintable(QString::number(second)));
    QVERIFY2(third >= 98 && third <= 102, qPrintable(QString::number(third)));
    QCOMPARE(limiter.limitReason(), LimitReason::ConfiguredRpm);
}

void tst_EndpointLimiter::idleRestartsTheRamp()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000);
    QCOMPARE(limiter.effectiveRps(), 100.0);
    clock.advance(EndpointLimiter::IdleResetMs + 1);
    QCOMPARE(limiter.effectiveRps(), 50.0);
    QCOMPARE(limiter.limitReason(), LimitReason::RampUp);
}

void tst_EndpointLimiter::smoothedAfterRamp()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(600, 0); // 10/s: one every 100 ms, never 600 at once
    drive(limiter, clock, 3000);
    QList<double> times;
    for (int t = 0; t < 3000; ++t) {
        while (limiter.check(0) == Block::None) {
            limiter.onSend(0);
            times.append(clock.nowMs());
        }
        clock.advance(1);
    }
    QVERIFY2(times.size() >= 29 && times.size() <= 31, qPrintable(QString::number(times.size())));
    for (qsizetype i = 1; i < times.size(); ++i) {
        QVERIFY2(times.at(i) - times.at(i - 1) >= 89, "no two requests closer than the smoothing allows");
    }
}

void tst_EndpointLimiter::headerLimitCapsTheRate()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000);
    auto f = reply(limiter.onSend(0));
    f.info.requestLimit = 1200; // the server says 20/s
    limiter.onReply(f);
    QCOMPARE(limiter.effectiveRps(), 20.0);
    QCOMPARE(limiter.limitReason(), LimitReason::HeaderLimit);
    const int sent = drive(limiter, clock, 2000);
    QVERIFY2(sent >= 39 && sent <= 42, qPrintable(QString::number(sent)));
}

void tst_EndpointLimiter::headerRemainingIsNeverExceeded()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    const auto first = limiter.onSend(0);
    limiter.onSend(0); // sent after `first`: the server had not counted it when it answered
    auto f = reply(first);
    f.info.requestLimit = 60000; // 1000/s: the rate itself does not bind here
    f.info.requestRemaining = 2;
    limiter.onReply(f);
    QCOMPARE(limiter.check(0), Block::None); // 2 - 1 sent since = 1 left
    limiter.onSend(0);
    QCOMPARE(limiter.check(0), Block::ServerRequests);
    QCOMPARE(limiter.limitReason(), LimitReason::HeaderRemaining);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 1); // refilled at the announced 1000/s
    clock.advance(1);
    QCOMPARE(limiter.check(0), Block::None);
}

void tst_EndpointLimiter::rateLimitCutsPausesAndProbes()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000); // at 100/s
    const auto ticket = limiter.onSend(0);
    clock.advance(50);
    limiter.onReply(reply(ticket, ErrorClass::RateLimited));
    QCOMPARE(limiter.state(), State::CoolingDown);
    QCOMPARE(limiter.check(0), Block::CoolingDown);
    QCOMPARE(limiter.limitReason(), LimitReason::Backoff429);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::FirstPauseMs);
    clock.advance(EndpointLimiter::FirstPauseMs);
    // One probe, and nothing else until it answers.
    QCOMPARE(limiter.check(0), Block::None);
    QCOMPARE(limiter.state(), State::Probing);
    const auto probe = limiter.onSend(0);
    QCOMPARE(limiter.check(0), Block::Probing);
    clock.advance(3000);
    QCOMPARE(limiter.check(0), Block::Probing);
    limiter.onReply(reply(probe));
    QCOMPARE(limiter.state(), State::Open);
    // Re-opened below the cut: 85 % of the measured ~100/s (no ramp after a short pause)...
    const double reopened = limiter.effectiveRps();
    QVERIFY2(reopened >= 80 && reopened <= 85.1, qPrintable(QString::number(reopened)));
    const double cutRate = reopened / EndpointLimiter::CutFactor;
    clock.advance(1000); // 1 s of fast growth (5 % of the cut rate a second)
    const double afterRamp = limiter.effectiveRps();
    QVERIFY2(std::abs(afterRamp - (EndpointLimiter::CutFactor + 0.05) * cutRate) < 0.5,
             qPrintable(QString::number(afterRamp)));
    QCOMPARE(limiter.limitReason(), LimitReason::Discovered);
    clock.advance(2000); // past 95 % of the cut rate: slow growth, 1 % a second
    const double slow = limiter.effectiveRps();
    clock.advance(1000);
    QVERIFY2(std::abs(limiter.effectiveRps() - slow - 0.01 * cutRate) < 0.05,
             qPrintable(QString::number(slow)));
    drive(limiter, clock, 15000); // (sending: an idle endpoint would ramp again)
    QVERIFY(limiter.effectiveRps() >= 99.9);
    QCOMPARE(limiter.limitReason(), LimitReason::ConfiguredRpm); // back to the configured limit
}

void tst_EndpointLimiter::rateLimitWithoutDiscoveryPausesOnly()
{
    // Shared limits turn discovery off: a 429 pauses and probes, the rate is not cut.
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    limiter.setDiscovery(false);
    drive(limiter, clock, 3000);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    QCOMPARE(limiter.state(), State::CoolingDown);
    clock.advance(EndpointLimiter::FirstPauseMs);
    QCOMPARE(limiter.check(0), Block::None);
    limiter.onReply(reply(limiter.onSend(0)));
    QCOMPARE(limiter.state(), State::Open);
    QCOMPARE(limiter.effectiveRps(), 100.0);
    QCOMPARE(limiter.limitReason(), LimitReason::ConfiguredRpm);
}

void tst_EndpointLimiter::staleRateLimitsDoNotCutAgain()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000);
    QList<EndpointLimiter::SendTicket> inFlight;
    for (int i = 0; i < 5; ++i) {
        inFlight.append(limiter.onSend(0));
    }
    clock.advance(10);
    for (const auto &t : inFlight) { // a burst of 429s from one congestion event
        limiter.onReply(reply(t, ErrorClass::RateLimited));
    }
    clock.advance(EndpointLimiter::FirstPauseMs); // one pause, not five doubled
    QCOMPARE(limiter.check(0), Block::None);
    limiter.onReply(reply(limiter.onSend(0)));
    QVERIFY2(limiter.effectiveRps() >= 80 && limiter.effectiveRps() <= 85.1, "cut once: 0.85 × ~100");
}

void tst_EndpointLimiter::failedProbeDoublesThePause()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    clock.advance(EndpointLimiter::FirstPauseMs);
    QCOMPARE(limiter.check(0), Block::None);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 2 * EndpointLimiter::FirstPauseMs);
    clock.advance(2 * EndpointLimiter::FirstPauseMs);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 4 * EndpointLimiter::FirstPauseMs);
    // An error that says nothing about limits only asks for another probe.
    clock.advance(4 * EndpointLimiter::FirstPauseMs);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Server));
    QCOMPARE(limiter.state(), State::Probing);
    QCOMPARE(limiter.check(0), Block::None);
}

void tst_EndpointLimiter::failuresInARowEjectTheEndpoint()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    // Four failures and a success: still open.
    for (int i = 0; i < EndpointLimiter::FailuresToEject - 1; ++i) {
        limiter.onReply(reply(limiter.onSend(0), ErrorClass::Transport));
    }
    limiter.onReply(reply(limiter.onSend(0)));
    QCOMPARE(limiter.state(), State::Open);

    QList<EndpointLimiter::SendTicket> inFlight;
    for (int i = 0; i < EndpointLimiter::FailuresToEject + 3; ++i) {
        inFlight.append(limiter.onSend(0));
    }
    clock.advance(5);
    for (int i = 0; i < EndpointLimiter::FailuresToEject; ++i) {
        limiter.onReply(reply(inFlight.takeFirst(), i % 2 ? ErrorClass::Timeout : ErrorClass::Server));
    }
    QCOMPARE(limiter.state(), State::CoolingDown);
    QVERIFY(limiter.isEjected());
    QCOMPARE(limiter.publicState(), EndpointState::Unreachable);
    QCOMPARE(limiter.check(0), Block::CoolingDown);
    const double readyAt = clock.nowMs() + EndpointLimiter::FirstDownMs;
    QCOMPARE(limiter.readyAtMs(0), readyAt);
    // Attempts already on the wire fail too: they do not extend the pause.
    for (const auto &t : std::as_const(inFlight)) {
        limiter.onReply(reply(t, ErrorClass::Transport));
    }
    QCOMPARE(limiter.readyAtMs(0), readyAt);

    // One probe; when it fails, the pause doubles.
    clock.advance(EndpointLimiter::FirstDownMs);
    QCOMPARE(limiter.check(0), Block::None);
    const auto probe = limiter.onSend(0);
    QCOMPARE(limiter.check(0), Block::Probing);
    limiter.onReply(reply(probe, ErrorClass::Transport));
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 2 * EndpointLimiter::FirstDownMs);
    clock.advance(2 * EndpointLimiter::FirstDownMs);
    limiter.onReply(reply(limiter.onSend(0)));
    QCOMPARE(limiter.state(), State::Open);
    QVERIFY(!limiter.isEjected());

    // A 4xx is an answer from a server that is up: it breaks the run of failures.
    for (int i = 0; i < 3 * EndpointLimiter::FailuresToEject; ++i) {
        limiter.onReply(reply(limiter.onSend(0), i % 4 == 3 ? ErrorClass::Client : ErrorClass::Transport));
    }
    QCOMPARE(limiter.state(), State::Open);
    // Back to the first pause after a recovery.
    for (int i = 0; i < EndpointLimiter::FailuresToEject; ++i) {
        limiter.onReply(reply(limiter.onSend(0), ErrorClass::Transport));
    }
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::FirstDownMs);
}

void tst_EndpointLimiter::onePoisonRequestNeverEjects()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    // One request body that always gets a 500, retried many times against a server that answers.
    for (int i = 0; i < 4 * EndpointLimiter::FailuresToEject; ++i) {
        auto f = reply(limiter.onSend(0), ErrorClass::Server);
        f.answered = true;
        f.requestKey = 42;
        limiter.onReply(f);
    }
    QCOMPARE(limiter.state(), State::Open);
    QCOMPARE(limiter.publicState(), EndpointState::Active);
    QCOMPARE(limiter.check(0), Block::None);
}

void tst_EndpointLimiter::answeredFailuresOfDifferentRequestsMeanFailing()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    for (int i = 0; i < EndpointLimiter::FailuresToEject; ++i) {
        // Each different request failing twice: counted once each.
        for (int k = 0; k < 2; ++k) {
            auto f = reply(limiter.onSend(0), ErrorClass::Server);
            f.answered = true;
            f.requestKey = quint64(100 + i);
            limiter.onReply(f);
        }
        QCOMPARE(limiter.state(),
                 i + 1 < EndpointLimiter::FailuresToEject ? State::Open : State::CoolingDown);
    }
    QCOMPARE(limiter.publicState(), EndpointState::Failing); // it answered: not "unreachable"
    QCOMPARE(limiter.ejectedAfter(), EndpointLimiter::FailuresToEject);
    QCOMPARE(limiter.limitReason(), LimitReason::Ejected);
    // A failed probe doubles the pause but the cause stays what ejected it.
    clock.advance(EndpointLimiter::FirstDownMs);
    auto probe = reply(limiter.onSend(0), ErrorClass::Server);
    probe.answered = true;
    probe.requestKey = 999;
    limiter.onReply(probe);
    QCOMPARE(limiter.publicState(), EndpointState::Failing);
    QCOMPARE(limiter.ejectedAfter(), EndpointLimiter::FailuresToEject);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 2 * EndpointLimiter::FirstDownMs);
}

void tst_EndpointLimiter::hungProbeDoesNotKeepTheEndpointShut()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    clock.advance(EndpointLimiter::FirstPauseMs);
    QCOMPARE(limiter.check(0), Block::None);
    const auto hung = limiter.onSend(0); // never answers
    QCOMPARE(limiter.check(0), Block::Probing);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::ProbeTimeoutMs);
    clock.advance(EndpointLimiter::ProbeTimeoutMs - 1);
    QCOMPARE(limiter.check(0), Block::Probing);
    clock.advance(1);
    QCOMPARE(limiter.check(0), Block::None); // a second probe may go
    limiter.onReply(reply(limiter.onSend(0)));
    QCOMPARE(limiter.state(), State::Open);
    limiter.onReply(reply(hung, ErrorClass::Timeout)); // the hung one ends much later: no harm
    QCOMPARE(limiter.state(), State::Open);
}

void tst_EndpointLimiter::cancelledProbeIsReplaced()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::RateLimited));
    clock.advance(EndpointLimiter::FirstPauseMs);
    const auto probe = limiter.onSend(0);
    QCOMPARE(limiter.check(0), Block::Probing);
    limiter.onReply(reply(probe, ErrorClass::Cancelled)); // its caller left
    QCOMPARE(limiter.check(0), Block::None);
}

void tst_EndpointLimiter::quotaIsProbedWhenAsked()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.setQuotaProbe(true);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Quota));
    QVERIFY(limiter.isOutOfQuota());
    QCOMPARE(limiter.publicState(), EndpointState::Quota);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::QuotaFirstProbeMs);
    clock.advance(EndpointLimiter::QuotaFirstProbeMs);
    QCOMPARE(limiter.check(0), Block::None);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Quota)); // still out: the wait doubles
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 2 * EndpointLimiter::QuotaFirstProbeMs);
    clock.advance(2 * EndpointLimiter::QuotaFirstProbeMs);
    limiter.onReply(reply(limiter.onSend(0))); // billing fixed: back
    QCOMPARE(limiter.state(), State::Open);
    QVERIFY(!limiter.isOutOfQuota());
    QCOMPARE(limiter.publicState(), EndpointState::Active);
    // The doubling is capped.
    for (int i = 0; i < 20; ++i) {
        limiter.onReply(reply(limiter.onSend(0), ErrorClass::Quota));
        clock.advance(EndpointLimiter::QuotaMaxProbeMs);
    }
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Quota));
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::QuotaMaxProbeMs);
}

void tst_EndpointLimiter::retryAfterSetsThePause()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    auto f = reply(limiter.onSend(0), ErrorClass::RateLimited);
    f.info.retryAfterMs = 3000;
    limiter.onReply(f);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + 3000);
    clock.advance(2999);
    QCOMPARE(limiter.check(0), Block::CoolingDown);
    clock.advance(1);
    QCOMPARE(limiter.check(0), Block::None);
}

void tst_EndpointLimiter::overloadPausesWithoutCut()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Overloaded));
    QCOMPARE(limiter.publicState(), EndpointState::Overloaded);
    QCOMPARE(limiter.readyAtMs(0), clock.nowMs() + EndpointLimiter::OverloadPauseMs);
    clock.advance(EndpointLimiter::OverloadPauseMs);
    QCOMPARE(limiter.check(0), Block::None);
    QCOMPARE(limiter.state(), State::Open);  // no probe
    QCOMPARE(limiter.effectiveRps(), 100.0); // no cut, no ramp
}

void tst_EndpointLimiter::quotaIsFinal()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.onReply(reply(limiter.onSend(0), ErrorClass::Quota));
    clock.advance(3600 * 1000);
    QCOMPARE(limiter.check(0), Block::Quota);
    QVERIFY(!std::isfinite(limiter.readyAtMs(0)));
    QCOMPARE(limiter.limitReason(), LimitReason::Quota);
    QCOMPARE(limiter.effectiveRps(), 0.0);
}

void tst_EndpointLimiter::tokensAreReservedAndSettled()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(0, 6000); // 100 tokens/s, 50/s while ramping
    drive(limiter, clock, 3000, 10);
    clock.advance(1000);
    QCOMPARE(limiter.check(300), Block::None);
    const auto ticket = limiter.onSend(300); // ~3 s of budget
    QCOMPARE(limiter.check(10), Block::Tokens);
    QVERIFY(limiter.readyAtMs(10) > clock.nowMs() + 2900);
    auto f = reply(ticket);
    f.usedTokens = 60; // settled: 240 tokens come back
    limiter.onReply(f);
    QVERIFY(limiter.readyAtMs(10) < clock.nowMs() + 700);
    QCOMPARE(limiter.limitReason(), LimitReason::ConfiguredTpm);
    QCOMPARE(limiter.effectiveTps(), 100.0);
}

void tst_EndpointLimiter::reconfigureTakesEffectAtOnce()
{
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(6000, 0);
    drive(limiter, clock, 3000);
    limiter.configure(600, 0);
    QCOMPARE(limiter.effectiveRps(), 10.0);
    const int sent = drive(limiter, clock, 1000);
    QVERIFY2(sent <= 12, qPrintable(QString::number(sent)));
}

void tst_EndpointLimiter::discoversAWrongLimit_data()
{
    QTest::addColumn<double>("configuredRps");
    QTest::addColumn<bool>("headers");
    QTest::newRow("limit right, headers") << 100.0 << true;
    QTest::newRow("limit 2x too high, headers") << 200.0 << true;
    QTest::newRow("limit 2x too high, 429s only") << 200.0 << false;
    QTest::newRow("limit 2x too high, 429s with retry-after-ms") << -200.0 << false;
    QTest::newRow("no limit configured, 429s only") << 0.0 << false;
}

void tst_EndpointLimiter::discoversAWrongLimit()
{
    // A model server: a token bucket of 100/s with a burst of 5, answering after 50 ms, 429 beyond it.
    QFETCH(double, configuredRps);
    QFETCH(bool, headers);
    const bool retryAfter = headers || configuredRps < 0; // a 429 that says when to come back
    configuredRps = std::abs(configuredRps);
    Test::ManualClock clock;
    EndpointLimiter limiter(&clock);
    limiter.configure(configuredRps * 60, 0);
    TokenBucket server(&clock, 100, 5);
    struct Answer
    {
        double at;
        EndpointLimiter::Feedback feedback;
    };
    std::deque<Answer> answers;
    qint64 ok = 0;
    qint64 limited = 0;
    qint64 okLate = 0;
    const double start = clock.nowMs();
    const int maxInFlight = 64;
    for (int t = 0; t < 60000; ++t) {
        const double now = clock.nowMs();
        while (!answers.empty() && answers.front().at <= now) {
            limiter.onReply(answers.front().feedback);
            answers.pop_front();
        }
        while (int(answers.size()) < maxInFlight && limiter.check(0) == Block::None) {
            EndpointLimiter::Feedback f;
            f.ticket = limiter.onSend(0);
            if (server.tryTake()) {
                f.cls = ErrorClass::None;
                ++ok;
                okLate += now - start >= 30000 ? 1 : 0;
            } else {
                f.cls = ErrorClass::RateLimited;
                f.info.retryAfterMs = retryAfter ? server.msUntil() : -1;
                ++limited;
            }
            if (headers) {
                f.info.requestLimit = 6000;
                f.info.requestRemaining = std::floor(std::max(0.0, server.available()));
            }
            answers.push_back({now + 50, f});
        }
        clock.advance(1);
    }
    const double goodputLate = okLate / 30.0;
    const double share429 = double(limited) / double(ok + limited);
    qInfo("configured %.0f/s, headers %d: goodput %.1f/s over the last 30 s, 429s %.2f %% of %lld",
          configuredRps, int(headers), goodputLate, share429 * 100, ok + limited);
    QVERIFY2(goodputLate >= 90, qPrintable(QString::number(goodputLate)));
    QVERIFY2(share429 <= (configuredRps == 100.0 && headers ? 0.005 : 0.03),
             qPrintable(QString::number(share429)));
}

QTEST_APPLESS_MAIN(tst_EndpointLimiter)
#include "tst_endpointlimiter.moc"
